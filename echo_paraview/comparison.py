"""The solver's own data at the predicted times, for `<field>_truth`, `<field>_error`, rel-MSE.

The input (the solver's series) is sampled at its time steps; a predicted frame at time t is
compared with the input at t when the input has a step there, else with the linear
interpolation in time between the two input steps around t (stated in the output's field data
as `truth_interpolated` = 1). Outside the input's time range there is no truth.

rel-MSE of a frame = sum over points and channels of (pred - truth)^2 / sum of truth^2, the
per-frame curve of `echo_model.metrics.rel_mse_per_step`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .timesteps import time_tolerance

_EPS = 1e-30


@dataclass
class Truth:
    values: np.ndarray  # (N, C) float32 in model channels
    interpolated: bool
    between: tuple[float, float]  # the input times used (equal when not interpolated)


def truth_times_needed(in_times: Sequence[float], t_start: float, t_end: float) -> list[float]:
    """Input times after the start needed to cover (t_start, t_end]: every step up to the first
    one at or beyond t_end (so the last predicted frame can be interpolated)."""
    tol = time_tolerance(list(in_times) + [t_end])
    out = []
    for t in in_times:
        if t <= t_start + tol:
            continue
        out.append(float(t))
        if t >= t_end - tol:
            break
    return out


def truth_at(times: Sequence[float], frames: Sequence[np.ndarray], t: float) -> Truth | None:
    """The input at time t: an exact step, a linear interpolation, or None outside the range."""
    if not len(times):
        return None
    arr = np.asarray(times, dtype=np.float64)
    tol = time_tolerance(list(arr) + [t])
    if t < arr[0] - tol or t > arr[-1] + tol:
        return None
    j = int(np.argmin(np.abs(arr - t)))
    if abs(arr[j] - t) <= tol:
        return Truth(np.asarray(frames[j], dtype=np.float32), False, (float(arr[j]), float(arr[j])))
    j = int(np.searchsorted(arr, t, side="right")) - 1
    t0, t1 = float(arr[j]), float(arr[j + 1])
    w = (t - t0) / (t1 - t0)
    values = (1.0 - w) * np.asarray(frames[j], np.float64) + w * np.asarray(frames[j + 1], np.float64)
    return Truth(values.astype(np.float32), True, (t0, t1))


def rel_mse(pred: np.ndarray, truth: np.ndarray) -> float:
    """sum (pred - truth)^2 / sum truth^2 over points and channels (float64 sums)."""
    p = np.asarray(pred, dtype=np.float64)
    u = np.asarray(truth, dtype=np.float64)
    return float(((p - u) ** 2).sum() / ((u**2).sum() + _EPS))

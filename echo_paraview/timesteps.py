"""Pipeline time helpers for VTK/ParaView algorithms (no `paraview` import).

The three things a temporal Python algorithm does (as in ParaView's own temporal filters):
announce TIME_STEPS/TIME_RANGE in RequestInformation, read UPDATE_TIME_STEP in RequestData
and snap it to one of its steps, and stamp DATA_TIME_STEP on the output.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline as _sddp


def announce_time_steps(out_info, times: Sequence[float]) -> None:
    """Set TIME_STEPS and TIME_RANGE on an output information (replacing any upstream ones)."""
    out_info.Remove(_sddp.TIME_STEPS())
    out_info.Remove(_sddp.TIME_RANGE())
    times = [float(t) for t in times]
    if not times:
        return
    for t in times:
        out_info.Append(_sddp.TIME_STEPS(), t)
    out_info.Append(_sddp.TIME_RANGE(), times[0])
    out_info.Append(_sddp.TIME_RANGE(), times[-1])


def clear_time_steps(out_info) -> None:
    out_info.Remove(_sddp.TIME_STEPS())
    out_info.Remove(_sddp.TIME_RANGE())


def time_steps(info) -> list[float]:
    """TIME_STEPS of an information object ([] for a static source)."""
    if info is None or not info.Has(_sddp.TIME_STEPS()):
        return []
    n = info.Length(_sddp.TIME_STEPS())
    return [float(info.Get(_sddp.TIME_STEPS(), i)) for i in range(n)]


def requested_time(out_info) -> float | None:
    """UPDATE_TIME_STEP asked downstream, or None when no time was requested."""
    if out_info is None or not out_info.Has(_sddp.UPDATE_TIME_STEP()):
        return None
    return float(out_info.Get(_sddp.UPDATE_TIME_STEP()))


def set_requested_time(in_info, t: float) -> None:
    """Pin the time an input is asked for (used to hold the initial condition)."""
    in_info.Set(_sddp.UPDATE_TIME_STEP(), float(t))


def snap_index(times: Sequence[float], t: float | None) -> int:
    """Index of the last step <= t (ParaView's lower-bound convention), clamped to the range.

    A tiny tolerance absorbs float round trips through the GUI's time widgets.
    """
    arr = np.asarray(times, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no time steps to snap to")
    if t is None:
        return 0
    tol = time_tolerance(arr)
    i = int(np.searchsorted(arr, float(t) + tol, side="right")) - 1
    return min(max(i, 0), arr.size - 1)


def stamp_data_time(data_object, t: float) -> None:
    """Set DATA_TIME_STEP on an output data object's information."""
    from vtkmodules.vtkCommonDataModel import vtkDataObject

    data_object.GetInformation().Set(vtkDataObject.DATA_TIME_STEP(), float(t))


def exact_times(t0: float, dt: float, n: int) -> list[float]:
    """t0 + k*dt for k = 1..n, each computed directly (no accumulated float error)."""
    return [float(t0) + k * float(dt) for k in range(1, int(n) + 1)]


def time_tolerance(times: Sequence[float]) -> float:
    """Absolute tolerance for comparing times of one series (float round trips through the GUI)."""
    arr = np.asarray(times, dtype=np.float64)
    return 1e-9 * max(1.0, float(np.abs(arr).max())) if arr.size else 1e-9


def find_step(times: Sequence[float], t: float, tol: float) -> int | None:
    """Index of the step within `tol` of t (the nearest), or None."""
    if not len(times):
        return None
    arr = np.asarray(times, dtype=np.float64)
    i = int(np.argmin(np.abs(arr - float(t))))
    return i if abs(arr[i] - float(t)) <= tol else None


def merge_forecast_times(in_times: Sequence[float], start: int, predicted: Sequence[float],
                         dt: float) -> tuple[list[float], list[float]]:
    """A temporal filter's output steps: the input's steps and the forecast's, each time once.

    Parameters
    ----------
    in_times : sequence of float
        The input's steps, increasing.
    start : int
        Index of the forecast's start in `in_times` (-1: a static input).
    predicted : sequence of float
        The forecast times t_start + k dt, increasing.
    dt : float
        The forecast's step; a predicted time within ``|dt| * 1e-6`` of an input step IS that step
        (the solver's 5.074999999999999 and the forecast's 5.075 are one time, not two).

    Returns
    -------
    out_times : list of float
        The union of the input's steps and the forecast's, sorted, without near-duplicates.
    predicted : list of float
        The forecast times as they appear in `out_times` (an input step's value where they meet).

    Example
    -------
    >>> merge_forecast_times([5.0, 5.025, 5.074999999999999], 0, [5.025, 5.075, 5.1], 0.025)
    ([5.0, 5.025, 5.074999999999999, 5.1], [5.025, 5.074999999999999, 5.1])
    """
    tol = abs(float(dt)) * 1e-6
    later = [float(t) for t in in_times[start + 1:]] if start >= 0 else []
    merged = []
    for p in predicted:
        j = find_step(later, p, tol)
        merged.append(later[j] if j is not None else float(p))
    head = [float(t) for t in in_times[: start + 1]] if start >= 0 else []
    return head + sorted(set(merged) | set(later)), merged

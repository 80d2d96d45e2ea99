"""Does the input fit the model? Checks against the model file's metadata, with the numbers.

`prepare_rollout` runs them all before a rollout (the CLI and the pyvista API call it); EchoRollout
calls the same checks one by one, each at the pipeline stage that has its data (the time steps in
RequestInformation, the mesh and the parameters in RequestData).

Each check returns warnings (shown in ParaView's Output Messages, the rollout still runs) or
raises `FitError` where the result could not mean anything (a non-finite parameter, a mesh
mostly outside the training domain or reaching far beyond it, a model file with dt <= 0). Parameter ranges: the model file
stores the training mean and standard deviation of each parameter (and `param_min`/`param_max`
when the trainer wrote them); without min/max the training range is taken as mean +- 2 std and
the message says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import EchoUserError

#: fraction of points allowed outside the (1 %-padded) training box before the rollout is refused
MAX_OUTSIDE_FRACTION = 0.5
#: how far (fraction of the domain's size) the input's bounding box may reach beyond the domain
MAX_OVERSHOOT = 0.5
#: parameters further than this many training standard deviations from the mean are refused
MAX_PARAM_Z = 10.0
#: relative difference between the input's time spacing and the model's dt that is reported
DT_TOLERANCE = 1e-3


class FitError(EchoUserError):
    """The input cannot be predicted by this model; the message says why and what to do."""


@dataclass
class ParamUse:
    value: float
    source: str  # "Parameters property", "input field data param_nu", "training mean"


def check_model(dt: float) -> None:
    if not (math.isfinite(dt) and dt > 0):
        raise FitError(f"the model file declares dt = {dt}; a time step must be positive and finite: "
                       f"the file is damaged or was written by a broken trainer, retrain or re-export it")


def check_points(points: np.ndarray, lo: Sequence[float] | None, hi: Sequence[float] | None) -> list[str]:
    """Bounds of the input's points against the training domain box (None: no box known)."""
    n = int(points.shape[0])
    if n < 2:
        raise FitError(f"the input has {n} point(s); the model predicts a field on a mesh: give it the whole "
                       f"mesh (not a single probe point)")
    if not np.isfinite(points).all():
        raise FitError("the input's coordinates contain NaN or infinity; clean the mesh first")
    if lo is None or hi is None:
        return []
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    pad = 0.01 * (hi - lo)
    outside = np.any((points < lo - pad) | (points > hi + pad), axis=1)
    frac = float(outside.mean())
    box = _box(points.min(axis=0), points.max(axis=0))
    train = _box(lo, hi)
    size = hi - lo
    overshoot = float(np.max(np.maximum(lo - points.min(axis=0), points.max(axis=0) - hi) / size))
    if frac > MAX_OUTSIDE_FRACTION or overshoot > MAX_OVERSHOOT:
        raise FitError(
            f"{frac:.0%} of the input's points lie outside the model's training domain and the input reaches "
            f"{overshoot:.0%} of the domain's size beyond it (input {box}, "
            f"training {train}); the model cannot predict there: use a model trained on this geometry, "
            f"or transform the data into the training domain"
        )
    if frac > 0:
        return [f"{frac:.1%} of the input's points lie outside the model's training domain (input {box}, "
                f"training {train}): the prediction there is an extrapolation"]
    return []


def _box(lo, hi) -> str:
    return " x ".join(f"[{a:.4g}, {b:.4g}]" for a, b in zip(lo, hi))


def check_time(in_times: Sequence[float], start: int, dt: float) -> list[str]:
    """The input's time spacing next to the start against the model's dt."""
    if len(in_times) < 2:
        return []
    i = max(1, start)
    spacing = float(in_times[i] - in_times[i - 1])
    out = []
    if abs(spacing - dt) > DT_TOLERANCE * dt:
        out.append(
            f"the input's time spacing is {spacing:.6g} but the model's dt is {dt:.6g}: the prediction advances "
            f"by the model's dt (its frame times are t0 + k * {dt:.6g}); where the input has data at other "
            f"times the comparison interpolates it linearly in time"
        )
    gaps = np.diff(np.asarray(in_times, dtype=np.float64))
    if gaps.size > 1 and np.ptp(gaps) > 1e-6 * max(abs(gaps).max(), 1e-30):
        out.append(f"the input's time steps are unevenly spaced ({gaps.min():.6g} to {gaps.max():.6g}); "
                   f"a time step of the series may be missing")
    return out


def check_horizon(meta: Mapping[str, Any], n_frames: int, dt: float) -> list[str]:
    """A forecast longer than the training trajectories (the file's `train_horizon_frames`, when recorded)."""
    horizon = meta.get("train_horizon_frames")
    if horizon is None or n_frames <= int(horizon):
        return []
    return [f"the forecast runs {n_frames} frames ({n_frames * dt:.6g} time units) but the longest training "
            f"trajectory spans {int(horizon)} frames ({int(horizon) * dt:.6g}): from frame {int(horizon) + 1} on, the "
            f"model predicts states later than any it was trained on, and its error grows faster; keep the forecast "
            f"to {int(horizon)} frames (NumberOfFrames, --frames), or train on trajectories at least "
            f"{n_frames + 1} frames long to forecast that far"]


def parameter_range(meta: Mapping[str, Any], i: int, mean: float, std: float) -> tuple[float, float, str]:
    """Training range of parameter i: the file's min/max, else mean +- 2 std (stated)."""
    lo, hi = meta.get("param_min"), meta.get("param_max")
    if lo is not None and hi is not None and i < len(lo) and i < len(hi):
        return float(lo[i]), float(hi[i]), "training range"
    return mean - 2 * std, mean + 2 * std, "training mean +- 2 std"


def check_parameters(meta: Mapping[str, Any], names: Sequence[str], means: Sequence[float],
                     stds: Sequence[float], used: Mapping[str, ParamUse]) -> list[str]:
    """Non-finite parameters refused, out-of-range ones reported, defaults named."""
    out = []
    for i, name in enumerate(names):
        use = used.get(name)
        if use is None:
            continue
        mean, std = float(means[i]), float(stds[i]) if i < len(stds) else 1.0
        if not math.isfinite(use.value):
            raise FitError(f"parameter {name} = {use.value} (from the {use.source}) is not a finite number; "
                           f"set it in Parameters (e.g. {name}={mean:.4g})")
        lo, hi, how = parameter_range(meta, i, mean, std)
        z = abs(use.value - mean) / std if std > 0 else 0.0
        if z > MAX_PARAM_Z:
            raise FitError(
                f"parameter {name} = {use.value:.6g} (from the {use.source}) is {z:.3g} training standard "
                f"deviations from the training mean {mean:.6g} ({how} [{lo:.6g}, {hi:.6g}]); the model "
                f"cannot extrapolate that far: set a value inside the range in Parameters"
            )
        if use.source == "training mean":
            out.append(f"parameter {name} is not given (neither Parameters nor param_{name} field data): "
                       f"using the training mean {mean:.6g}")
        elif not _inside(use.value, lo, hi):
            out.append(f"parameter {name} = {use.value:.6g} (from the {use.source}) is outside the {how} "
                       f"[{lo:.6g}, {hi:.6g}]: the prediction is an extrapolation")
    return out


def _inside(value: float, lo: float, hi: float) -> bool:
    """lo <= value <= hi up to float32 rounding: the file stores the range in float32, so a parameter that was
    constant in training (nu = 0.001 -> 0.0010000000475) must not read as outside it."""
    tol = 1e-6 * max(abs(lo), abs(hi), hi - lo)
    return lo - tol <= value <= hi + tol


def describe_parameters(used: Mapping[str, ParamUse]) -> str:
    """One line with every value the rollout is conditioned on and where it came from."""
    return "conditioned on " + ", ".join(f"{n} = {u.value:.6g} ({u.source})" for n, u in used.items())


def domain_box(sur: Any) -> tuple[Sequence[float] | None, Sequence[float] | None]:
    """The model's training box (lo, hi), (None, None) when the file has none."""
    dom = getattr(sur, "domain", None)
    return (None, None) if dom is None else (dom.lo, dom.hi)


def resolve_parameters(sur: Any, given: Mapping[str, ParamUse]) -> dict[str, ParamUse]:
    """Every parameter the model is conditioned on: the given value, else the training mean.

    A name the model does not know is refused (a typo would otherwise be ignored silently).
    """
    names = list(getattr(sur, "param_names", []) or [])
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise FitError(
            f"parameter names {unknown}, but this model is conditioned on {names or 'no parameters'}; "
            f"give only those (e.g. {', '.join(f'{n}=...' for n in names) or 'none'})"
        )
    means = list(getattr(sur, "param_mean", [])) or [0.0] * len(names)
    return {n: given[n] if n in given else ParamUse(float(means[i]), "training mean") for i, n in enumerate(names)}


def parameter_warnings(sur: Any, uses: Mapping[str, ParamUse]) -> list[str]:
    """`check_parameters` with the model's own names, means and standard deviations."""
    names = list(getattr(sur, "param_names", []) or [])
    means = list(getattr(sur, "param_mean", [])) or [0.0] * len(names)
    stds = list(getattr(sur, "param_std", [])) or [1.0] * len(names)
    return check_parameters(getattr(sur, "meta", {}) or {}, names, means, stds, uses)


@dataclass
class RolloutCheck:
    """What `prepare_rollout` found: the parameters to condition on (with their sources) and warnings."""

    params: dict[str, ParamUse]
    warnings: list[str]

    def values(self) -> dict[str, float]:
        """The parameter values to pass to the rollout."""
        return {n: u.value for n, u in self.params.items()}


def prepare_rollout(sur: Any, points: np.ndarray, n_frames: int, *, params: Mapping[str, ParamUse] | None = None,
                    observed: np.ndarray | None = None, times: Sequence[float] | None = None,
                    start: int = 0) -> RolloutCheck:
    """Every fit check before a rollout of `n_frames` frames on `points`: refuses (FitError) what
    cannot mean anything, returns the warnings for the rest.

    Parameters
    ----------
    sur : Surrogate
        The loaded model (its dt, training domain, parameters and horizon are checked against).
    points : (N, dim) array
        Where the model predicts.
    n_frames : int
        Frames to predict (the training-horizon check).
    params : mapping of str to ParamUse, optional
        The parameter values given and where each came from; the others take the training mean.
    observed : (T, N, C) array, optional
        The conditioning frames (checked against the training states when the file records them).
    times, start : optional
        The input's time steps and the index of the start step (the spacing against the model's dt).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> sur = SimpleNamespace(dt=0.1, domain=None, param_names=["nu"], param_mean=[1e-3], param_std=[1e-4], meta={})
    >>> check = prepare_rollout(sur, np.random.default_rng(0).random((10, 2)), 4)
    >>> check.values(), check.warnings[0][:40]
    ({'nu': 0.001}, 'parameter nu is not given (neither Param')
    """
    from .state_check import check_state

    check_model(float(sur.dt))
    warnings = check_points(points, *domain_box(sur))
    warnings += check_time(list(times), start, float(sur.dt)) if times is not None else []
    warnings += check_horizon(getattr(sur, "meta", {}) or {}, n_frames, float(sur.dt))
    uses = resolve_parameters(sur, params or {})
    warnings += parameter_warnings(sur, uses)
    if observed is not None:
        warnings += check_state(sur, points, observed)
    return RolloutCheck(uses, warnings)

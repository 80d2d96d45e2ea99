"""EchoRollout's Task property: which output times each task makes, and the call that fills them.

`rollout_filter.EchoRolloutAlgorithm` forecasts by default; with `SetTask` it runs ECHO's other
tasks (`echo_model.tasks`) through the same time handling, frame cache and messages. This module
holds what differs per task, so the filter only asks it for a plan and a model call:

    Forecast     NumberOfFrames after the start step (the filter's own code, unchanged)
    Interpolate  a frame every model dt from the input's first step to its last; the input's steps
                 are k model steps apart (k from their times, 2 .. window - 1) and stay exact
    Reconstruct  the full field at the input's steps on the Target mesh (the filter's second input;
                 without one, on the input's own points) from the values at the input's points
    Inverse      NumberOfFrames before the start step, times going back from it by dt
    Sample       NumberOfFrames from the start step on, generated from the mesh and the parameters

An output time that lies within |dt| 1e-6 of an input step is that step (as for the forecast).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkDataObject

from echo_model.errors import EchoUserError

from . import timesteps
from .rollout_input import FieldSpec, Leaf, ModelInput, model_points, select_leaves

#: the drop-down's entries, in the order of ParaView's enumeration (0 = Forecast)
TASK_LABELS = ("Forecast", "Interpolate", "Reconstruct", "Inverse", "Sample")


class TaskError(EchoUserError):
    """A Task setting or an input that does not fit the task; the message names the fix."""


def parse_task(value: str | int) -> str:
    """A Task setting ("Interpolate", "interpolate" or its enumeration index 1) -> "interpolate".

    Example
    -------
    >>> parse_task("Interpolate"), parse_task(4), parse_task("forecast")
    ('interpolate', 'sample', 'forecast')
    """
    text = str(value).strip()
    if isinstance(value, (int, np.integer)) or text.isdigit():
        if 0 <= int(text) < len(TASK_LABELS):
            return TASK_LABELS[int(text)].lower()
    elif text.lower() in (t.lower() for t in TASK_LABELS):
        return text.lower()
    raise TaskError(f"Task {value!r} is not one of {', '.join(TASK_LABELS)} (or 0 .. {len(TASK_LABELS) - 1}); "
                    "pick one of those")


@dataclass
class TaskPlan:
    """The output times of a task on one input (computed once, in RequestInformation)."""

    task: str
    start: int  # index of t_start in the input's steps (-1: static input)
    t_start: float
    predicted: list[float]  # the task's frames, in time order (an input step's value where they meet)
    out_times: list[float]  # the output's steps: the input's and the task's, each once
    cond: list[float]  # the input steps the task takes, in time order (t_start among them)
    truth_times: list[float] = field(default_factory=list)  # input steps at predicted times, to compare
    gap: int | None = None  # Interpolate: model steps between the input's steps
    notes: list[tuple[str, str]] = field(default_factory=list)


def snap_to_steps(times: Sequence[float], in_times: Sequence[float], dt: float) -> list[float]:
    """Each time, replaced by the input step within |dt| 1e-6 of it where there is one.

    Example
    -------
    >>> snap_to_steps([4.5, 5.000000001, 5.5], [5.0, 7.0], 0.5)
    [4.5, 5.0, 5.5]
    """
    tol = abs(float(dt)) * 1e-6
    out = []
    for t in times:
        j = timesteps.find_step(in_times, t, tol)
        out.append(float(in_times[j]) if j is not None else float(t))
    return out


def plan_task(task: str, in_times: Sequence[float], start: int, t_start: float, dt: float, n_frames: int, *,
              window_frames: int, time_factor: int, compare: bool) -> TaskPlan:
    """Where a task's frames go on the input's clock (any task but "forecast").

    Parameters
    ----------
    task : {"interpolate", "reconstruct", "inverse", "sample"}
    in_times : sequence of float
        The input's steps ([] for a static input).
    start, t_start : int, float
        The start step the StartTime setting picked (Inverse and Sample; the others use every step).
    dt : float
        The model's time step.
    n_frames : int
        NumberOfFrames (Inverse and Sample).
    window_frames, time_factor : int
        The model's window length and its frames per latent frame.
    compare : bool
        CompareWithInput: gather the input's steps that meet predicted times.

    Example
    -------
    >>> p = plan_task("interpolate", [0.0, 2.0, 4.0], 0, 0.0, 0.5, 10, window_frames=9, time_factor=2,
    ...               compare=True)
    >>> p.gap, p.predicted
    (4, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    """
    in_times = [float(t) for t in in_times]
    if task == "interpolate":
        return _plan_interpolate(in_times, dt, window_frames)
    if task == "reconstruct":
        steps = in_times or [t_start]
        notes = [("warn", w) for w in _spacing_warning(steps, dt)]
        notes.append(("info", f"Reconstruct: the full field at the input's {len(steps)} step(s)"))
        return TaskPlan(task, 0 if in_times else -1, steps[0], list(steps), list(steps), list(steps), notes=notes)
    if task == "inverse":
        raw = [t_start - k * dt for k in range(n_frames, 0, -1)]
        cond = _consecutive(in_times, start, dt, time_factor) if in_times else [t_start]
        text = f"Inverse: {n_frames} frame(s) of dt = {dt:.6g} before t = {t_start:.6g}"
    elif task == "sample":
        raw = [t_start + k * dt for k in range(n_frames)]
        cond = [t_start]
        text = f"Sample: {n_frames} frame(s) of dt = {dt:.6g} from t = {t_start:.6g}"
    else:
        raise TaskError(f"Task {task!r}: no plan for it (pick one of {', '.join(TASK_LABELS)})")
    predicted = snap_to_steps(raw, in_times, dt)
    out_times = sorted(set(in_times) | set(predicted) | ({t_start} if not in_times else set()))
    truth = [t for t in predicted if compare and t in in_times and t not in cond]
    return TaskPlan(task, start, t_start, predicted, out_times, cond, truth, notes=[("info", text)])


def _plan_interpolate(in_times: list[float], dt: float, window_frames: int) -> TaskPlan:
    """A frame every dt from the first input step to the last; the input's steps keep their values."""
    from echo_model.tasks import infer_gap

    if len(in_times) < 2:
        raise TaskError(f"Task Interpolate needs a temporal input with at least 2 steps (it has {len(in_times)}); "
                        "feed a series whose steps are 2 or more model steps apart, e.g. ExtractTimeSteps")
    try:
        gap = infer_gap(np.asarray(in_times), dt)
    except EchoUserError as exc:
        raise TaskError(f"Task Interpolate: {exc}") from None
    if not 2 <= gap <= window_frames - 1:
        raise TaskError(f"Task Interpolate: the input's steps are {gap} model step(s) of dt = {dt:.6g} apart; the "
                        f"model fills gaps of 2 to {window_frames - 1} steps: feed every 2nd .. "
                        f"{window_frames - 1}th step of the series (ExtractTimeSteps), or use Forecast")
    raw = [in_times[0] + k * dt for k in range((len(in_times) - 1) * gap + 1)]
    predicted = snap_to_steps(raw, in_times, dt)
    text = (f"Interpolate: the input's steps are {gap} model steps apart; {len(predicted)} frames of dt = "
            f"{dt:.6g} from t = {in_times[0]:.6g} to {in_times[-1]:.6g}, the input's steps kept")
    return TaskPlan("interpolate", 0, in_times[0], predicted, list(predicted), list(in_times), gap=gap,
                    notes=[("info", text)])


def _consecutive(in_times: list[float], start: int, dt: float, most: int) -> list[float]:
    """The start step and the steps right after it that are one dt apart each (at most `most`)."""
    tol = abs(dt) * 1e-6
    out = [in_times[start]]
    for t in in_times[start + 1:]:
        if len(out) >= most or abs(t - out[-1] - dt) > tol:
            break
        out.append(t)
    return out


def _spacing_warning(steps: Sequence[float], dt: float) -> list[str]:
    d = np.diff(np.asarray(steps, dtype=np.float64))
    if d.size and not np.allclose(d, dt, rtol=1e-6, atol=0):
        return [f"Reconstruct: the input's steps are {sorted(set(np.round(d, 9).tolist()))} apart, not the model's "
                f"dt = {dt:.6g}; consecutive steps are fitted together as if dt apart"]
    return []


def task_call(sur: Any, plan: Any, *, n_frames: int, target_points: np.ndarray | None, params: dict[str, float] | None,
              opts: dict[str, Any]) -> Callable[[np.ndarray, np.ndarray], Any]:
    """run(points, frames) -> the task's RolloutResult, one frame per `plan.predicted`.

    `plan` is the filter's plan (task, cond, gap, predicted: as a `TaskPlan` has them).

    `frames` are the input's values at `plan.cond`; `opts` go to `echo_model.tasks.run_task`
    (n_samples, seed, steps, progress, should_abort, memory, keep_samples).
    """
    from echo_model.tasks import run_task

    def run(points: np.ndarray, frames: np.ndarray):
        res, _ = run_task(sur, plan.task, points, frames, np.asarray(plan.cond, dtype=np.float64),
                          n_frames=n_frames, gap=plan.gap, query_points=target_points, params=params, **opts)
        if res.mean.shape[0] != len(plan.predicted):  # the plan and the model disagree: a bug, not the input
            raise RuntimeError(f"task {plan.task}: {res.mean.shape[0]} frames for {len(plan.predicted)} times")
        return res

    return run


def target_input(target: vtkDataObject, specs: Sequence[Any], dim: int) -> ModelInput:
    """Reconstruct's Target mesh as the model sees it: every leaf's points (point data), the specs of
    the model's fields (as read from the probes), so `rollout_output.write_frame` writes onto it."""
    used = select_leaves(target, "")
    sizes = [lf.data.GetNumberOfPoints() for lf in used]
    if not sum(sizes):
        raise TaskError("the Target input (the mesh Reconstruct predicts on) has no points; connect a mesh "
                        "to it, or disconnect it to predict at the input's own points")
    points, notes = model_points(used, "points", int(dim))
    return ModelInput("points", points, list(specs), sizes, [lf.path for lf in used], notes)


def prefer_torch_sympy() -> None:
    """Import the sympy that torch was installed with, before anything imports another one.

    Reconstruct fits latents with torch.optim, which imports torch._dynamo and needs torch's sympy;
    inside ParaView the system's older sympy comes first on sys.path (`echopv` appends the venv after
    ParaView's own packages), loading a model imports it, and the fit then fails on an ImportError."""
    import sys
    from pathlib import Path

    import torch

    if "sympy" in sys.modules:
        return
    site = str(Path(torch.__file__).resolve().parents[1])
    sys.path.insert(0, site)
    try:
        import sympy  # noqa: F401
    except ImportError:  # torch imports without it where it can; its own error then says what is missing
        pass
    finally:
        sys.path.remove(site)


def lacks_fields(inp: vtkDataObject, block: str, names: Sequence[str]) -> bool:
    """True when no used leaf has a point or cell array of any of the model's field names."""
    for lf in select_leaves(inp, block):
        for attrs in (lf.data.GetPointData(), lf.data.GetCellData()):
            if any(attrs.GetAbstractArray(n) is not None for n in names):
                return False
    return True


def bare_mesh(inp: vtkDataObject, block: str, layout: Sequence[tuple[str, int]],
              dim: int) -> tuple[ModelInput, list[Leaf], np.ndarray]:
    """Sample's input when it is a mesh without the model's fields: -> (ModelInput of its points, the
    used leaves, NaN values). NaN: the input has no value there, so nothing is compared with it."""
    used = select_leaves(inp, block)
    sizes = [lf.data.GetNumberOfPoints() for lf in used]
    if not sum(sizes):
        raise TaskError("Task Sample: the input has no points; give it the mesh to sample on")
    points, notes = model_points(used, "points", int(dim))
    names = [n for n, _ in layout]
    notes = notes + [f"Sample: the input has no {', '.join(names)} array(s): the samples are drawn at its points "
                     f"and written as {', '.join(n + '_pred' for n in names)}"]
    specs = [FieldSpec(name=n, model_ncomp=int(c), input_ncomp=int(c)) for n, c in layout]
    values = np.full((points.shape[0], sum(int(c) for _, c in layout)), np.nan, np.float32)
    return ModelInput("points", points, specs, sizes, [lf.path for lf in used], notes), used, values


def exact_truths(predicted: Sequence[float], frames: dict[float, np.ndarray], tol: float) -> list:
    """The input's values at the predicted times where the input has that very step (else None):
    the tasks compare only with data the solver has, never with a time interpolation."""
    from .comparison import Truth

    times = list(frames)
    out = []
    for t in predicted:
        j = timesteps.find_step(times, t, tol)
        out.append(None if j is None else Truth(np.asarray(frames[times[j]], np.float32), False, (t, t)))
    return out

"""EchoRolloutAlgorithm: a temporal VTK filter that runs an ECHO surrogate rollout.

Undecorated, so it works in plain VTK (``alg = EchoRolloutAlgorithm(); alg.SetInputData(ds)``)
as well as behind the thin decorated subclass in ``plugins/EchoPlugin.py``.

Input: a vtkDataSet or a composite dataset (the OpenFOAM reader's multiblock: see Block) with
the model's field(s) as point or cell data (cell data: the cell centres are the model's points;
see `rollout_input`).

Time, as ParaView's temporal filters do it:

    output time steps = every input step  |  t_start + k * dt, k = 1 .. NumberOfFrames

each time once: a forecast time within dt * 1e-6 of an input step is that step (its value is the
input's). The input's later steps stay because ParaView's time keeper hides a temporal filter's
input's own steps. t_start is the input's first step (StartTime "first"; a model that needs n
observed frames starts at the n-th), the current time ("current": the animation time when the
filter is set up, snapped down to an input step) or a given value ("value", StartTimeValue). At
or before t_start the output is the input itself plus `<field>_pred` (= the input); after it,
the prediction. Every step carries the same arrays in the same order; a value that does not
exist at a step (the solver's fields at a forecast time the input does not have, the prediction
at an input step that is no forecast time, the truth beyond the input) is NaN, integer arrays 0
(see `rollout_output`). On any failure the input's own time steps are announced unchanged, so
ParaView's time keeper never loses them, and the input passes through.

The rollout runs once and is cached, keyed on the CONTENT of the start frame (plus the
checkpoint file and every setting): another view stepping the same reader through time does not
rerun it. A rollout that also takes other input steps (several observed frames; Interpolate,
Reconstruct, Inverse) runs again after any upstream change, as that may touch only those steps.
Each predicted frame is built once and kept (with the solver's data at that time,
kept when it was gathered for the comparison): scrubbing a cached rollout asks the input for
nothing new, and ParaView finds the same arrays again (their value ranges are cached), so a
step costs ParaView's own rendering work, not a read and a rebuild (see `FRAME_CACHE_KIB`).
Where the input has data after t_start, `<field>_truth`, `<field>_error` and per-frame
rel-MSE field data compare the prediction with it (linear interpolation in time between input
steps when the spacings differ; see `comparison`). Frames are gathered from the input with
CONTINUE_EXECUTING passes, one input time each.

Errors are reported once each (ParaView's Output Messages, stderr in pvpython, ``last_error``
here); fit warnings (domain, dt, parameters) likewise. Nothing raises out of a pipeline pass.

Task (default Forecast) runs ECHO's other tasks through the same machinery: Interpolate,
Reconstruct (on the optional second input, the Target mesh), Inverse and Sample; their output
times and the model call are in `rollout_task`.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkDataSet
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline as sddp

from echo_model import fitcheck
from echo_model.errors import EchoUserError
from echo_model.memory import MemoryBudget
from echo_model.state_check import check_state

from . import comparison, parallel, rollout_colours, rollout_input, rollout_task, timesteps
from .rollout_output import Frame, write_frame
from .rollout_state import Gather, RolloutCache
from .vtk_messages import VTKMessages, failure_text

START_MODES = ("first", "current", "value")
#: caps applied by the algorithm itself (pvpython scripts bypass the GUI's ranges)
MAX_FRAMES = 2000
MAX_SAMPLES = 64
#: most memory (KiB) the per-frame cache of a rollout may hold (the solver's frames at the
#: predicted times and the frames already built); beyond it frames are built again when shown
FRAME_CACHE_KIB = 1 << 20


@dataclass(frozen=True)
class RolloutSettings:
    checkpoint: str = ""
    n_frames: int = 10
    input_arrays: tuple[str, ...] = ()
    n_samples: int = 1
    seed: int = 0
    sampling_steps: int = 0  # 0: the model's default
    device: str = "auto"
    n_threads: int = 0  # 0: leave torch's default
    parameters: str = ""  # "nu=2.4e-4, Re=100": overrides the input's param_<name> field data
    start_mode: str = "first"
    start_value: float = 0.0
    block: str = ""  # composite inputs: "" merges every leaf
    association: str = "auto"  # auto | points | cells
    compare: bool = True  # truth / error / rel-MSE where the input has data
    memory_budget: str = ""  # "" = automatic (available memory); "2GB": the rollout must fit (else refused)
    task: str = "forecast"  # or interpolate | reconstruct | inverse | sample (rollout_task)


class RolloutError(EchoUserError):
    """A problem the user can fix; the message names the problem and the fix."""


class NoCheckpoint(RolloutError):
    """No Checkpoint yet: the filter's state right after it is created. Kept in `last_error`, not
    shown as an error (the user has asked for nothing yet); the input passes through."""


@dataclass
class Plan:
    """What RequestInformation decided: where the rollout starts and the output's times (each
    computed once here; every later comparison uses these values)."""

    in_times: list[float]
    start: int  # index of t_start in in_times (-1: static input)
    t_start: float
    n_obs: int
    dt: float
    out_times: list[float]
    error: Exception | None = None
    predicted: list[float] = field(default_factory=list)  # forecast times, as they are in out_times
    notes: list[tuple[str, str]] = field(default_factory=list)  # ("warn" | "info", text), said once in RequestData
    task: str = "forecast"
    cond: list[float] = field(default_factory=list)  # tasks: the input steps the model takes (t_start among them)
    truth_times: list[float] = field(default_factory=list)  # tasks: input steps at predicted times
    gap: int | None = None  # Interpolate: model steps between the input's steps

    @property
    def n_pred(self) -> int:
        return len(self.predicted)

    def locate(self, t_req: float | None) -> tuple[str, float, int]:
        """(kind, output step, index) of the output step a requested time snaps to: "input" (at or
        before the start), "predicted" (index into `predicted`) or "solver" (an input step after
        the start that is no forecast time)."""
        if t_req is None or not self.out_times:
            return "input", self.t_start, -1
        t = self.out_times[timesteps.snap_index(self.out_times, t_req)]
        k = timesteps.find_step(self.predicted, t, self.tolerance)  # (a forecast's are all after t_start)
        if k is not None:
            return "predicted", t, k
        return ("input", t, -1) if t <= self.t_start + timesteps.time_tolerance(self.out_times) else ("solver", t, -1)

    def known(self, t: float) -> bool:
        """Whether `<field>_pred` at input step t (no predicted time) is the input itself: at and before
        the start for a forecast, at and after it for Inverse; never for the other tasks (Sample is not
        conditioned on the input; Interpolate and Reconstruct predict at every input step)."""
        tol = timesteps.time_tolerance(self.out_times)
        if self.task in ("sample", "interpolate", "reconstruct"):  # their input steps are predicted or unused
            return False
        return t >= self.t_start - tol if self.task == "inverse" else t <= self.t_start + tol

    def input_step(self, t: float) -> float | None:
        """The input's step at time t (None when the input has no data then)."""
        j = timesteps.find_step(self.in_times, t, self.tolerance)
        return None if j is None else self.in_times[j]

    @property
    def tolerance(self) -> float:
        return max(abs(self.dt) * 1e-6, timesteps.time_tolerance(self.out_times))


def _load_surrogate(path: str, device: str):
    # torch is imported only here, when a rollout actually runs: a broken torch install must not
    # stop ParaView from registering the filter.
    try:
        rollout_task.prefer_torch_sympy()  # before the model's import picks up the system's sympy
        from echo_model.rollout import Surrogate
    except ImportError as exc:
        raise RolloutError(
            f"cannot import the ECHO model code ({exc}); start ParaView with `echopv paraview` "
            f"(it puts the venv with torch on ParaView's path) or run `bash scripts/setup.sh`"
        ) from exc
    return Surrogate.load(path, device=device)


def resolve_checkpoint(path: str) -> str:
    """A model file, or a training run directory (EchoTrain's RunDirectory): its finished model."""
    p = Path(path)
    if p.is_dir():
        for name in ("model.safetensors", "dit/model.safetensors", "baseline/model.safetensors"):
            if (p / name).is_file():
                return str(p / name)
        raise RolloutError(
            f"Checkpoint {path!r} is a folder without a finished model (model.safetensors); the training "
            f"there may still be running (EchoTrain's Status says) or pick a model file (.safetensors)"
        )
    if not p.is_file():
        raise RolloutError(f"Checkpoint {path!r} does not exist; pick an ECHO model file (.safetensors) "
                           f"or a finished training run's folder")
    return str(p)


class EchoRolloutAlgorithm(VTKMessages, VTKPythonAlgorithmBase):
    """Temporal surrogate rollout filter (see the module docstring for time handling and caching).

    Parameters
    ----------
    Checkpoint : str
        The ECHO model file (`SetCheckpoint`); required.
    NumberOfFrames : int, default 10
        Frames predicted after the start time, `dt` apart (`SetNumberOfFrames`).
    InputArrays : list of str, default empty
        Input arrays fed to the model, one per model field in its order (`SetInputArrays`);
        empty matches the model's field names.
    NumberOfSamples : int, default 1
        Ensemble size; > 1 adds `<field>_std` (`SetNumberOfSamples`).
    Seed : int, default 0
        Sampler seed (`SetSeed`).
    SamplingSteps : int, default 0
        Sampler steps per segment; 0 = the model's (`SetSamplingSteps`).
    Device : {"auto", "cpu", "cuda"}, default "auto"
        Where the model runs (`SetDevice`).
    NumberOfThreads : int, default 0
        torch CPU threads during the rollout; 0 = torch's default (`SetNumberOfThreads`).
    MemoryBudget : str, default ""
        Most memory the rollout may use ("2GB"); empty = what is available (`SetMemoryBudget`).
    Parameters : str, default ""
        PDE parameters "nu=2.4e-4, Re=100"; empty: the input's `param_<name>` field data, else
        the training mean (`SetParameters`).
    StartTime : {"first", "current", "value"}, default "first"
        Where the forecast starts (`SetStartTime`, with `SetStartTimeValue` for "value").
    Block : str, default ""
        Composite inputs: the block to use; empty uses every leaf (`SetBlock`).
    FieldAssociation : {"auto", "points", "cells"}, default "auto"
        Point or cell data as the model's input (`SetFieldAssociation`).
    CompareWithInput : bool, default True
        Add `<field>_truth`, `<field>_error` and rel-MSE where the input has data after the start
        (`SetCompareWithInput`).
    Task : {"Forecast", "Interpolate", "Reconstruct", "Inverse", "Sample"}, default "Forecast"
        What the model does with the input (`SetTask`; see `rollout_task`). Reconstruct predicts on
        the mesh of the optional second input (`SetTargetData` / `SetInputConnection(1, ...)`).

    Output: the input's structure with the input's arrays and `<field>_pred` (and `_std`,
    `_truth`, `_error`) at every input step and at t_start + k dt, k = 1 .. NumberOfFrames
    (`GetTimestepValues`; the forecast's alone: `GetPredictedTimes`). The arrays are the same,
    in the same order, at every step; where a value does not exist at a step it is NaN (fill
    value `rollout_output.FILL_VALUE`; integer arrays 0): the input's fields at a forecast time
    the input does not have, `_pred` / `_std` at an input step after the start that is no
    forecast time, `_truth` / `_error` beyond the input's last step. Errors go to the VTK output
    window and `last_error`, never raise.

    Example
    -------
    >>> from echo_paraview.readers import EchoDatasetReaderAlgorithm
    >>> reader = EchoDatasetReaderAlgorithm()
    >>> reader.SetFileName("sample_cases/ns2d_vorticity/ns2d_64.h5")
    >>> alg = EchoRolloutAlgorithm()
    >>> alg.SetInputConnection(reader.GetOutputPort())
    >>> alg.SetCheckpoint("sample_cases/ns2d_vorticity/model_tiny.safetensors")
    >>> alg.SetNumberOfFrames(4)
    >>> alg.SetSamplingSteps(2)
    >>> _ = alg.UpdateInformation()
    >>> alg.GetPredictedTimes(), len(alg.GetTimestepValues())  # with the reader's steps up to 15.0
    ([5.5, 6.0, 6.5, 7.0], 21)
    >>> _ = alg.UpdateTimeStep(7.0)
    >>> out = alg.GetOutputDataObject(0)
    >>> out.GetNumberOfPoints(), out.GetPointData().GetArray("vorticity_pred").GetNumberOfTuples()
    (4096, 4096)
    >>> alg.GetUsedParameters()["nu"][1], alg.last_error
    ('input field data param_nu', None)
    """

    #: how the model is loaded: (checkpoint path, device) -> Surrogate. Replaceable for tests.
    surrogate_loader = staticmethod(_load_surrogate)
    #: least wall time between two progress reports: each one makes ParaView's GUI process its events
    #: and repaint (~16 ms of CPU in 5.11 under Xvfb); a 20-frame rollout reported ~80 times (1.3 CPU-s)
    PROGRESS_INTERVAL_S = 0.25
    #: least advance of the fraction between two reports: on a loaded machine the rollout's wall time
    #: stretches and the interval alone let through 33 reports (0.58 CPU-s of a 3.4 CPU-s first frame)
    PROGRESS_MIN_STEP = 0.1

    messages_from = "EchoRollout"

    def __init__(self) -> None:
        VTKPythonAlgorithmBase.__init__(
            self, nInputPorts=2, inputType="vtkDataObject", nOutputPorts=1, outputType="vtkDataObject"
        )
        self._s = RolloutSettings()
        self._cache: RolloutCache | None = None
        self._plan: Plan | None = None
        self._out_times: list[float] = []
        self._gather: Gather | None = None  # frames collected during CONTINUE_EXECUTING passes
        self._budget: MemoryBudget | None = None  # the rollout's, fixed when it starts
        self._latched_current: float | None = None
        self._last_requested: float | None = None
        self._reported: set[str] = set()
        self._notes: list[str] = []
        self._fast = False  # this pass serves the cache from whatever step the input holds
        self._skip_fast = False  # ... except right after the held step turned out to be another mesh
        self._refetch = False  # one more pass asked for the solver's own step at a predicted time
        self.last_error: str | None = None
        self.warnings: list[str] = []
        self.n_rollouts = 0  # how many times the model actually ran (tests check the cache)
        self._progress_at = -1e9
        self._progress_last = -1.0  # the fraction last reported
        self.used_parameters: dict[str, tuple[float, str]] = {}

    def FillInputPortInformation(self, port, info):
        if port == 1:  # Reconstruct's target mesh; the other tasks leave it empty
            from vtkmodules.vtkCommonExecutionModel import vtkAlgorithm

            info.Set(vtkAlgorithm.INPUT_IS_OPTIONAL(), 1)
        return rollout_input.accept_datasets_and_composites(info)

    def SetInputData(self, data: vtkDataObject) -> None:
        """Plain-VTK convenience (vtkAlgorithm only has SetInputDataObject)."""
        self.SetInputDataObject(0, data)

    def SetTargetData(self, data: vtkDataObject | None) -> None:
        """Reconstruct's target mesh (the second input; `SetInputConnection(1, port)` for a pipeline)."""
        self.SetInputDataObject(1, data)

    # --- properties -------------------------------------------------------------------
    def _set(self, **kw: Any) -> None:
        new = RolloutSettings(**{**self._s.__dict__, **kw})
        if new != self._s:
            if new.checkpoint != self._s.checkpoint:  # another model: its fit warnings are news
                self._reported = {m for m in self._reported if m not in self.warnings}
            self._s = new
            self._latched_current = None
            self.warnings = []
            self.Modified()

    def SetCheckpoint(self, path: str | None) -> None:
        self._set(checkpoint=str(path or ""))

    def GetCheckpoint(self) -> str:
        return self._s.checkpoint

    def SetNumberOfFrames(self, n: int) -> None:
        self._set(n_frames=int(n))

    def GetNumberOfFrames(self) -> int:
        return self._s.n_frames

    def SetInputArrays(self, names: Sequence[str] | str | None) -> None:
        if isinstance(names, str):
            names = [names]
        self._set(input_arrays=tuple(n for n in (names or ()) if n))

    def AddInputArray(self, name: str) -> None:
        if name:
            self._set(input_arrays=self._s.input_arrays + (str(name),))

    def ClearInputArrays(self) -> None:
        self._set(input_arrays=())

    def GetInputArrays(self) -> list[str]:
        return list(self._s.input_arrays)

    def SetNumberOfSamples(self, n: int) -> None:
        self._set(n_samples=int(n))

    def GetNumberOfSamples(self) -> int:
        return self._s.n_samples

    def SetSeed(self, seed: int) -> None:
        self._set(seed=int(seed))

    def SetSamplingSteps(self, n: int) -> None:
        self._set(sampling_steps=int(n))

    def SetDevice(self, device: str) -> None:
        self._set(device=str(device or "auto"))

    def SetNumberOfThreads(self, n: int) -> None:
        self._set(n_threads=int(n))

    def SetMemoryBudget(self, text: str | None) -> None:
        """Most memory the rollout may use ("2GB", "1500MB"); empty = what is available. A rollout
        that cannot fit is refused up front with its estimate (echo_model.memory)."""
        self._set(memory_budget=str(text or "").strip())

    def SetParameters(self, text: str | None) -> None:
        """PDE parameters as "name=value" pairs ("nu=2.4e-4, Re=100"). Empty: read them from the
        input's field data (`param_<name>` arrays, written by `echopv export` and the .pvd writer);
        a parameter found in neither place takes its training mean (reported)."""
        self._set(parameters=str(text or "").strip())

    def GetParameters(self) -> str:
        return self._s.parameters

    def SetStartTime(self, mode: str | int) -> None:
        """"first" | "current" | "value" (or 0 | 1 | 2, ParaView's enumeration)."""
        if isinstance(mode, (int, np.integer)) or str(mode).isdigit():
            mode = START_MODES[int(mode)] if 0 <= int(mode) < len(START_MODES) else str(mode)
        self._set(start_mode=str(mode).strip().lower())

    def GetStartTime(self) -> str:
        return self._s.start_mode

    def SetStartTimeValue(self, t: float) -> None:
        self._set(start_value=float(t))

    def SetBlock(self, block: str | None) -> None:
        self._set(block=str(block or "").strip())

    def SetFieldAssociation(self, assoc: str | int) -> None:
        """"auto" | "points" | "cells" (or 0 | 1 | 2)."""
        if isinstance(assoc, (int, np.integer)) or str(assoc).isdigit():
            assoc = rollout_input.ASSOCIATIONS[int(assoc)] if 0 <= int(assoc) < 3 else str(assoc)
        self._set(association=str(assoc).strip().lower())

    def SetCompareWithInput(self, on: bool | int) -> None:
        self._set(compare=bool(int(on)))

    def SetTask(self, task: str | int) -> None:
        """"Forecast" | "Interpolate" | "Reconstruct" | "Inverse" | "Sample" (or 0 .. 4, ParaView's
        enumeration); a name it does not know is reported when the pipeline runs."""
        try:
            self._set(task=rollout_task.parse_task(task))
        except rollout_task.TaskError as exc:
            self._set(task=str(task))  # _check_settings refuses it with this message
            self.last_error = str(exc)

    def GetTask(self) -> str:
        return self._s.task.capitalize()

    def GetUsedParameters(self) -> dict[str, tuple[float, str]]:
        """What the last rollout was conditioned on: name -> (value, source)."""
        return dict(self.used_parameters)

    def GetTimestepValues(self) -> list[float]:
        """Output time steps (what ParaView's TimeKeeper shows): the input's steps and the forecast's."""
        return list(self._out_times)

    def GetPredictedTimes(self) -> list[float]:
        """The forecast's times (a subset of `GetTimestepValues`; [] before a plan or after an error)."""
        return list(self._plan.predicted) if self._plan is not None else []

    def GetCacheRange(self, suffix: str = "_std") -> tuple[float, float] | None:
        """Value range of `<first field><suffix>` over all predicted frames (colour maps)."""
        c = self._cache
        if c is None:
            return None
        arr = c.std if suffix == "_std" else c.mean
        return None if arr is None else (float(np.min(arr)), float(np.max(arr)))

    def GetFieldRanges(self) -> list[rollout_colours.FieldRange]:
        """Colour ranges per model field over the cached forecast and the solver's values at the
        predicted times ([] before a rollout); see `rollout_colours.field_ranges`."""
        c = self._cache
        if c is None:
            return rollout_colours.field_ranges([], None, None)
        return rollout_colours.field_ranges(c.mi.specs, c.mean, c.truth)

    def GetStdNames(self) -> list[str]:
        """`<field>_std` per model field of the cached rollout ([] before one)."""
        c = self._cache
        return [f"{s.name}_std" for s in c.mi.specs] if c is not None else []

    def ClearCache(self) -> None:
        self._cache = None
        self.Modified()

    def current_time(self) -> float | None:
        """The "current" time for StartTime "current": here the time last asked downstream; the
        ParaView plugin overrides it with the animation time."""
        return self._last_requested

    # --- messages ---------------------------------------------------------------------
    def _report(self, problem: str) -> None:
        """An error, once per distinct message (ParaView re-executes often); never raises."""
        self.last_error = problem
        if problem in self._reported:
            return
        self._reported.add(problem)
        VTKMessages._report(self, problem)

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
        if message not in self._reported:
            self._reported.add(message)
            self._show_warning(message)

    def _info(self, message: str) -> None:
        """An informative line (Output Messages' plain text; it does not pop the window up)."""
        if message in self._reported:
            return
        self._reported.add(message)
        if message not in self.warnings:
            self.warnings.append(message)
        self._show_text(message)

    def _guard(self, fn, *args) -> int:
        try:
            return fn(*args)
        except NoCheckpoint as exc:  # waiting for a Checkpoint: quiet
            self.last_error = str(exc)
        except Exception as exc:  # user errors name their fix; a bug keeps its traceback; never a crash
            self._report(failure_text(exc))
        self._gather = None
        self._fast = self._refetch = False
        return 0

    # --- pipeline ---------------------------------------------------------------------
    def RequestDataObject(self, request, inInfo, outInfo):
        inp = vtkDataObject.GetData(inInfo[0], 0)
        if self._target() is not None:  # Reconstruct: the output is the target mesh
            inp = self._target()
        if inp is None:
            return 1
        out = vtkDataObject.GetData(outInfo, 0)
        if out is None or out.GetClassName() != inp.GetClassName():
            outInfo.GetInformationObject(0).Set(vtkDataObject.DATA_OBJECT(), inp.NewInstance())
        return 1

    def RequestInformation(self, request, inInfo, outInfo):
        in_times = timesteps.time_steps(inInfo[0].GetInformationObject(0))
        out_info = outInfo.GetInformationObject(0)
        # the input's own steps first: whatever fails below, the time keeper keeps them
        self._out_times = list(in_times)
        timesteps.announce_time_steps(out_info, in_times)
        self._plan = None
        self.last_error = None
        try:
            self._plan = self._make_plan(in_times)
        except Exception as exc:  # reported by RequestData (once), the input passes through
            self._plan = Plan(in_times, -1, 0.0, 1, 1.0, list(in_times), error=exc)
            self.last_error = str(exc)
            return 1
        self._out_times = list(self._plan.out_times)
        timesteps.announce_time_steps(out_info, self._out_times)
        return 1

    def _make_plan(self, in_times: list[float]) -> Plan:
        s = self._s
        if not s.checkpoint:
            raise NoCheckpoint("no model file: set Checkpoint to an ECHO model (.safetensors, from "
                               "`echopv train dit`) or to a finished training run's folder")
        _check_settings(s)
        sur = self._surrogate()
        dt = float(sur.dt)
        fitcheck.check_model(dt)
        if s.task != "forecast":
            return self._task_plan(sur, in_times, dt)
        n_obs = int(sur.n_observed_frames)
        if n_obs > 1 and len(in_times) < n_obs:
            raise RolloutError(
                f"this model needs {n_obs} observed frames but the input has "
                f"{len(in_times) or 'no'} time steps; feed a temporal input (e.g. a .pvd series) "
                f"with at least {n_obs} frames, or use a model trained with 1 observed frame"
            )
        start, t_start = self._start(in_times, n_obs)
        predicted = timesteps.exact_times(t_start, dt, s.n_frames)
        # the input's later steps stay in the output's steps: the time keeper suppresses a temporal
        # filter's input, and the solver's own frames must stay reachable
        out_times, predicted = timesteps.merge_forecast_times(in_times, start, predicted, dt)
        if not in_times:
            out_times = [t_start] + out_times
        # said when the plan is used (RequestData): pvpython's EchoRollout(Input=..., Checkpoint=...,
        # NumberOfFrames=...) sets the properties one by one, each making a plan of its own
        notes = [("warn", w) for w in (fitcheck.check_time(in_times, start, dt) if in_times else [])]
        notes += [("warn", w) for w in fitcheck.check_horizon(getattr(sur, "meta", {}) or {}, s.n_frames, dt)]
        notes.append(("info", f"{s.n_frames} frame(s) of the model's dt = {dt:.6g} after t = {t_start:.6g}, up to "
                   f"t = {predicted[-1]:.6g}"))
        return Plan(list(in_times), start, t_start, n_obs, dt, out_times, predicted=predicted, notes=notes)

    def _task_plan(self, sur, in_times: list[float], dt: float) -> Plan:
        """A plan for the tasks beyond the forecast (rollout_task); an untrained task is refused here."""
        from echo_model.tasks import check_task

        s = self._s
        check_task(sur, s.task)
        start, t_start = self._start(in_times, 1) if s.task in ("inverse", "sample") else (0, 0.0)
        tp = rollout_task.plan_task(s.task, in_times, start, t_start, dt, s.n_frames,
                                    window_frames=int(sur.window_frames), time_factor=int(sur.time_factor),
                                    compare=s.compare)
        if s.task in ("inverse", "sample"):  # as many frames as a forecast: the same training horizon
            tp.notes += [("warn", w.replace("the forecast", f"Task {s.task.capitalize()}", 1))
                         for w in fitcheck.check_horizon(getattr(sur, "meta", {}) or {}, s.n_frames, dt)]
        return Plan(list(in_times), tp.start, tp.t_start, 1, dt, tp.out_times, predicted=tp.predicted,
                    notes=tp.notes, task=s.task, cond=tp.cond, truth_times=tp.truth_times, gap=tp.gap)

    def _target(self) -> vtkDataObject | None:
        """Reconstruct's target mesh (the second input), None for the other tasks or when not given."""
        if self._s.task != "reconstruct" or not self.GetNumberOfInputConnections(1):
            return None
        return self.GetInputDataObject(1, 0)

    def _start(self, in_times: list[float], n_obs: int) -> tuple[int, float]:
        """(index into the input's steps, t_start) for the StartTime setting."""
        s = self._s
        if s.start_mode == "first":
            want = None
        elif s.start_mode == "current":
            if self._latched_current is None:
                cur = self.current_time()
                self._latched_current = float(cur) if cur is not None else (in_times[0] if in_times else 0.0)
            want = self._latched_current
        else:
            want = s.start_value
        if not in_times:
            return -1, float(want or 0.0)
        idx = n_obs - 1 if want is None else timesteps.snap_index(in_times, want)
        if idx < n_obs - 1:
            raise RolloutError(
                f"StartTime {want:g} leaves {idx + 1} input step(s) before it but this model needs {n_obs} "
                f"observed frames; start at {in_times[n_obs - 1]:g} or later"
            )
        return idx, float(in_times[idx])

    def RequestUpdateExtent(self, request, inInfo, outInfo):
        in_info = inInfo[0].GetInformationObject(0)
        t_req = timesteps.requested_time(outInfo.GetInformationObject(0))
        if self._gather is None and t_req is not None:
            self._last_requested = t_req
        skip, self._skip_fast = self._skip_fast, False
        self._fast = False
        plan = self._plan
        if not _has_time_steps(in_info):  # (not the whole list: this runs at every time change)
            return 1
        if self._gather is not None:
            timesteps.set_requested_time(in_info, self._gather.todo[0])
        elif plan is None or plan.error is not None or plan.start < 0:
            pass  # the downstream time goes upstream unchanged
        else:
            kind, t_out, k = plan.locate(t_req)
            if kind != "predicted":
                timesteps.set_requested_time(in_info, t_out)  # the input's own step
            elif self._cache_still_valid() and not skip:
                # the cached prediction needs the input only for its mesh and its own arrays: kept
                # with the frame, else the solver's step at this time where it has one, else whatever
                # step the input holds (a reader shown in another view is not re-read for the start
                # frame at every change)
                t_in = None if self._frame_cached(k) else plan.input_step(t_out)
                held = t_in if t_in is not None else _held_time(in_info, plan.in_times)
                self._fast = held is not None
                timesteps.set_requested_time(in_info, held if held is not None else plan.t_start)
            else:
                timesteps.set_requested_time(in_info, plan.t_start)  # the conditioning frame
        return 1

    def _fast_key(self) -> tuple:
        """What the cached rollout depends on besides the input's content: upstream pipeline
        modification time, settings, output times and the model file."""
        alg = self.GetInputAlgorithm(0, 0) if self.GetNumberOfInputConnections(0) else None
        upstream = alg.GetExecutive().GetPipelineMTime() if alg is not None else -1
        try:
            mtime = os.stat(resolve_checkpoint(self._s.checkpoint)).st_mtime_ns
        except (OSError, EchoUserError):
            mtime = -1
        return (upstream, astuple(self._s), tuple(self._plan.out_times) if self._plan else (), mtime)

    def _cache_still_valid(self) -> bool:
        c = self._cache
        return c is not None and c.fast == self._fast_key()

    def RequestData(self, request, inInfo, outInfo):
        request.Remove(sddp.CONTINUE_EXECUTING())  # a pass that needs another sets it again
        ok = self._guard(self._data, request, inInfo, outInfo)
        if not ok:
            request.Remove(sddp.CONTINUE_EXECUTING())  # a failed gather must not loop
            self._pass_through(inInfo, outInfo)
        return 1  # reported once above; a 0 here only adds VTK's own copies of the message

    def _pass_through(self, inInfo, outInfo) -> None:
        inp = vtkDataObject.GetData(inInfo[0], 0)
        out = vtkDataObject.GetData(outInfo, 0)
        if inp is not None and out is not None and out.GetClassName() == inp.GetClassName():
            out.ShallowCopy(inp)

    def _data(self, request, inInfo, outInfo) -> int:
        inp = vtkDataObject.GetData(inInfo[0], 0)
        out = vtkDataObject.GetData(outInfo, 0)
        if inp is None or out is None:
            raise RolloutError("the input is neither a dataset nor a composite dataset")
        plan = self._plan
        if plan is None:
            raise RolloutError("no time information yet (the pipeline's information pass failed)")
        if plan.error is not None:
            raise plan.error
        for kind, text in plan.notes:
            (self._warn if kind == "warn" else self._info)(text)
        plan.notes = []
        t_req = timesteps.requested_time(outInfo.GetInformationObject(0))
        parallel.require_every_piece(inp.GetNumberOfPoints())  # MPI only: every rank holds a part
        if self._gather is not None:
            if not self._collect(request, inp):
                return 1
            return self._serve_prediction(request, inp, out, t_req)
        kind, t_out, _ = plan.locate(t_req)
        if kind != "predicted":
            return self._serve_input(inp, out, t_out)
        if self._fast and self._cache is not None and (self._frame_cached(plan.locate(t_req)[2])
                                                       or self._same_mesh(inp)):
            self._fast = False
            return self._serve_prediction(request, inp, out, t_req)
        if self._fast:  # the held step has another mesh: read the start frame after all
            self._fast, self._skip_fast = False, True
            request.Set(sddp.CONTINUE_EXECUTING(), 1)
            return 1
        mi, used, values = self._read(inp)
        key = self._key(values, inp, used)
        stale = self._cache is None or self._cache.key != key or (
            self._reads_other_steps() and not self._cache_still_valid())
        if parallel.any_rank(stale):  # MPI: all ranks agree
            self._start_gather(request, mi, used, values, key, inp)
            if self._gather is not None:
                return 1
        elif not self._cache_still_valid():  # upstream changed, the start frame did not: same forecast,
            self._cache.forget_frames(self._fast_key())  # new input arrays
        return self._serve_prediction(request, inp, out, t_req)

    def _reads_other_steps(self) -> bool:
        """The cache is keyed on the start step's content; a rollout that also reads other input
        steps as its condition (several observed frames; Interpolate, Reconstruct, Inverse) runs
        again after any upstream change, which may have changed only those steps."""
        plan = self._plan
        return plan is not None and (plan.n_obs > 1 or len(plan.cond) > 1)

    def _same_mesh(self, inp) -> bool:
        mi = self._cache.mi
        used = rollout_input.select_leaves(inp, self._s.block)
        count = (lambda ds: ds.GetNumberOfPoints()) if mi.association == "points" else (lambda ds: ds.GetNumberOfCells())
        return [count(lf.data) for lf in used] == list(mi.sizes)

    # --- reading and gathering --------------------------------------------------------
    def _read(self, inp) -> tuple[rollout_input.ModelInput, list, np.ndarray]:
        sur = self._surrogate()
        layout = [(str(n), int(c)) for n, c in sur.field_layout]
        names = list(self._s.input_arrays) or [n for n, _ in layout]
        if len(names) != len(layout):
            want = ", ".join(f"{n} ({c} comp.)" for n, c in layout)
            raise RolloutError(
                f"InputArrays has {len(names)} array(s) {names} but the model takes {len(layout)}: {want}; "
                f"select one input array per model field, in that order"
            )
        if self._s.task == "sample" and rollout_task.lacks_fields(inp, self._s.block, names):
            mi, used, values = rollout_task.bare_mesh(inp, self._s.block, layout, int(sur.dim))
            self._info(mi.notes[-1])
            return mi, used, values
        self._require_fields(inp)
        mi, used = rollout_input.build(inp, self._s.block, names, layout, self._s.association, int(sur.dim))
        values, notes = rollout_input.read_values(used, mi.specs, mi.association)
        bad = ~np.isfinite(values)
        if bad.any():
            col, names = 0, []
            for spec in mi.specs:
                n_bad = int(bad[:, col : col + spec.model_ncomp].any(axis=1).sum())
                names += [f"{spec.name} ({n_bad} of {values.shape[0]} values)"] if n_bad else []
                col += spec.model_ncomp
            raise RolloutError(f"the input's field(s) {', '.join(names)} hold NaN or infinity; the model cannot "
                               f"start from them: fix the data or cut those cells away (Threshold, Clip)")
        self._notes = mi.notes + notes
        for note in mi.notes:  # how the input was read (slab, vectors): information
            self._info(note)
        for note in notes:  # a non-zero z component dropped: a warning
            self._warn(note)
        return mi, used, values

    def _require_fields(self, inp) -> None:
        lvs = rollout_input.leaves(inp)
        if lvs and not any(lf.data.GetNumberOfPoints() for lf in lvs):
            raise RolloutError(
                "the input is empty (no points) at this time; if it comes from a reader, a file of its "
                "series is missing or unreadable (see the reader's message above): restore it, or remove "
                "that step from the series"
            )
        from .convert import array_names

        if lvs and not any(array_names(lf.data.GetPointData()) or array_names(lf.data.GetCellData()) for lf in lvs):
            raise RolloutError(
                f"the input {inp.GetClassName()} has no point field or cell field; the filter predicts "
                f"fields, so give it a mesh with data (e.g. add one with the Calculator)"
            )

    def _key(self, values: np.ndarray, inp, used) -> tuple:
        path = self._s.checkpoint
        try:
            resolved = resolve_checkpoint(path)
            mtime = os.stat(resolved).st_mtime_ns
        except (OSError, EchoUserError):
            resolved, mtime = path, -1
        plan = self._plan
        params = tuple(sorted((k, u.value) for k, u in self._param_uses(inp, used).items()))
        tgt = self._target()  # Reconstruct: another target mesh is another result
        target = None if tgt is None else rollout_input.content_key(rollout_task.target_input(tgt, [], 3).points)
        return (rollout_input.content_key(values), os.path.abspath(resolved), mtime, astuple(self._s),
                tuple(plan.out_times), params, target)

    def _start_gather(self, request, mi, used, values, key, inp) -> None:
        """Plan the input times still to read: earlier observed frames, then the solver's truth."""
        # a new rollout: an error seen before is news again; warnings already shown stay shown
        # once (ParaView makes many passes while properties are set one by one)
        self._reported = {m for m in self._reported if m in self.warnings}
        plan = self._plan
        cond = plan.in_times[plan.start - plan.n_obs + 1 : plan.start] if plan.start >= 0 else []
        truth_t = []
        if plan.task != "forecast":  # the task's other input steps, then those it is compared with
            cond = [t for t in plan.cond if abs(t - plan.t_start) > plan.tolerance]
            bare = np.isnan(values).all()  # Sample on a mesh without the model's fields: nothing to compare
            truth_t = [] if bare else [t for t in plan.truth_times if t not in cond]
        elif self._s.compare and plan.start >= 0 and plan.n_pred:
            # up to the forecast's end: the input's later steps are no forecast time
            truth_t = comparison.truth_times_needed(plan.in_times, plan.t_start, plan.predicted[-1])
        self._gather = Gather(todo=list(cond) + truth_t, cond_times=list(cond), truth_times=truth_t,
                              start_values=values, key=key, mi=mi, params=self._param_uses(inp, used))
        if self._gather.todo:
            request.Set(sddp.CONTINUE_EXECUTING(), 1)
        else:
            self._finish_gather(request)

    def _collect(self, request, inp) -> bool:
        """One gathering pass: store the input's frame; True once everything is read and rolled out."""
        g = self._gather
        t = g.todo.pop(0)
        if not any(lf.data.GetNumberOfPoints() for lf in rollout_input.leaves(inp)):
            raise RolloutError(
                f"the input is empty at t = {t:g} (no points); a file of its series is missing or unreadable "
                f"(see the reader's message above): restore it, or remove that step from the series"
            )
        used = rollout_input.select_leaves(inp, self._s.block)
        values, _ = rollout_input.read_values(used, g.mi.specs, g.mi.association)
        if values.shape != g.start_values.shape:
            raise RolloutError(f"the input's mesh changes over time (at t = {t:g}: {values.shape[0]} values, "
                               f"at the start {g['start_values'].shape[0]}); the rollout needs one mesh")
        g.frames[t] = values
        k = timesteps.find_step(self._plan.predicted, t, self._plan.tolerance)
        if k is not None:  # the solver's data at a forecast time: kept, so showing it reads nothing
            g.snaps[k] = _snapshot(inp)
        self._progress(0.1 * len(g.frames) / max(1, len(g.frames) + len(g.todo)))
        if g.todo:
            request.Set(sddp.CONTINUE_EXECUTING(), 1)
            return False
        request.Remove(sddp.CONTINUE_EXECUTING())
        self._finish_gather(request)
        return True

    def _finish_gather(self, request) -> None:
        g, plan = self._gather, self._plan
        self._gather = None
        sur = self._surrogate()
        mi = g.mi
        frames = {**g.frames, plan.t_start: g.start_values}
        if plan.task == "forecast":
            observed = np.stack([g.frames[t] for t in g.cond_times] + [g.start_values])
        else:  # the input's values at the task's steps, in time order
            observed = np.stack([frames[t] for t in plan.cond])
        starts = plan.task in ("forecast", "inverse", "interpolate")  # frames a start state is checked on
        tgt = self._target()
        target = None if tgt is None else rollout_task.target_input(tgt, mi.specs, int(sur.dim))
        self._refuse_what_cannot_fit(sur, len(mi.points), len(mi.points if target is None else target.points))
        for w in fitcheck.check_points(mi.points if target is None else target.points, *fitcheck.domain_box(sur)) + (
                check_state(sur, mi.points, observed) if starts else []):
            self._warn(w)
        params = {n: u.value for n, u in g.params.items() if u.source != "training mean"}
        res = self._rollout(sur, mi.points, observed, params, target)
        mean = np.asarray(res.mean, dtype=np.float32)
        if not np.isfinite(mean).all():
            raise RolloutError("the model produced NaN or infinite values; its weights may be damaged (check "
                               "`echopv info` on the model file) or the input holds NaN")
        std = None if res.std is None else np.asarray(res.std, dtype=np.float32)
        truths = [None] * len(plan.predicted)
        if plan.task != "forecast" and self._s.compare and tgt is None:  # only where the input has the step
            truths = rollout_task.exact_truths(plan.predicted, frames, plan.tolerance)
        elif g.truth_times and plan.task == "forecast":  # the start frame: the first interval's left end
            t_series = [plan.t_start] + g.truth_times
            truths = [comparison.truth_at(t_series, [frames[t] for t in t_series], t) for t in plan.predicted]
        self._cache = RolloutCache(key=g.key, mean=mean, std=std, truth=truths, mi=mi, target=target,
                                   fast=self._fast_key())
        for k, snap in g.snaps.items():
            self._keep(self._cache.snaps, k, snap)
        self.after_rollout()
        for t, tr in zip(plan.predicted, truths):
            if tr is not None and tr.interpolated:
                self._warn(f"the input has no step at the predicted times (e.g. {t:.6g}): the truth there is "
                           f"interpolated linearly in time between the input's steps "
                           f"{tr.between[0]:.6g} and {tr.between[1]:.6g}")
                break

    # --- serving frames ---------------------------------------------------------------
    def _serve_input(self, inp, out, t: float) -> int:
        """An input step: at or before t_start the input plus `<field>_pred` = the input; after it
        (an input step that is no forecast time) the input with the forecast's arrays NaN."""
        mi, used, values = self._read(inp)
        self._param_uses(inp, used)  # what a rollout from here would be conditioned on (and checks)
        plan = self._plan
        truth = comparison.Truth(values, False, (t, t))
        if plan.known(t):
            frame = Frame(time=t, is_prediction=False, mean=values, std=np.zeros_like(values), truth=truth)
        else:
            frame = Frame(time=t, is_prediction=False, truth=truth)
        write_frame(inp, out, used, mi, frame, plan.t_start, self._s.n_samples > 1, self._s.compare)
        timesteps.stamp_data_time(out, t)
        return 1

    def _serve_prediction(self, request, inp, out, t_req) -> int:
        c, plan = self._cache, self._plan
        _, t, k = plan.locate(t_req)
        if c.target is not None:  # Reconstruct on the Target mesh: its structure and arrays
            return self._serve_target(request, out, t, k)
        built = c.frames.get(k)
        if built is not None:  # shown before: the same data objects again
            out.ShallowCopy(built)
            timesteps.stamp_data_time(out, t)
            return 1
        t_in = plan.input_step(t)
        if k in c.snaps:  # the solver's data at this time, kept when it was gathered
            inp, holds = c.snaps[k], True
        else:
            held = _data_time(inp)
            holds = t_in is not None and held is not None and abs(held - t_in) <= plan.tolerance
        if t_in is not None and not holds and not self._refetch:
            # the solver has this time: one more pass reads it, so its own arrays are shown
            self._refetch = True
            request.Set(sddp.CONTINUE_EXECUTING(), 1)
            return 1
        self._refetch = False
        used = rollout_input.select_leaves(inp, self._s.block)
        frame = Frame(time=t, is_prediction=True, mean=c.mean[k], std=None if c.std is None else c.std[k],
                      truth=c.truth[k], solver=holds)
        write_frame(inp, out, used, c.mi, frame, plan.t_start, self._s.n_samples > 1, self._s.compare)
        timesteps.stamp_data_time(out, t)
        if t_in is None or holds:  # complete: kept (a frame without the solver's arrays is not)
            self._keep(c.frames, k, _snapshot(out))
        return 1

    def _serve_target(self, request, out, t: float, k: int) -> int:
        c, tgt = self._cache, self._target()
        if tgt is None or out.GetClassName() != tgt.GetClassName():
            raise RolloutError("the Target input changed during the update; apply again")
        held = _data_time(tgt)  # a temporal target passes its arrays through at its own step only
        same = held is None or abs(held - t) <= self._plan.tolerance
        if not same and not self._refetch:  # (one reader feeding both inputs holds one step): read it again
            self._refetch = True
            request.Set(sddp.CONTINUE_EXECUTING(), 1)
            return 1
        self._refetch = False
        frame = Frame(time=t, is_prediction=True, mean=c.mean[k], std=None if c.std is None else c.std[k],
                      solver=same)
        write_frame(tgt, out, rollout_input.select_leaves(tgt, ""), c.target, frame, self._plan.t_start,
                    self._s.n_samples > 1, False)
        timesteps.stamp_data_time(out, t)
        return 1

    def _frame_cached(self, k: int) -> bool:
        """Predicted frame k can be served without the input (built before, or its solver data kept)."""
        c = self._cache
        return c is not None and k >= 0 and (k in c.frames or k in c.snaps)

    def _keep(self, store: dict, k: int, data) -> None:
        """Keep a frame's data object while the cache stays under FRAME_CACHE_KIB."""
        c = self._cache
        kib = int(data.GetActualMemorySize())
        if c.kib + kib <= FRAME_CACHE_KIB:
            store[k] = data
            c.kib += kib

    # --- the model --------------------------------------------------------------------
    def _surrogate(self):
        from echo_model.device import resolve_device

        path = resolve_checkpoint(self._s.checkpoint)
        resolve_device(self._s.device, setting="Device")  # cuda without a GPU: a clear error
        return self.surrogate_loader(path, self._s.device)

    def _param_uses(self, inp, used) -> dict[str, fitcheck.ParamUse]:
        """The model's PDE parameters: the Parameters property, else the input's field data, else
        the training mean; checked against the training range (warnings, or refused)."""
        sur = self._surrogate()
        given = {n: fitcheck.ParamUse(v, "Parameters property") for n, v in parse_parameters(self._s.parameters).items()}
        for name in getattr(sur, "param_names", []) or []:
            found = None if name in given else _field_parameter(inp, used, name)
            if found is not None:
                given[name] = found
        try:
            uses = fitcheck.resolve_parameters(sur, given)
        except fitcheck.FitError as exc:
            raise RolloutError(f"Parameters: {exc}") from None
        for w in fitcheck.parameter_warnings(sur, uses):
            self._warn(w)
        if uses:
            self._info(fitcheck.describe_parameters(uses))
        self.used_parameters = {n: (u.value, u.source) for n, u in uses.items()}
        return uses

    def _refuse_what_cannot_fit(self, sur, n_points: int, n_query: int) -> None:
        """The rollout's memory estimate against MemoryBudget before any work on the mesh: the start-state
        check encodes and decodes a whole frame (ten minutes at 256^3 before the rollout's own check
        refused it). DMD models have no estimate: they hold one matrix of modes."""
        s = self._s
        budget = MemoryBudget.parse(s.memory_budget, where="MemoryBudget")
        # "automatic" is the memory available when the rollout starts: fixed here, so the rollout's own
        # check does not see the start-state check's freed-but-held memory as taken (at 256^3 it refused
        # after ten minutes what this check had accepted)
        self._budget = budget if budget.max_bytes is not None else MemoryBudget(budget.limit())
        plan_of = getattr(sur, "plan", None)
        if plan_of is None:
            return
        plan_of(n_points, n_query, self._n_predicted(), max(1, s.n_samples), keep_samples=False, memory=self._budget)

    def _n_predicted(self) -> int:
        """Frames the model makes: NumberOfFrames for a forecast, the task's own count otherwise."""
        plan = self._plan
        return self._s.n_frames if plan is None or plan.task == "forecast" else len(plan.predicted)

    def _rollout(self, sur, points: np.ndarray, observed: np.ndarray, params: dict[str, float] | None = None,
                 target=None):
        from echo_model.threads import torch_threads

        s, plan = self._s, self._plan
        n = self._n_predicted()
        budget, self._budget = self._budget, None  # fixed by _refuse_what_cannot_fit for this rollout only

        def progress(f: float) -> None:
            self._progress(0.1 + 0.9 * float(f), f"EchoRollout: frame {min(n, int(round(float(f) * n)))}/{n}")

        opts = dict(n_samples=max(1, s.n_samples), seed=s.seed, steps=s.sampling_steps or None, progress=progress,
                    should_abort=lambda: bool(self.GetAbortExecute()), keep_samples=False,
                    memory=budget or MemoryBudget.parse(s.memory_budget, where="MemoryBudget"))
        if plan is None or plan.task == "forecast":
            run = lambda pts, obs: sur.rollout(pts, obs, n_frames=n, params=params or None, **opts)  # noqa: E731
        else:
            run = rollout_task.task_call(sur, plan, n_frames=s.n_frames, params=params or None, opts=opts,
                                         target_points=None if target is None else target.points)
        with torch_threads(max(0, s.n_threads)):
            progress(0.0)
            # under MPI (mpiexec pvbatch/pvserver) rank 0 rolls out the gathered field: parallel.py;
            # a Reconstruct target is not partitioned with the input: this rank predicts on all of it
            res = run(points, observed) if target is not None else parallel.gathered_rollout(run, points, observed)
        self.n_rollouts += 1
        return res

    def _progress(self, fraction: float, text: str | None = None) -> None:
        """UpdateProgress, at most once per PROGRESS_INTERVAL_S and PROGRESS_MIN_STEP of the fraction
        except at the ends (0 and 1): about ten reports per rollout whatever the machine's load."""
        now = time.monotonic()
        if 0.0 < fraction < 1.0 and (now - self._progress_at < self.PROGRESS_INTERVAL_S
                                     or abs(fraction - self._progress_last) < self.PROGRESS_MIN_STEP):
            return
        self._progress_at, self._progress_last = now, fraction
        if text:
            self.SetProgressText(text)
        self.UpdateProgress(fraction)

    def after_rollout(self) -> None:
        """Hook run after each rollout (the ParaView plugin rescales the std colour map here)."""


def _check_settings(s: RolloutSettings) -> None:
    """Caps and ranges the algorithm enforces itself (pvpython bypasses the GUI's domains)."""
    if not 1 <= s.n_frames <= MAX_FRAMES:
        raise RolloutError(f"NumberOfFrames is {s.n_frames}; set it between 1 and {MAX_FRAMES} (longer "
                           f"forecasts: chain a second EchoRollout that starts where this one ends)")
    if not 1 <= s.n_samples <= MAX_SAMPLES:
        raise RolloutError(f"NumberOfSamples is {s.n_samples}; set it between 1 (a single forecast) and "
                           f"{MAX_SAMPLES} (an ensemble with mean and spread)")
    if s.start_mode not in START_MODES:
        raise RolloutError(f"StartTime is {s.start_mode!r}; use one of {', '.join(START_MODES)}")
    if s.association not in rollout_input.ASSOCIATIONS:
        raise RolloutError(f"FieldAssociation is {s.association!r}; use one of "
                           f"{', '.join(rollout_input.ASSOCIATIONS)}")
    if s.sampling_steps < 0 or s.n_threads < 0:
        raise RolloutError("SamplingSteps and NumberOfThreads must be 0 (default) or more")
    rollout_task.parse_task(s.task)


def _held_time(in_info, in_times: Sequence[float]) -> float | None:
    """The input step the upstream output currently holds (None when unknown)."""
    data = in_info.Get(vtkDataObject.DATA_OBJECT())
    if data is None or not data.GetInformation().Has(vtkDataObject.DATA_TIME_STEP()):
        return None
    t = float(data.GetInformation().Get(vtkDataObject.DATA_TIME_STEP()))
    tol = timesteps.time_tolerance(list(in_times) + [t])
    # vectorised: this runs at every time change (a Python loop over 241 steps was 1 ms of a step)
    return t if timesteps.find_step(in_times, t, tol) is not None else None


def _has_time_steps(info) -> bool:
    return bool(info.Has(sddp.TIME_STEPS())) and info.Length(sddp.TIME_STEPS()) > 0


def _snapshot(data):
    """A copy of a dataset or composite that shares the arrays but owns its containers, so later
    pipeline passes (which refill the original's) leave it as it is."""
    copy = data.NewInstance()
    if isinstance(data, vtkDataSet):
        copy.ShallowCopy(data)
    else:
        copy.CopyStructure(data)
        copy.GetFieldData().ShallowCopy(data.GetFieldData())
        for leaf in rollout_input.leaves(data):
            new = leaf.data.NewInstance()
            new.ShallowCopy(leaf.data)
            rollout_input.set_leaf(copy, leaf.index, new)
    if data.GetInformation().Has(vtkDataObject.DATA_TIME_STEP()):
        copy.GetInformation().Set(vtkDataObject.DATA_TIME_STEP(), data.GetInformation().Get(vtkDataObject.DATA_TIME_STEP()))
    return copy


def _data_time(data) -> float | None:
    info = data.GetInformation()
    return float(info.Get(vtkDataObject.DATA_TIME_STEP())) if info.Has(vtkDataObject.DATA_TIME_STEP()) else None


def _field_parameter(inp, used, name: str) -> fitcheck.ParamUse | None:
    """param_<name> from the input's field data (root, then the used leaves); strings parsed."""
    holders = [inp] + [lf.data for lf in used]
    for ds in holders:
        fd = ds.GetFieldData() if ds is not None else None
        arr = fd.GetAbstractArray(f"param_{name}") if fd is not None else None
        if arr is None or arr.GetNumberOfTuples() < 1:
            continue
        source = f"input field data param_{name}"
        if hasattr(arr, "GetTuple1"):
            return fitcheck.ParamUse(float(arr.GetTuple1(0)), source)
        text = str(arr.GetVariantValue(0).ToString())
        try:
            return fitcheck.ParamUse(float(text), source + " (stored as text)")
        except ValueError:
            raise RolloutError(
                f"field data param_{name} holds the text {text!r}, not a number; store a number there or "
                f"set {name}=<value> in Parameters"
            ) from None
    return None


def parse_parameters(text: str) -> dict[str, float]:
    """ "nu=2.4e-4, Re=100" (commas, semicolons or spaces between pairs) -> {"nu": 2.4e-4, "Re": 100.0}."""
    out: dict[str, float] = {}
    for item in re.split(r"[,;\s]+", text.strip()):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise RolloutError(
                f"Parameters: cannot read {item!r}; write name=value pairs such as 'nu=1e-3, Re=100'"
            ) from None
    return out

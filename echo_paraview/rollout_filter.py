"""EchoRolloutAlgorithm: a temporal VTK filter that runs an ECHO surrogate rollout.

Undecorated, so it works in plain VTK (``alg = EchoRolloutAlgorithm(); alg.SetInputConnection(...)``)
as well as behind the thin decorated subclass in ``plugins/EchoPlugin.py``.

Input: any vtkDataSet with the model's point field(s) (by name, or chosen with InputArrays).
Output: the same dataset type, a shallow copy of the input plus, per model field,
``<name>_pred`` (and ``<name>_std`` when NumberOfSamples > 1), as a TEMPORAL dataset:

    time steps = t_ic + k * dt, k = 0 .. NumberOfFrames
    t_ic = the input time of the initial condition (0 for a static input), dt = the model's dt.
    Step 0 holds the initial condition itself (``_pred`` = the input, ``_std`` = 0), so the
    animation starts from what the model was given.

The whole rollout is computed once in RequestData and cached, keyed by the input's modification
time, the checkpoint's path + mtime and every setting; scrubbing time only re-slices the cache.
Any failure is reported as a VTK error naming the problem and the fix (ParaView's Output
Messages, stderr in pvpython, ``last_error`` here) and RequestData returns 0: nothing raises.

Observed frames: a model that needs 1 observed frame uses the input's first time step (or the
static input). A model that needs n > 1 gathers the input's first n time steps (one upstream
pass each, CONTINUE_EXECUTING) and errors clearly when the input has fewer.
"""
from __future__ import annotations

from echo_model.errors import EchoUserError

import os
import re
import traceback
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase
from vtkmodules.vtkCommonCore import vtkCommand, vtkOutputWindow
from vtkmodules.vtkCommonDataModel import vtkDataSet
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline as sddp

from . import convert, timesteps


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


class RolloutError(EchoUserError):
    """A problem the user can fix; the message names the problem and the fix."""


def _load_surrogate(path: str, device: str):
    # torch is imported only here, when a rollout actually runs: a broken torch install must not
    # stop ParaView from registering the filter.
    try:
        from echo_model.rollout import Surrogate
    except ImportError as exc:
        raise RolloutError(
            f"cannot import the ECHO model code ({exc}); start ParaView with `echopv paraview` "
            f"(it puts the venv with torch on ParaView's path) or run `bash scripts/setup.sh`"
        ) from exc
    return Surrogate.load(path, device=device)


class EchoRolloutAlgorithm(VTKPythonAlgorithmBase):
    """Temporal surrogate rollout filter; see the module docstring."""

    #: how the model is loaded: (checkpoint path, device) -> Surrogate. Replaceable for tests.
    surrogate_loader = staticmethod(_load_surrogate)

    def __init__(self) -> None:
        VTKPythonAlgorithmBase.__init__(
            self, nInputPorts=1, inputType="vtkDataSet", nOutputPorts=1, outputType="vtkDataSet"
        )
        self._s = RolloutSettings()
        self._cache: dict[str, Any] | None = None  # one rollout: key, times, per-step arrays
        self._out_times: list[float] = []
        self._gather: list[np.ndarray] | None = None  # observed frames collected so far
        self._gather_times: list[float] = []
        self.last_error: str | None = None
        self.n_rollouts = 0  # how many times the model actually ran (tests check the cache)
        self.used_parameters: dict[str, tuple[float, str]] = {}

    # --- properties -------------------------------------------------------------------
    def _set(self, **kw: Any) -> None:
        new = RolloutSettings(**{**self._s.__dict__, **kw})
        if new != self._s:
            self._s = new
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

    def SetParameters(self, text: str | None) -> None:
        """PDE parameters as "name=value" pairs ("nu=2.4e-4, Re=100"). Empty: read them from the
        input's field data (`param_<name>` arrays, written by `echopv export` and the .pvd writer);
        a parameter found in neither place takes its training mean."""
        self._set(parameters=str(text or "").strip())

    def GetParameters(self) -> str:
        return self._s.parameters

    def GetUsedParameters(self) -> dict[str, tuple[float, str]]:
        """What the last rollout was conditioned on: name -> (value, source)."""
        return dict(self.used_parameters)

    def GetTimestepValues(self) -> list[float]:
        """Output time steps (what ParaView's TimeKeeper shows)."""
        return list(self._out_times)

    def ClearCache(self) -> None:
        self._cache = None
        self.Modified()

    # --- error reporting --------------------------------------------------------------
    def _report(self, problem: str) -> None:
        """vtkErrorMacro equivalent: output window + ErrorEvent; never raises."""
        self.last_error = problem
        text = f"ERROR: In EchoRollout: {problem}\n"
        try:
            vtkOutputWindow.GetInstance().DisplayErrorText(text)
            self.InvokeEvent(vtkCommand.ErrorEvent, text)
        except Exception:  # the report itself must never take ParaView down
            pass

    def _guard(self, fn, *args) -> int:
        try:
            return fn(*args)
        except (RolloutError, ValueError, KeyError, FileNotFoundError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            self._report(str(msg))
        except Exception as exc:  # an internal bug: still a message, not a crash
            tb = traceback.format_exc(limit=6)
            self._report(f"unexpected {type(exc).__name__}: {exc}\n{tb}(please report this with the traceback)")
        self._gather = None
        return 0

    # --- pipeline ---------------------------------------------------------------------
    def RequestDataObject(self, request, inInfo, outInfo):
        return convert.output_like_input(inInfo, outInfo)

    def RequestInformation(self, request, inInfo, outInfo):
        return self._guard(self._information, inInfo, outInfo)

    def _information(self, inInfo, outInfo) -> int:
        self.last_error = None
        out_info = outInfo.GetInformationObject(0)
        self._out_times = []
        timesteps.clear_time_steps(out_info)
        if not self._s.checkpoint:
            # Nothing to announce yet; RequestData reports what is missing.
            return 1
        sur = self._surrogate()
        in_times = timesteps.time_steps(inInfo[0].GetInformationObject(0))
        n_obs = int(sur.n_observed_frames)
        if n_obs > 1 and len(in_times) < n_obs:
            raise RolloutError(
                f"this model needs {n_obs} observed frames but the input has "
                f"{len(in_times) or 'no'} time steps; feed a temporal input (e.g. a .pvd series) "
                f"with at least {n_obs} frames, or use a model trained with 1 observed frame"
            )
        if self._s.n_frames < 1:
            raise RolloutError(f"NumberOfFrames is {self._s.n_frames}; set it to 1 or more")
        t_ic = in_times[n_obs - 1] if in_times else 0.0
        self._out_times = [t_ic + k * float(sur.dt) for k in range(self._s.n_frames + 1)]
        timesteps.announce_time_steps(out_info, self._out_times)
        return 1

    def RequestUpdateExtent(self, request, inInfo, outInfo):
        in_info = inInfo[0].GetInformationObject(0)
        in_times = timesteps.time_steps(in_info)
        if not in_times:
            return 1
        if self._gather is not None and len(self._gather) < len(self._gather_times):
            # gathering observed frames: ask for the next one
            timesteps.set_requested_time(in_info, self._gather_times[len(self._gather)])
        else:
            # pin the input to the initial condition whatever time is asked downstream
            timesteps.set_requested_time(in_info, in_times[max(0, self._n_obs_hint() - 1)])
        return 1

    def _n_obs_hint(self) -> int:
        c = self._cache
        if c is not None:
            return int(c["n_obs"])
        try:
            return int(self._surrogate().n_observed_frames) if self._s.checkpoint else 1
        except Exception:
            return 1

    def RequestData(self, request, inInfo, outInfo):
        ok = self._guard(self._data, request, inInfo, outInfo)
        if not ok:
            request.Remove(sddp.CONTINUE_EXECUTING())  # a failed gather must not loop
        return ok

    def _data(self, request, inInfo, outInfo) -> int:
        inp = vtkDataSet.GetData(inInfo[0], 0)
        out = vtkDataSet.GetData(outInfo, 0)
        out_info = outInfo.GetInformationObject(0)
        if inp is None or out is None:
            raise RolloutError("the input is not a vtkDataSet (composite inputs: apply Merge Blocks first)")
        if not self._s.checkpoint:
            raise RolloutError("no model file: set Checkpoint to an ECHO model (.safetensors, from `echopv train dit`)")
        if not convert.point_field_names(inp):
            raise RolloutError(
                f"the input {inp.GetClassName()} has no point field; the filter predicts point "
                f"fields, so give it a mesh with point data (e.g. add one with the Calculator, or "
                f"convert cell data with Cell Data to Point Data)"
            )
        in_info = inInfo[0].GetInformationObject(0)
        key = self._cache_key(inp)
        if self._cache is None or self._cache["key"] != key:
            done = self._compute(request, inp, in_info, key)
            if not done:  # still gathering observed frames
                return 1
        c = self._cache
        t_req = timesteps.requested_time(out_info)
        k = timesteps.snap_index(c["times"], t_req)
        out.ShallowCopy(inp)
        for name, values in c["steps"][k].items():
            convert.add_array(out, name, values)
        timesteps.stamp_data_time(out, c["times"][k])
        return 1

    # --- the rollout ------------------------------------------------------------------
    def _surrogate(self):
        path = self._s.checkpoint
        if not Path(path).is_file():
            raise RolloutError(f"Checkpoint {path!r} does not exist; pick an ECHO model file (.safetensors)")
        if self._s.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise RolloutError(
                    f"Device is {self._s.device!r} but this torch ({torch.__version__}) sees no CUDA GPU; "
                    f"set Device to auto or cpu, or install a CUDA build of torch "
                    f"(ECHOPV_TORCH_INDEX_URL, see scripts/setup.sh)"
                )
        return self.surrogate_loader(path, self._s.device)

    def _cache_key(self, inp) -> tuple:
        path = self._s.checkpoint
        mtime = os.stat(path).st_mtime_ns if os.path.exists(path) else -1
        return (inp.GetMTime(), os.path.abspath(path), mtime, astuple(self._s))

    def _match_arrays(self, inp, sur) -> tuple[list[str], list[tuple[str, int]]]:
        """Input array names in model-channel order, and the model's layout."""
        layout = [(str(n), int(c)) for n, c in sur.field_layout]
        available = convert.point_field_names(inp)
        names = list(self._s.input_arrays) or [n for n, _ in layout]
        want = ", ".join(f"{n} ({c} comp.)" for n, c in layout)
        if len(names) != len(layout):
            raise RolloutError(
                f"InputArrays has {len(names)} array(s) {names} but the model takes {len(layout)}: {want}; "
                f"select one input array per model field, in that order"
            )
        pd = inp.GetPointData()
        for name, (mname, ncomp) in zip(names, layout):
            arr = pd.GetArray(name)
            if arr is None:
                raise RolloutError(
                    f"the input has no point array {name!r} (it has {available}); the model needs {want}: "
                    f"rename the input's arrays or choose them with InputArrays"
                )
            if arr.GetNumberOfComponents() != ncomp:
                raise RolloutError(
                    f"point array {name!r} has {arr.GetNumberOfComponents()} component(s) but model field "
                    f"{mname!r} has {ncomp}; choose a matching array with InputArrays"
                )
        return names, layout

    def _compute(self, request, inp, in_info, key) -> bool:
        """Run (or continue gathering for) the rollout; True once the cache is filled."""
        sur = self._surrogate()
        names, layout = self._match_arrays(inp, sur)
        n_obs = int(sur.n_observed_frames)
        values, _ = convert.get_fields(inp, names)
        in_times = timesteps.time_steps(in_info)
        if n_obs > 1:
            if self._gather is None:
                self._gather, self._gather_times = [], list(in_times[:n_obs])
                request.Set(sddp.CONTINUE_EXECUTING(), 1)
                return False  # RequestUpdateExtent now walks the first n_obs input steps
            self._gather.append(values)
            self.UpdateProgress(0.1 * len(self._gather) / n_obs)
            if len(self._gather) < n_obs:
                request.Set(sddp.CONTINUE_EXECUTING(), 1)
                return False
            request.Remove(sddp.CONTINUE_EXECUTING())
            observed = np.stack(self._gather)
            self._gather = None
            key = self._cache_key(inp)  # the input now holds the pinned (last observed) frame
        else:
            observed = values[None]
        points = convert.get_points(inp, int(sur.dim))
        res = self._rollout(sur, points, observed, self._parameters(inp, sur))
        self._cache = self._to_cache(key, observed, res, layout, names, n_obs, in_times, float(sur.dt))
        return True

    def _parameters(self, inp, sur) -> dict[str, float]:
        """The model's PDE parameters: the Parameters property, else the input's field data."""
        names = list(getattr(sur, "param_names", []) or [])
        given = parse_parameters(self._s.parameters)
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise RolloutError(
                f"Parameters names {unknown}, but this model is conditioned on {names or 'no parameters'}; "
                f"write only those (e.g. {', '.join(f'{n}=...' for n in names) or 'leave it empty'})"
            )
        used: dict[str, tuple[float, str]] = {}
        fd = inp.GetFieldData()
        for name in names:
            arr = fd.GetArray(f"param_{name}") if fd is not None else None
            if name in given:
                used[name] = (given[name], "Parameters property")
            elif arr is not None and arr.GetNumberOfTuples() >= 1:
                used[name] = (float(arr.GetTuple1(0)), f"input field data param_{name}")
        means = dict(zip(names, getattr(sur, "param_mean", [])))
        self.used_parameters = {
            **{n: (float(means[n]), "training mean") for n in names if n not in used and n in means},
            **used,
        }
        return {n: v for n, (v, _) in used.items()}

    def _rollout(self, sur, points: np.ndarray, observed: np.ndarray, params: dict[str, float] | None = None):
        s = self._s
        old_threads = None
        if s.n_threads > 0:
            import torch

            old_threads = torch.get_num_threads()
            torch.set_num_threads(s.n_threads)
        try:
            self.UpdateProgress(0.0)
            res = sur.rollout(
                points,
                observed,
                n_frames=s.n_frames,
                params=params or None,
                n_samples=max(1, s.n_samples),
                seed=s.seed,
                steps=s.sampling_steps or None,
                progress=lambda f: self.UpdateProgress(float(f)),
                should_abort=lambda: bool(self.GetAbortExecute()),
            )
        finally:
            if old_threads is not None:
                import torch

                torch.set_num_threads(old_threads)
        self.n_rollouts += 1
        return res

    def _to_cache(self, key, observed, res, layout, names, n_obs, in_times, dt) -> dict:
        t_ic = in_times[n_obs - 1] if in_times else 0.0
        times = [t_ic] + [t_ic + float(t) for t in np.asarray(res.times).reshape(-1)]
        steps: list[dict[str, np.ndarray]] = []
        frames = [observed[-1]] + [res.mean[i] for i in range(res.mean.shape[0])]
        stds = None
        if res.std is not None:
            stds = [np.zeros_like(observed[-1])] + [res.std[i] for i in range(res.std.shape[0])]
        for k, frame in enumerate(frames):
            arrays: dict[str, np.ndarray] = {}
            start = 0
            for name, (_, ncomp) in zip(names, layout):
                sl = slice(start, start + ncomp)
                arrays[f"{name}_pred"] = _squeeze(frame[:, sl])
                if stds is not None:
                    arrays[f"{name}_std"] = _squeeze(stds[k][:, sl])
                start += ncomp
            steps.append(arrays)
        self._out_times = times
        return {"key": key, "times": times, "steps": steps, "n_obs": n_obs}


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


def _squeeze(block: np.ndarray) -> np.ndarray:
    block = np.ascontiguousarray(block, dtype=np.float32)
    return block[:, 0] if block.shape[1] == 1 else block

"""EchoTrainAlgorithm: start and watch ECHO training from a VTK/ParaView pipeline.

Undecorated, so it works in plain VTK as well as behind the thin decorated subclass in
``plugins/EchoPlugin.py``. The filter NEVER trains in the pipeline: RequestData runs on
ParaView's GUI thread, so it only passes the input through (ShallowCopy). Training runs in a
detached `echopv train all` process (echo_paraview/training.py):

    Start()    if Dataset is empty, gather every time step of the input into one trajectory and
               write RUN/dataset.h5; then spawn the training process and return at once.
    Refresh()  re-read the run's pipeline.json / progress.json: GetStatus(), GetModelPath().
    Stop()     stop the training process.

Errors (no training python, no point field, too few time steps, ...) go to the Status string
and VTK's error output (ParaView's Output Messages); nothing raises into ParaView.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase
from vtkmodules.vtkCommonDataModel import vtkCompositeDataSet, vtkDataObject, vtkDataSet
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline as sddp

from echo_model.train.layout import EXPORTED_DATASET, LOG
from echo_model.train.runs import MIN_FRAMES

from . import convert, rollout_input, timesteps
from .io.time_range import select_time_range
from .training import TrainingError, TrainingJob, TrainSettings, export_training_dataset
from .vtk_messages import VTKMessages, failure_text


@dataclass(frozen=True)
class TrainFilterSettings:
    dataset: str = ""  # an existing ECHO .h5; empty: export the input's time series
    run_directory: str = ""
    block: str = ""  # composite inputs (the OpenFOAM reader): "" merges every leaf, as EchoRollout's Block
    time_range: str = ""  # the input's steps exported: "start, end" (inclusive; parsed at Start)
    train: TrainSettings = TrainSettings()


def merged_leaves(data: vtkDataObject, block: str = "") -> vtkDataSet:
    """A dataset, or a composite's leaves (one block by name/path, or all) merged into one
    unstructured grid, as EchoRollout's Block property reads them."""
    if isinstance(data, vtkDataSet):
        return data
    if not isinstance(data, vtkCompositeDataSet):
        raise TrainingError(f"the input is a {data.GetClassName() if data else 'missing data set'}, not a data set "
                            "or a multiblock; connect a temporal data set (e.g. a reader)")
    from vtkmodules.vtkFiltersCore import vtkAppendFilter

    append = vtkAppendFilter()
    append.MergePointsOn()  # leaves that share their boundary points become one mesh
    for leaf in rollout_input.select_leaves(data, block):
        append.AddInputData(leaf.data)
    append.Update()
    return append.GetOutput()


def parse_time_range(text: str) -> tuple[float | None, float | None]:
    """EchoTrain's TimeRange: "start, end", "start," or ", end" (inclusive; empty: every step)."""
    text = str(text or "").strip()
    if not text:
        return None, None
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError(text)
        bounds = tuple(float(p) if p else None for p in parts)
    except ValueError:
        raise TrainingError(f"TimeRange {text!r}: write 'start, end' in the input's time units (e.g. '2, 30'; "
                            "'2,' from t = 2 on, ', 30' up to t = 30; empty: every time step)") from None
    if None not in bounds and bounds[1] < bounds[0]:
        raise TrainingError(f"TimeRange {text!r}: the end is before the start; write 'start, end' with start <= end")
    return bounds


def gather_time_series(producer, port: int = 0, block: str = "",
                       time_range: tuple[float | None, float | None] = (None, None)
                       ) -> tuple[list[vtkDataSet], list[float]]:
    """Every time step of an algorithm's output port inside `time_range`, deep-copied (the producer
    is re-executed); a composite output is merged per step (`merged_leaves`)."""
    producer.UpdateInformation()
    info = producer.GetOutputInformation(port)
    times = timesteps.time_steps(info)
    if times and time_range != (None, None):
        times = [times[i] for i in select_time_range(np.asarray(times), *time_range, where="EchoTrain's input")]
    frames: list[vtkDataSet] = []
    for t in times:
        if port == 0:
            producer.UpdateTimeStep(t)
        else:
            info.Set(sddp.UPDATE_TIME_STEP(), t)
            producer.Update(port)
        try:
            ds = merged_leaves(producer.GetOutputDataObject(port), block)
        except rollout_input.InputError as exc:
            raise TrainingError(str(exc)) from None
        copy = ds.NewInstance()
        copy.DeepCopy(ds)
        frames.append(copy)
    return frames, times


class EchoTrainAlgorithm(VTKMessages, VTKPythonAlgorithmBase):
    """Pass-through filter with Start/Refresh/Stop commands for out-of-process training.

    Parameters
    ----------
    Dataset : str, default ""
        An ECHO dataset (.h5) to train on (`SetDataset`); empty: Start exports the input's time
        series to `RUN/dataset.h5` first.
    RunDirectory : str
        The run folder (`SetRunDirectory`); the finished model appears there as
        `model.safetensors` (`GetModelPath`).
    Block : str, default ""
        Composite inputs (the OpenFOAM reader's multiblock): the block trained on; empty merges
        every leaf into one mesh per step (`SetBlock`), as EchoRollout reads it.
    Preset : str, default "tiny"
        Model size preset (`SetPreset`).
    AESteps, RefineSteps, DiTSteps : int
        Optimisation steps of the three stages (`SetAESteps`, `SetRefineSteps`, `SetDiTSteps`);
        RefineSteps 0 skips stage 2.
    Threads : int
        torch CPU threads of the training process (`SetThreads`).
    Frames : int, default 0
        Window length 1 + 2k; 0 = the preset's, shortened to the data (`SetFrames`).
    ExtraArguments : str
        More `echopv train all` options, e.g. "--grid 16 --n-query 256" (`SetExtraArguments`).

    Commands: `Start()` (returns at once; False on an error), `Refresh()` (re-reads the run's
    status, returns the Status string), `Stop()`. `GetState()` is "idle", "running", "done",
    "failed" or "stopped". Errors go to the Status string, the VTK output window and `last_error`.

    Example
    -------
    >>> import tempfile
    >>> train = EchoTrainAlgorithm()
    >>> train.SetDataset("sample_cases/ns2d_vorticity/ns2d_64.h5")
    >>> train.SetRunDirectory(tempfile.mkdtemp())
    >>> train.SetAESteps(300)
    >>> train.SetDiTSteps(600)
    >>> train.GetSettings().train.ae_steps, train.GetState(), train.GetModelPath()
    (300, 'idle', '')
    """

    messages_from = "EchoTrain"

    def __init__(self) -> None:
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=1, inputType="vtkDataObject", nOutputPorts=1,
                                        outputType="vtkDataObject")
        self._s = TrainFilterSettings()
        self._job: TrainingJob | None = None
        self._status_text = "idle: set RunDirectory (and Dataset, or feed a temporal input) and press Start"
        self._model = ""
        self._skill: list[str] = []
        self.last_error: str | None = None

    def FillInputPortInformation(self, port, info):
        return rollout_input.accept_datasets_and_composites(info)

    def SetInputData(self, data: vtkDataObject) -> None:
        """Plain-VTK convenience (vtkAlgorithm only has SetInputDataObject)."""
        self.SetInputDataObject(0, data)

    # --- properties (no Modified(): they do not change the pass-through output) -------------
    def _set(self, **kw: Any) -> None:
        self._s = replace(self._s, **kw)

    def _set_train(self, **kw: Any) -> None:
        self._s = replace(self._s, train=replace(self._s.train, **kw))

    def SetDataset(self, path: str | None) -> None:
        self._set(dataset=str(path or ""))

    def GetDataset(self) -> str:
        return self._s.dataset

    def SetRunDirectory(self, path: str | None) -> None:
        self._set(run_directory=str(path or ""))

    def GetRunDirectory(self) -> str:
        return self._s.run_directory

    def SetBlock(self, block: str | None) -> None:
        """Composite inputs: the block trained on, by name or path; empty merges every leaf."""
        self._set(block=str(block or "").strip())

    def SetTimeRange(self, text: str | None) -> None:
        """The input's steps to train on: "start, end" (inclusive, either side may be empty); empty: all.
        The rest of a run stays out of the dataset, to compare the forecast with (the own-run workflow)."""
        self._set(time_range=str(text or "").strip())  # checked at Start, where errors reach the Status

    def SetPreset(self, preset: str) -> None:
        self._set_train(preset=str(preset or "tiny"))

    def SetAESteps(self, n: int) -> None:
        self._set_train(ae_steps=int(n))

    def SetRefineSteps(self, n: int) -> None:
        self._set_train(refine_steps=int(n))

    def SetDiTSteps(self, n: int) -> None:
        self._set_train(dit_steps=int(n))

    def SetThreads(self, n: int) -> None:
        self._set_train(threads=int(n))

    def SetFrames(self, n: int) -> None:
        """Window length 1 + 2k; 0 = the preset's, shortened to the data."""
        self._set_train(frames=int(n))

    def SetExtraArguments(self, args: str | list[str] | None) -> None:
        """Extra `echopv train all` arguments, e.g. "--grid 16 --n-query 256"."""
        parts = args.split() if isinstance(args, str) else list(args or ())
        self._set_train(extra_args=tuple(parts))

    def GetSettings(self) -> TrainFilterSettings:
        return self._s

    def GetStatus(self) -> str:
        return self._status_text

    def GetModelPath(self) -> str:
        return self._model

    def GetState(self) -> str:
        return self._job.status().state if self._job is not None else "idle"

    # --- errors -----------------------------------------------------------------------
    def _report(self, problem: str) -> None:
        self._status_text = f"error: {problem}"
        VTKMessages._report(self, problem)

    def _guard(self, fn) -> bool:
        try:
            fn()
            return True
        except Exception as exc:  # user errors name their fix; a bug keeps its traceback; never a crash
            self._report(failure_text(exc))
        return False

    # --- commands ---------------------------------------------------------------------
    def Start(self) -> bool:
        """Export the input if needed and spawn training; returns at once (False on an error)."""
        return self._guard(self._start)

    def _start(self) -> None:
        self.last_error = None
        s = self._s
        if not s.run_directory:
            raise TrainingError("RunDirectory is empty; set it to a folder for the run (the model appears there as "
                                "model.safetensors)")
        run = Path(s.run_directory).expanduser().resolve()
        from .training import training_python

        training_python()  # fail before a possibly long export when there is no interpreter
        if self._job is None or self._job.run_dir != run:
            self._job = TrainingJob(run)
        if self._job.running() and self._job.status().state not in ("done", "failed"):
            # before the export: the running job reads RUN/dataset.h5
            raise TrainingError(f"training is already running in {run}; press Stop first (Start continues it)")
        if s.dataset:
            data = Path(s.dataset).expanduser()
            if not data.is_file():
                raise TrainingError(f"Dataset {str(data)!r} does not exist; pick an ECHO dataset (.h5, from "
                                    "`echopv import`) or leave Dataset empty to export the input's time series")
        else:
            data = run / EXPORTED_DATASET
            self._export_input(data)
        pid = self._job.start(data, run, s.train)
        self._model = ""
        self._status_text = f"started (pid {pid}): training on {data}, log {run / LOG}"
        self._say(self._status_text)

    def _export_input(self, path: Path) -> None:
        conn = self.GetInputConnection(0, 0) if self.GetNumberOfInputConnections(0) else None
        if conn is None:
            raise TrainingError("no input: connect a temporal data set (e.g. a .pvd reader) or set Dataset")
        frames, times = gather_time_series(conn.GetProducer(), conn.GetIndex(), self._s.block,
                                           parse_time_range(self._s.time_range))
        if len(frames) < MIN_FRAMES:
            raise TrainingError(f"the input has {len(frames) or 'no'} time step(s); training needs a time series of "
                                f"at least {MIN_FRAMES} steps: open a temporal data set (e.g. a .pvd / .vtu series) or set "
                                "Dataset to an ECHO .h5")
        if not convert.point_field_names(frames[0]):
            raise TrainingError(f"the input {frames[0].GetClassName()} has no point field to learn; add one "
                                "(e.g. with the Calculator) or convert cell data with Cell Data to Point Data")
        traj = convert.dataset_to_trajectory(frames, times=times, metadata={"source": "ParaView EchoTrain"})
        if not _same_data(path, traj):  # unchanged input: keep the file, so Start resumes the run
            export_training_dataset([traj], path)

    def Refresh(self) -> str:
        """Re-read the run's status; returns the Status string."""
        def refresh() -> None:
            if self._job is None:
                if not self._s.run_directory:
                    return
                self._job = TrainingJob(Path(self._s.run_directory).expanduser().resolve())
            st = self._job.status()
            self._status_text = st.text
            if st.state == "failed" and st.log_tail and not st.error:
                self._status_text += " | " + " | ".join(st.log_tail[-3:])
            self._model = st.model if st.state == "done" else ""
            self._skill = st.skill

        model_before = self._model
        if self._guard(refresh):
            self.last_error = None
            self._say(f"Refresh: {self._status_text}")  # every press answers, in Output Messages
            if self._model and self._model != model_before:
                self._say(f"the model is ready: {self._model}. Apply EchoRollout to the data with Checkpoint set "
                          f"to this file or to the run folder {self._s.run_directory}")
                if len(self._skill) > 1:
                    self._say("\n".join(self._skill[1:]))  # the full report; Status holds its summary
        return self._status_text

    def _say(self, text: str) -> None:
        """A report the user asked for (Start, Refresh, Stop): a warning-level message, so ParaView
        opens Output Messages (plain text does not)."""
        self._show_warning(text)

    def Stop(self) -> None:
        """Stop the training process; says what happened (also when nothing was running)."""
        def stop() -> None:
            if self._job is None and self._s.run_directory:
                self._job = TrainingJob(Path(self._s.run_directory).expanduser().resolve())
            if self._job is None or not self._job.running():
                state = self._job.status().text if self._job is not None else "idle"
                self._say(f"Stop: no training is running ({state})")
                return
            self._job.stop()
            st = self._job.status()
            self._status_text, self._model = st.text, (st.model if st.state == "done" else "")
            self._say(f"Stop: {self._status_text}")

        self._guard(stop)

    # --- pipeline: pass-through only ---------------------------------------------------------
    def RequestDataObject(self, request, inInfo, outInfo):
        inp = vtkDataObject.GetData(inInfo[0], 0)
        out = vtkDataObject.GetData(outInfo, 0)
        if inp is not None and (out is None or out.GetClassName() != inp.GetClassName()):
            outInfo.GetInformationObject(0).Set(vtkDataObject.DATA_OBJECT(), inp.NewInstance())
        return 1

    def RequestData(self, request, inInfo, outInfo):
        inp = vtkDataObject.GetData(inInfo[0], 0)
        out = vtkDataObject.GetData(outInfo, 0)
        if inp is not None and out is not None and out.GetClassName() == inp.GetClassName():
            out.ShallowCopy(inp)
        return 1



def _same_data(path: Path, traj) -> bool:
    """True when `path` already holds exactly this one trajectory (points, times, fields, layout)."""
    if not path.is_file():
        return False
    try:
        import numpy as np
        from echo_model.data.store import TrajectoryStore

        with TrajectoryStore(path) as store:
            if len(store) != 1 or [tuple(x) for x in store.info.field_layout] != [tuple(x) for x in traj.field_layout]:
                return False
            return (np.array_equal(store.points(0), traj.points) and np.array_equal(store.times(0), traj.times)
                    and np.array_equal(store.read_fields(0), traj.fields))
    except Exception:  # unreadable: rewrite it
        return False

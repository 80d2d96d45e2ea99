"""EchoTrainAlgorithm in plain VTK: Start spawns a real `echopv train all`, Refresh watches it.

A tiny temporal source (a planar 10x10 grid, 7 time steps of a travelling wave) feeds the filter;
training uses tiny step counts so the whole job takes seconds.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkCommonDataModel import vtkUnstructuredGrid

from echo_paraview import convert, timesteps
from echo_paraview.train_filter import EchoTrainAlgorithm

TIMES = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]


class WaveSource(VTKPythonAlgorithmBase):
    """Temporal planar unstructured grid with point field `w` (or no field / one step, for errors)."""

    def __init__(self, times=TIMES, with_field=True, n=10):
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=0, nOutputPorts=1, outputType="vtkUnstructuredGrid")
        self.times, self.with_field, self.n = list(times), with_field, n
        self.requested: list[float] = []

    def RequestInformation(self, request, inInfo, outInfo):
        if self.times:
            timesteps.announce_time_steps(outInfo.GetInformationObject(0), self.times)
        return 1

    def RequestData(self, request, inInfo, outInfo):
        info = outInfo.GetInformationObject(0)
        t = timesteps.requested_time(info) or 0.0
        self.requested.append(t)
        x = (np.arange(self.n) + 0.5) / self.n
        xx, yy = np.meshgrid(x, x)
        pts = np.stack([xx.ravel(), yy.ravel(), np.zeros(self.n * self.n)], 1)
        fields = {"w": np.sin(2 * np.pi * (pts[:, 0] + 0.1 * t)).astype(np.float32)} if self.with_field else {}
        ug = convert.make_unstructured_grid(pts, None, fields)
        out = vtkUnstructuredGrid.GetData(outInfo, 0)
        out.ShallowCopy(ug)
        timesteps.stamp_data_time(out, t)
        return 1


def _filter(src, run_dir, **kw) -> EchoTrainAlgorithm:
    f = EchoTrainAlgorithm()
    f.SetInputConnection(src.GetOutputPort())
    f.SetRunDirectory(str(run_dir))
    f.SetAESteps(kw.get("ae", 20))
    f.SetRefineSteps(kw.get("refine", 0))
    f.SetDiTSteps(kw.get("dit", 20))
    f.SetThreads(1)
    f.SetExtraArguments("--grid 16 --n-query 128 --dit-batch-size 8")
    return f


def _errors(alg) -> list[str]:
    seen: list[str] = []
    alg.AddObserver(vtkCommand.ErrorEvent, lambda o, e: seen.append(e))
    return seen


def test_passthrough_never_trains(tmp_path):
    src = WaveSource()
    f = _filter(src, tmp_path / "run")
    f.UpdateTimeStep(1.0)
    out = f.GetOutputDataObject(0)
    assert out.GetClassName() == "vtkUnstructuredGrid" and out.GetNumberOfPoints() == 100
    assert out.GetPointData().GetArray("w") is not None
    assert not (tmp_path / "run").exists()  # RequestData wrote nothing, spawned nothing
    assert f.GetState() == "idle"


def test_start_trains_out_of_process_and_refresh_reports_done(tmp_path):
    from echo_model.rollout import Surrogate

    src = WaveSource()
    run = tmp_path / "run"
    f = _filter(src, run)
    assert f.Start() is True, f.last_error
    assert (run / "dataset.h5").is_file()
    assert src.requested[-len(TIMES):] == TIMES  # every input step was gathered
    assert f.GetStatus().startswith("started")
    deadline = time.time() + 150
    while time.time() < deadline:
        f.Refresh()
        if f.GetState() in ("done", "failed", "stopped"):
            break
        time.sleep(0.5)
    log = (run / "train.log").read_text() if (run / "train.log").exists() else ""
    assert f.GetState() == "done", f"{f.GetStatus()}\n{log[-3000:]}"
    assert f.GetStatus().startswith("done: model ")
    model = Path(f.GetModelPath())
    assert model == (run / "model.safetensors").resolve() and model.is_file()
    sur = Surrogate.load(model, device="cpu", cache=False)
    assert [tuple(x) for x in sur.field_layout] == [("w", 1)] and sur.dim == 2
    assert sur.dt == pytest.approx(0.5)
    for stage in ("ae", "dit"):  # every stage ran to its last step in the child process
        prog = json.loads((run / stage / "progress.json").read_text())
        assert prog["status"] == "done" and prog["step"] == prog["total"] == 20, prog
    # Start again on the same input: the exported dataset is kept and every stage is skipped
    data_mtime = (run / "dataset.h5").stat().st_mtime_ns
    model_mtime = model.stat().st_mtime_ns
    assert f.Start() is True, f.last_error
    deadline = time.time() + 60
    while time.time() < deadline and f.GetState() == "running":
        time.sleep(0.3)
    f.Refresh()
    assert f.GetState() == "done", f.GetStatus()
    assert (run / "dataset.h5").stat().st_mtime_ns == data_mtime
    assert model.stat().st_mtime_ns == model_mtime
    assert (run / "train.log").read_text().count("already done, skipped") == 3


def test_errors_are_reported_not_raised(tmp_path, monkeypatch):
    # no point field
    f = _filter(WaveSource(with_field=False), tmp_path / "a")
    errs = _errors(f)
    assert f.Start() is False
    assert "no point field" in f.GetStatus() and "Calculator" in f.GetStatus()
    assert errs == ["ErrorEvent"]  # VTK error event, not an exception
    # a static input (no time steps)
    f = _filter(WaveSource(times=[]), tmp_path / "b")
    assert f.Start() is False
    assert "time step" in f.last_error and "Dataset" in f.last_error
    # no run directory
    f = _filter(WaveSource(), "")
    f.SetRunDirectory("")
    assert f.Start() is False and "RunDirectory" in f.last_error
    # a Dataset that does not exist
    f = _filter(WaveSource(), tmp_path / "c")
    f.SetDataset(str(tmp_path / "missing.h5"))
    assert f.Start() is False and "missing.h5" in f.last_error
    # no training interpreter
    monkeypatch.setenv("ECHOPV_PYTHON", str(tmp_path / "no-python"))
    f = _filter(WaveSource(), tmp_path / "d")
    assert f.Start() is False
    assert "ECHOPV_PYTHON" in f.last_error and "echopv paraview" in f.last_error
    assert not (tmp_path / "d" / "train.log").exists()


def test_failed_training_is_reported_with_the_log(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    f = _filter(WaveSource(), tmp_path / "run")
    f.SetDataset(str(bad))
    assert f.Start() is True  # the job starts; the child finds the problem
    deadline = time.time() + 60
    while time.time() < deadline and f.GetState() == "running":
        time.sleep(0.3)
    f.Refresh()
    assert f.GetState() == "failed", f.GetStatus()
    assert "bad.h5" in f.GetStatus() and "ECHO dataset" in f.GetStatus()
    assert f.GetModelPath() == ""


def test_second_start_refused_stop_then_start_resumes(tmp_path):
    run = tmp_path / "run"
    f = _filter(WaveSource(), run, ae=100000)
    assert f.Start() is True, f.last_error
    deadline = time.time() + 60
    while time.time() < deadline and "step" not in f.Refresh():  # training is under way
        time.sleep(0.3)
    assert f.GetState() == "running" and "step" in f.GetStatus(), f.GetStatus()
    assert f.Start() is False and "already running" in f.last_error
    f.Stop()
    assert f.GetState() == "stopped"
    assert "stopped" in f.Refresh()
    from echo_model.bundle import read_meta

    step = read_meta(run / "ae" / "checkpoint.safetensors")["checkpoint"]["step"]  # Stop saved its state
    assert step > 0
    assert f.Start() is True, f.last_error  # continues in the same run directory
    deadline = time.time() + 60
    while time.time() < deadline and "resuming at step" not in (run / "train.log").read_text():
        time.sleep(0.3)
    f.Stop()
    log = (run / "train.log").read_text()
    assert log.count("train all --data") == 2
    assert f"resuming at step {step}" in log, log[-3000:]  # the second run read the first one's checkpoint

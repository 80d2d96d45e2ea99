"""The other model kinds in plain VTK: EchoRollout runs a DMD model file like an ECHO one, and the
EchoModelReader table shows a model's skill report."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.util import numpy_support as ns  # noqa: E402

from echo_model.data.store import write_dataset  # noqa: E402
from echo_model.data.trajectory import Trajectory  # noqa: E402
from echo_model.train.runs import DMDRun  # noqa: E402
from echo_model.train.stage_dmd import train_dmd  # noqa: E402
from echo_paraview.readers import EchoDatasetReaderAlgorithm, EchoModelReaderAlgorithm  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402


def _run(tmp_path, n_frames: int = 40):
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(300, 2))
    t = 0.1 * np.arange(n_frames)
    u = 1.0 + np.sin(2 * np.pi * (pts[None, :, 0] - 0.5 * t[:, None]))
    traj = Trajectory(points=pts, fields=u[..., None].astype(np.float32), times=t, field_layout=[("u", 1)])
    write_dataset(tmp_path / "run.h5", [traj], name="run", split={"train": [0]})
    model = train_dmd(DMDRun(data=str(tmp_path / "run.h5"), run=str(tmp_path / "dmd")))
    return tmp_path / "run.h5", model, traj


def _rollout(data, model, start: float, frames: int, samples: int = 1) -> EchoRolloutAlgorithm:
    """EchoDatasetReader -> EchoRollout from `start`, information updated."""
    reader = EchoDatasetReaderAlgorithm()
    reader.SetFileName(str(data))
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(reader.GetOutputPort())
    alg.SetCheckpoint(str(model))
    alg.SetNumberOfFrames(frames)
    alg.SetNumberOfSamples(samples)
    alg.SetSamplingSteps(2)
    alg.SetStartTimeValue(start)
    alg.SetStartTime("value")
    alg.UpdateInformation()
    alg.reader = reader  # keep the source alive with the filter
    return alg


def test_echo_rollout_runs_a_dmd_model_file_in_plain_vtk(tmp_path):
    data, model, traj = _run(tmp_path)
    alg = _rollout(data, model, float(traj.times[20]), 5)
    t_pred = float(traj.times[23])
    assert any(abs(t - t_pred) < 1e-9 for t in alg.GetTimestepValues())
    alg.UpdateTimeStep(t_pred)
    out = alg.GetOutputDataObject(0)
    pred = ns.vtk_to_numpy(out.GetPointData().GetArray("u_pred"))
    err = float(((pred - traj.fields[23, :, 0]) ** 2).sum() / (traj.fields[23, :, 0] ** 2).sum())
    assert err < 1e-6  # a travelling wave is two DMD modes: the forecast is exact


def test_model_reader_table_shows_the_skill_report(tmp_path):
    _, model, _ = _run(tmp_path)
    r = EchoModelReaderAlgorithm()
    r.SetFileName(str(model))
    r.Update()
    t = r.GetOutputDataObject(0)
    rows = {(t.GetColumn(0).GetValue(i), t.GetColumn(1).GetValue(i)): t.GetColumn(2).GetValue(i)
            for i in range(t.GetNumberOfRows())}
    assert rows[("summary", "generator")].startswith("dmd (dynamic mode decomposition), rank")
    assert rows[("summary", "skill")].startswith("skill on 10 frame(s) (held out: frames 30-39")
    assert "beats persistence for 10 frame(s)" in rows[("summary", "skill u")]


def test_echo_rollout_runs_a_hybrid_model_file_with_an_ensemble(tmp_path):
    from echo_model.train.runs import HybridRun
    from echo_model.train.stage_hybrid import train_hybrid

    data, _, traj = _run(tmp_path)
    model = train_hybrid(HybridRun(data=str(data), run=str(tmp_path / "hyb"), ae_steps=3, dit_steps=3, threads=1,
                                   progress=False))
    alg = _rollout(data, model, float(traj.times[20]), 3, samples=2)
    alg.UpdateTimeStep(float(traj.times[22]))
    out = alg.GetOutputDataObject(0)
    pred = ns.vtk_to_numpy(out.GetPointData().GetArray("u_pred"))
    std = ns.vtk_to_numpy(out.GetPointData().GetArray("u_std"))
    assert pred.shape == (300,) and np.isfinite(pred).all() and np.isfinite(std).all() and std.max() > 0


def test_echo_rollout_warns_when_the_start_state_is_unlike_the_training_states(tmp_path, errors):
    data, model, traj = _run(tmp_path)
    other = traj.fields.copy()
    other[:, :, 0] = 1.0 + np.sin(6 * np.pi * traj.points[:, 0]) * np.cos(2 * np.pi * traj.points[:, 1])
    from echo_paraview import convert

    grid = convert.make_unstructured_grid(traj.points, None, {"u": other[0]})
    alg = EchoRolloutAlgorithm()
    alg.SetInputData(grid)
    alg.SetCheckpoint(str(model))
    alg.SetNumberOfFrames(2)
    alg.UpdateInformation()
    alg.UpdateTimeStep(0.1)
    assert alg.last_error is None, alg.last_error
    text = errors.GetOutput()
    assert "unlike the training states" in text and "x the training frames' median" in text


def test_echotrain_status_and_refresh_carry_the_finished_models_skill_report(tmp_path, errors):
    import json

    from echo_paraview.train_filter import EchoTrainAlgorithm

    _, model, _ = _run(tmp_path)
    run = model.parent
    (run / "pipeline.json").write_text(json.dumps({"stage": "done", "stage_index": 1, "n_stages": 1, "state": "done",
                                                   "error": None, "model": str(model), "progress": None}))
    train = EchoTrainAlgorithm()
    train.SetRunDirectory(str(run))
    status = train.Refresh()
    assert status.startswith(f"done: model {model} | skill: u ") and "x persistence over 10 frames (held out)" in status
    text = errors.GetOutput()
    assert "the model is ready" in text and "beats persistence for 10 frame(s)" in text

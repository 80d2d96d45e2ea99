"""EchoTrain hands its finished model to EchoRollout: Refresh on a finished run names the model
and says how to use it; EchoRollout's Checkpoint takes the run folder itself."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkStringOutputWindow  # noqa: E402

from echo_paraview import convert  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402
from echo_paraview.train_filter import EchoTrainAlgorithm  # noqa: E402


def test_finished_run_is_offered_to_echorollout(fake_surrogate, tmp_path):
    sur, ckpt = fake_surrogate
    run = tmp_path / "run"
    run.mkdir()
    model = run / "model.safetensors"
    model.write_bytes(ckpt.read_bytes())
    # what `echopv train all` leaves in a finished run folder
    (run / "pipeline.json").write_text(json.dumps({"stage": "done", "stage_index": 3, "n_stages": 3, "state": "done",
                                                   "error": None, "model": str(model), "progress": None}))
    data = convert.make_unstructured_grid(np.eye(3), None, {"p": np.arange(3.0)})
    old = vtkOutputWindow.GetInstance()
    win = vtkStringOutputWindow()
    vtkOutputWindow.SetInstance(win)
    try:
        train = EchoTrainAlgorithm()
        train.SetInputData(data)  # plain VTK's first call works on both algorithms
        train.SetRunDirectory(str(run))
        train.Refresh()
        train.Update()
        text = win.GetOutput()
    finally:
        vtkOutputWindow.SetInstance(old)
    assert train.GetModelPath() == str(model)
    assert "the model is ready" in text and "Checkpoint" in text and str(run) in text
    assert train.GetOutputDataObject(0).GetNumberOfPoints() == 3  # data passes through
    roll = EchoRolloutAlgorithm()
    roll.SetInputConnection(train.GetOutputPort())
    roll.SetCheckpoint(str(run))  # the run folder, as EchoTrain's message says
    roll.UpdateTimeStep(0.5)
    assert roll.last_error is None, roll.last_error
    assert len(sur.calls) == 1

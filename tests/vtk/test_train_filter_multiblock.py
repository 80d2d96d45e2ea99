"""EchoTrain on what the OpenFOAM reader gives (a multiblock), and what Stop and Refresh say."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase  # noqa: E402
from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkStringOutputWindow  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkCompositeDataSet, vtkDataObject, vtkMultiBlockDataSet  # noqa: E402

from echo_model.train.layout import LOG, PIPELINE_STATUS  # noqa: E402
from echo_paraview import convert, timesteps  # noqa: E402
from echo_paraview.train_filter import EchoTrainAlgorithm, gather_time_series  # noqa: E402
from echo_paraview.training import TrainingJob  # noqa: E402


class BlocksSource(VTKPythonAlgorithmBase):
    """Temporal multiblock: internalMesh (a 4 x 4 point grid) and an 'inlet' leaf of 3 points,
    point field w = t + x."""

    def __init__(self, times=(0.0, 0.5, 1.0, 1.5)):
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=0, nOutputPorts=1, outputType="vtkMultiBlockDataSet")
        self.times = list(times)

    def RequestInformation(self, request, inInfo, outInfo):
        timesteps.announce_time_steps(outInfo.GetInformationObject(0), self.times)
        return 1

    def RequestData(self, request, inInfo, outInfo):
        t = timesteps.requested_time(outInfo.GetInformationObject(0)) or 0.0
        g = np.linspace(0, 1, 4)
        xx, yy = np.meshgrid(g, g)
        mesh = np.stack([xx.ravel(), yy.ravel(), np.zeros(16)], 1)
        inlet = np.array([[-0.5, 0.0, 0.0], [-0.5, 0.5, 0.0], [-0.5, 1.0, 0.0]])
        mb = vtkMultiBlockDataSet()
        for i, (name, pts) in enumerate((("internalMesh", mesh), ("inlet", inlet))):
            mb.SetBlock(i, convert.make_unstructured_grid(pts, None, {"w": (t + pts[:, 0]).astype(np.float32)}))
            mb.GetMetaData(i).Set(vtkCompositeDataSet.NAME(), name)
        out = vtkDataObject.GetData(outInfo, 0)
        out.ShallowCopy(mb)
        timesteps.stamp_data_time(out, t)
        return 1


@pytest.fixture
def messages():
    old = vtkOutputWindow.GetInstance()
    win = vtkStringOutputWindow()
    vtkOutputWindow.SetInstance(win)
    yield win
    vtkOutputWindow.SetInstance(old)


def test_multiblock_input_is_accepted_merged_and_passed_through():
    src = BlocksSource()
    train = EchoTrainAlgorithm()
    train.SetInputConnection(src.GetOutputPort())
    train.UpdateTimeStep(0.5)
    out = train.GetOutputDataObject(0)
    assert isinstance(out, vtkMultiBlockDataSet) and out.GetNumberOfBlocks() == 2  # passed through
    frames, times = gather_time_series(src)
    assert times == [0.0, 0.5, 1.0, 1.5]
    assert all(f.GetNumberOfPoints() == 19 for f in frames)  # both leaves, one mesh per step
    w = convert.get_array(frames[2].GetPointData(), "w", "point")
    np.testing.assert_allclose(np.sort(w), np.sort(1.0 + np.r_[np.tile(np.linspace(0, 1, 4), 4), [-0.5] * 3]))
    frames, _ = gather_time_series(src, block="internalMesh")
    assert frames[0].GetNumberOfPoints() == 16


def test_plugin_accepts_composite_inputs():
    """The ParaView face offers EchoTrain on the OpenFOAM reader (not greyed out)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "plugins" / "EchoPlugin.py").read_text()
    train = text[text.index('@smproxy.filter(name="EchoTrain"'):]
    assert 'dataTypes=["vtkDataSet", "vtkCompositeDataSet"], composite_data_supported=True' in train[:2000]


def test_stop_and_refresh_say_what_happened(tmp_path, messages):
    src = BlocksSource()
    train = EchoTrainAlgorithm()
    train.SetInputConnection(src.GetOutputPort())
    train.SetRunDirectory(str(tmp_path))
    train.Stop()
    assert "Warning: In EchoTrain: Stop: no training is running" in messages.GetOutput()
    train.Refresh()
    train.Refresh()  # every press answers, also when nothing changed
    assert messages.GetOutput().count("Warning: In EchoTrain: Refresh:") == 2


def test_an_interrupted_rerun_of_a_finished_folder_is_not_done(tmp_path):
    """pipeline.json of an earlier finished run says done; the log's last run was interrupted."""
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"")
    (tmp_path / PIPELINE_STATUS).write_text(json.dumps({"state": "done", "model": str(model), "stage": "done"}))
    (tmp_path / LOG).write_text("model: m\n=== second run\nstep 3/9000\nechopv: interrupted\n")
    st = TrainingJob(tmp_path).status()
    assert st.state == "stopped" and st.text.startswith("interrupted") and "done" not in st.text
    (tmp_path / LOG).write_text("=== run\nmodel: m\n")
    assert TrainingJob(tmp_path).status().text == f"done: model {model}"

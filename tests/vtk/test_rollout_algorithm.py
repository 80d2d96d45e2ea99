"""EchoRolloutAlgorithm in a plain VTK pipeline (pip vtk wheel, no ParaView)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.util import numpy_support as ns  # noqa: E402
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase  # noqa: E402
from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkStringOutputWindow  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkPolyData, vtkUnstructuredGrid  # noqa: E402
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline as sddp  # noqa: E402
from vtkmodules.vtkFiltersCore import vtkArrayCalculator  # noqa: E402
from vtkmodules.vtkFiltersSources import vtkSphereSource  # noqa: E402

from echo_paraview import convert, timesteps  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402

TEST_FIELD = "p"  # the field of the conftest model_file


def sphere_with_p(res: int = 12) -> vtkArrayCalculator:
    s = vtkSphereSource()
    s.SetThetaResolution(res)
    s.SetPhiResolution(res)
    calc = vtkArrayCalculator()
    calc.SetInputConnection(s.GetOutputPort())
    calc.AddCoordinateScalarVariable("coordsX", 0)
    calc.AddCoordinateScalarVariable("coordsZ", 2)
    calc.SetFunction("coordsX + 2*coordsZ")
    calc.SetResultArrayName(TEST_FIELD)
    return calc




def pred_at(alg, t: float, name: str = TEST_FIELD + "_pred") -> tuple[np.ndarray, float]:
    alg.UpdateTimeStep(t)
    out = alg.GetOutputDataObject(0)
    arr = out.GetPointData().GetArray(name)
    assert arr is not None, f"no {name} at t={t}"
    return ns.vtk_to_numpy(arr).copy(), out.GetInformation().Get(vtkDataObject.DATA_TIME_STEP())


def output_times(alg) -> list[float]:
    alg.UpdateInformation()
    return timesteps.time_steps(alg.GetOutputInformation(0))


# ------------------------------------------------------------------------------------------
# with a real (untrained) model file
# ------------------------------------------------------------------------------------------
def test_real_model_temporal_output(model_file, errors):
    src = sphere_with_p()
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(model_file))
    alg.SetNumberOfFrames(3)
    alg.SetDevice("cpu")
    times = output_times(alg)
    assert times == pytest.approx([0.0, 0.25, 0.5, 0.75])  # t_ic + k dt, dt = 0.25 in the model file
    assert alg.GetTimestepValues() == pytest.approx(times)

    a1, t1 = pred_at(alg, times[1])
    a3, t3 = pred_at(alg, times[3])
    assert (t1, t3) == pytest.approx((times[1], times[3]))
    out = alg.GetOutputDataObject(0)
    assert isinstance(out, vtkPolyData)  # same type as the input
    # the frozen start frame is not passed on under the field's own name on predicted frames: the
    # solver has no value there (NaN), and the arrays are the same, in the same order, at every step
    assert np.isnan(ns.vtk_to_numpy(out.GetPointData().GetArray(TEST_FIELD))).all()
    names = convert.array_names(out.GetPointData())
    assert names[-4:] == [TEST_FIELD, "p_pred", "p_truth", "p_error"]
    alg.UpdateTimeStep(0.0)
    assert convert.array_names(alg.GetOutputDataObject(0).GetPointData()) == names
    alg.UpdateTimeStep(times[3])
    assert out.GetFieldData().GetArray("is_prediction").GetValue(0) == 1
    assert out.GetFieldData().GetArray("TimeValue").GetValue(0) == pytest.approx(times[3])
    assert a1.shape == (out.GetNumberOfPoints(),)
    assert np.isfinite(a1).all() and np.isfinite(a3).all()
    assert not np.allclose(a1, a3)
    # step 0 is the initial condition itself
    a0, _ = pred_at(alg, 0.0)
    src.Update()
    p0 = ns.vtk_to_numpy(src.GetOutput().GetPointData().GetArray(TEST_FIELD))
    np.testing.assert_allclose(a0, p0, rtol=1e-6)
    assert alg.n_rollouts == 1
    assert alg.last_error is None, alg.last_error
    assert "ERROR" not in errors.GetOutput()


def test_real_model_ensemble_std(model_file):
    alg = EchoRolloutAlgorithm()
    src = sphere_with_p(8)  # keep a reference: an output port does not own its producer
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(model_file))
    alg.SetNumberOfFrames(2)
    alg.SetNumberOfSamples(3)
    times = output_times(alg)
    std, _ = pred_at(alg, times[2], TEST_FIELD + "_std")
    assert (std >= 0).all() and std.max() > 0
    std0, _ = pred_at(alg, times[0], TEST_FIELD + "_std")
    assert np.all(std0 == 0)


def test_real_loader_errors_are_messages(tmp_path, errors):
    bogus = tmp_path / "notamodel.safetensors"
    bogus.write_bytes(b"garbage")
    src = sphere_with_p(6)
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(bogus))
    alg.Update()  # must not raise
    assert "not a safetensors file" in alg.last_error
    alg.SetCheckpoint(str(tmp_path / "missing.safetensors"))
    alg.Update()
    assert "does not exist" in alg.last_error
    assert errors.GetOutput().count("ERROR: In EchoRollout") >= 2


def test_cuda_device_without_gpu_is_a_clear_error(model_file, errors):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    src = sphere_with_p(6)
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(model_file))
    alg.SetDevice("cuda")
    alg.Update()
    assert "sees no CUDA GPU" in alg.last_error and "Device" in alg.last_error


# ------------------------------------------------------------------------------------------
# cache, arrays and errors (test-only FakeSurrogate: exact values, call counting)
# ------------------------------------------------------------------------------------------
def test_cache_hit_does_not_recompute(fake_surrogate):
    sur, ckpt = fake_surrogate
    src = sphere_with_p()
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(4)
    times = output_times(alg)
    assert times == pytest.approx([0, 0.5, 1.0, 1.5, 2.0])
    values = [pred_at(alg, t)[0] for t in (times[2], times[4], times[1], times[2])]
    assert len(sur.calls) == 1 and alg.n_rollouts == 1
    np.testing.assert_allclose(values[1] - values[0], 1.0, atol=1e-5)  # frames 4 and 2: +0.5 per frame
    np.testing.assert_allclose(values[0], values[3])
    # a time between steps snaps down
    v, t = pred_at(alg, 1.2)
    assert t == pytest.approx(1.0)
    # a setting change recomputes once
    alg.SetSeed(7)
    pred_at(alg, times[1])
    pred_at(alg, times[3])
    assert len(sur.calls) == 2
    # an upstream change recomputes once
    src.SetFunction("coordsX")
    pred_at(alg, times[1])
    assert len(sur.calls) == 3
    # setting the same value again is not a change
    alg.SetSeed(7)
    pred_at(alg, times[2])
    assert len(sur.calls) == 3


def test_input_arrays_select_and_rename(fake_surrogate):
    sur, ckpt = fake_surrogate
    pts = np.random.default_rng(1).normal(size=(20, 3))
    ug = convert.make_unstructured_grid(pts, None, {"pressure": np.arange(20.0), "other": np.zeros(20)})
    alg = EchoRolloutAlgorithm()
    alg.SetInputDataObject(0, ug)
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(2)
    alg.SetInputArrays(["pressure"])
    times = output_times(alg)
    v, _ = pred_at(alg, times[1], "pressure_pred")
    np.testing.assert_allclose(v, np.arange(20.0) + 0.5)
    assert isinstance(alg.GetOutputDataObject(0), vtkUnstructuredGrid)
    np.testing.assert_allclose(sur.calls[0]["points"], pts)


def test_vector_field_keeps_components(fake_surrogate):
    sur, ckpt = fake_surrogate
    sur.field_layout = [("U", 2), ("p", 1)]
    sur.dim = 2
    pts = np.random.default_rng(2).uniform(size=(15, 2))
    u = np.random.default_rng(3).normal(size=(15, 2))
    ug = convert.make_unstructured_grid(pts, None, {"p": np.ones(15), "U": u})
    alg = EchoRolloutAlgorithm()
    alg.SetInputDataObject(0, ug)
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(1)
    times = output_times(alg)
    upred, _ = pred_at(alg, times[1], "U_pred")
    assert upred.shape == (15, 2)
    np.testing.assert_allclose(upred, u + 0.5, atol=1e-5)
    assert sur.calls[0]["observed"].shape == (1, 15, 3)  # model channel order: U then p
    assert sur.calls[0]["points"].shape == (15, 2)  # planar input, 2D model


def test_no_point_field_reports_error_and_does_not_raise(fake_surrogate, errors):
    _, ckpt = fake_surrogate
    ug = convert.make_unstructured_grid(np.random.default_rng(0).normal(size=(10, 3)))
    alg = EchoRolloutAlgorithm()
    alg.SetInputDataObject(0, ug)
    alg.SetCheckpoint(str(ckpt))
    alg.UpdateTimeStep(0.0)  # must not raise
    assert "no point field" in alg.last_error
    assert "Calculator" in alg.last_error  # names a fix
    assert "ERROR: In EchoRollout" in errors.GetOutput()


def test_missing_checkpoint_and_wrong_array_messages(fake_surrogate, errors, tmp_path):
    _, ckpt = fake_surrogate
    alg = EchoRolloutAlgorithm()
    src = sphere_with_p(6)  # keep a reference: an output port does not own its producer
    alg.SetInputConnection(src.GetOutputPort())
    alg.Update()
    assert "set Checkpoint" in alg.last_error
    alg.SetCheckpoint(str(tmp_path / "nope.safetensors"))
    alg.Update()
    assert "does not exist" in alg.last_error
    alg.SetCheckpoint(str(ckpt))
    alg.SetInputArrays(["Normals"])  # 3 components, the model field has 1
    alg.Update()
    assert "component" in alg.last_error and "InputArrays" in alg.last_error
    alg.SetInputArrays(["missing"])
    alg.Update()
    assert "no point array 'missing'" in alg.last_error
    alg.ClearInputArrays()
    alg.Update()
    assert alg.last_error is None


def test_model_needing_more_frames_than_static_input(fake_surrogate, errors):
    sur, ckpt = fake_surrogate
    sur.n_observed_frames = 2
    alg = EchoRolloutAlgorithm()
    src = sphere_with_p(6)  # keep a reference: an output port does not own its producer
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.Update()
    assert "needs 2 observed frames" in alg.last_error
    assert not sur.calls


class TemporalSource(VTKPythonAlgorithmBase):
    """Test source: 4 time steps, field p = 10 * t on a few points."""

    def __init__(self, times=(0.0, 0.5, 1.0, 1.5)):
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=0, nOutputPorts=1, outputType="vtkUnstructuredGrid")
        self.times = list(times)
        self.requested: list[float] = []

    def RequestInformation(self, request, inInfo, outInfo):
        timesteps.announce_time_steps(outInfo.GetInformationObject(0), self.times)
        return 1

    def RequestData(self, request, inInfo, outInfo):
        t = timesteps.requested_time(outInfo.GetInformationObject(0))
        self.requested.append(t)
        ug = convert.make_unstructured_grid(np.eye(3), None, {"p": np.full(3, 10.0 * t)})
        out = vtkUnstructuredGrid.GetData(outInfo, 0)
        out.ShallowCopy(ug)
        timesteps.stamp_data_time(out, t)
        return 1


def test_temporal_input_gathers_observed_frames(fake_surrogate):
    sur, ckpt = fake_surrogate
    sur.n_observed_frames = 2
    src = TemporalSource()
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(2)
    times = output_times(alg)
    # the input's steps up to the start (its 2nd step: 2 observed frames), then t_start + k dt
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5])
    v, t = pred_at(alg, times[3])
    assert t == pytest.approx(1.5)
    assert len(sur.calls) == 1
    np.testing.assert_allclose(sur.calls[0]["observed"][:, 0, 0], [0.0, 5.0])  # input frames 0 and 1
    np.testing.assert_allclose(v, 5.0 + 1.0)
    # the truth was gathered too: input step 1.5 is the solver's frame at the last predicted time
    out = alg.GetOutputDataObject(0)
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetPointData().GetArray("p_truth")), 15.0)
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetPointData().GetArray("p_error")), 6.0 - 15.0)
    # ... and the input's own p at that step passes through (the same arrays at every step)
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetPointData().GetArray("p")), 15.0)
    pred_at(alg, times[2])
    n_requests = len(src.requested)
    v3, _ = pred_at(alg, times[3])
    pred_at(alg, times[2])
    assert len(sur.calls) == 1  # scrubbing hits the cache ...
    # ... and asks the input for nothing: the solver's steps at the predicted times were kept when
    # they were gathered, and a frame shown before is kept whole
    assert src.requested[n_requests:] == []
    np.testing.assert_allclose(v3, 5.0 + 1.0)
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetPointData().GetArray("p")), 10.0)  # the solver at 1.0
    pred_at(alg, times[3])
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetPointData().GetArray("p")), 15.0)


def test_static_input_with_single_frame_model_pins_first_time(fake_surrogate):
    sur, ckpt = fake_surrogate
    src = TemporalSource()
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(3)
    times = output_times(alg)
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5])
    alg.SetCompareWithInput(False)  # no truth to read: only the conditioning step is asked for
    for t in times[::-1]:
        pred_at(alg, t)
    assert sur.calls[0]["observed"][0, 0, 0] == pytest.approx(0.0)  # conditioned on the first step
    # the first step for the rollout, then each shown step for its own arrays: no other reads
    assert src.requested == [0.0, 1.5, 1.0, 0.5, 0.0]
    assert len(sur.calls) == 1


def test_snap_index():
    ts = [0.0, 0.5, 1.0]
    assert timesteps.snap_index(ts, None) == 0
    assert timesteps.snap_index(ts, -1) == 0
    assert timesteps.snap_index(ts, 0.5 - 1e-12) == 1
    assert timesteps.snap_index(ts, 0.99) == 1
    assert timesteps.snap_index(ts, 7) == 2
    info = sddp  # keys exist in this VTK
    assert info.TIME_STEPS() is not None


def test_progress_is_reported(fake_surrogate):
    from vtkmodules.vtkCommonCore import vtkCommand

    _, ckpt = fake_surrogate
    src = sphere_with_p(6)
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(4)
    seen: list[float] = []
    alg.AddObserver(vtkCommand.ProgressEvent, lambda obj, _ev: seen.append(obj.GetProgress()))
    alg.UpdateTimeStep(0.5)
    assert alg.last_error is None, alg.last_error
    assert seen and max(seen) == pytest.approx(1.0)
    assert any(0.0 < f < 1.0 for f in seen)  # intermediate steps, not just start/end


# ------------------------------------------------------------------------------------------
# PDE parameters: Parameters property > input field data > training mean
# ------------------------------------------------------------------------------------------
def _with_field_data(src, **params):
    """The source's output, copied, with param_<name> field arrays (as echopv export writes)."""
    from vtkmodules.vtkCommonCore import vtkDoubleArray
    from vtkmodules.vtkFiltersCore import vtkPassThrough

    src.Update()
    data = src.GetOutput().NewInstance()
    data.DeepCopy(src.GetOutput())
    for name, value in params.items():
        arr = vtkDoubleArray()
        arr.SetName(f"param_{name}")
        arr.InsertNextValue(value)
        data.GetFieldData().AddArray(arr)
    passthrough = vtkPassThrough()
    passthrough.SetInputData(data)
    return passthrough


def test_parameters_come_from_field_data_then_property(fake_surrogate, errors):
    sur, ckpt = fake_surrogate
    src = _with_field_data(sphere_with_p(), nu=2.5e-4)  # keep a reference: the port does not own it
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(2)
    pred_at(alg, output_times(alg)[1])
    assert sur.calls[-1]["params"] == {"nu": pytest.approx(2.5e-4)}
    assert alg.GetUsedParameters()["nu"][1] == "input field data param_nu"
    alg.SetParameters("nu=7e-4")
    pred_at(alg, output_times(alg)[1])
    assert sur.calls[-1]["params"] == {"nu": pytest.approx(7e-4)} and len(sur.calls) == 2


def test_parameters_default_to_training_mean_and_bad_text_is_a_message(fake_surrogate, errors):
    sur, ckpt = fake_surrogate
    src = sphere_with_p()
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(2)
    pred_at(alg, output_times(alg)[1])
    assert sur.calls[-1]["params"] == {}
    assert alg.GetUsedParameters() == {"nu": (1e-3, "training mean")}
    for text, expect in (("nu:1e-3", "name=value"), ("Re=100", "conditioned on ['nu']")):
        alg.SetParameters(text)
        alg.UpdateInformation()
        alg.UpdateTimeStep(0.5)  # must not raise
        assert expect in alg.last_error and expect in errors.GetOutput()

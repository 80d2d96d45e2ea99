"""EchoRolloutAlgorithm's Task property in a plain VTK pipeline, on the committed vorticity model.

The input is the ECHO dataset reader (trajectory 20: steps 5.0, 5.5, ... 15.0, the model's dt = 0.5)
thinned by vtkExtractTimeSteps where a task needs saved steps further apart, or masked to sparse
points (vtkMaskPoints) for Reconstruct."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.util import numpy_support as ns  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkDataObject  # noqa: E402
from vtkmodules.vtkFiltersCore import vtkMaskPoints  # noqa: E402
from vtkmodules.vtkFiltersExtraction import vtkExtractTimeSteps  # noqa: E402
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase  # noqa: E402

from echo_model.data.store import TrajectoryStore  # noqa: E402
from echo_model.rollout import create_untrained  # noqa: E402
from echo_paraview import convert  # noqa: E402
from echo_paraview.readers import EchoDatasetReaderAlgorithm  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402

torch.set_num_threads(1)
MODEL = "sample_cases/ns2d_vorticity/model_tiny.safetensors"
DATA = "sample_cases/ns2d_vorticity/ns2d_64.h5"
TRAJ = 20


@pytest.fixture(scope="module")
def traj():
    with TrajectoryStore(DATA) as store:
        return store[TRAJ]


def reader() -> EchoDatasetReaderAlgorithm:
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(DATA)
    r.SetTrajectory(TRAJ)
    return r


def every(src, first: int, last: int, step: int) -> vtkExtractTimeSteps:
    """The input steps first, first + step, ... <= last (by index) of `src`."""
    ex = vtkExtractTimeSteps()
    ex.SetInputConnection(src.GetOutputPort())
    ex.GenerateTimeStepIndices(first, last + 1, step)
    ex.upstream = src  # a Python reader dropped by Python would leave the pipeline a dangling algorithm
    return ex


def rollout(src, task: str, model: str = MODEL, **settings) -> EchoRolloutAlgorithm:
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.upstream = src
    alg.SetCheckpoint(model)
    alg.SetSamplingSteps(2)
    alg.SetNumberOfThreads(1)
    alg.SetTask(task)
    for name, value in settings.items():
        getattr(alg, f"Set{name}")(value)
    alg.UpdateInformation()
    return alg


def at(alg, t: float) -> dict[str, np.ndarray]:
    """The output's point arrays at time t (copies), and the output's data time under "_time"."""
    alg.UpdateTimeStep(t)
    out = alg.GetOutputDataObject(0)
    pd = out.GetPointData()
    arrays = {n: ns.vtk_to_numpy(pd.GetArray(n)).copy() for n in convert.array_names(pd)}
    arrays["_time"] = out.GetInformation().Get(vtkDataObject.DATA_TIME_STEP())
    return arrays


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_forecast_stays_the_default(traj):
    alg = rollout(reader(), "Forecast", NumberOfFrames=2)
    assert EchoRolloutAlgorithm().GetTask() == "Forecast"
    assert alg.GetPredictedTimes() == pytest.approx([5.5, 6.0])
    assert alg.GetTimestepValues() == pytest.approx(list(traj.times))


def test_interpolate_fills_every_dt_and_keeps_the_input_steps(traj):
    alg = rollout(every(reader(), 0, 8, 4), "Interpolate")  # steps 5.0, 7.0, 9.0: 4 model steps apart
    assert alg.last_error is None
    assert alg.GetTimestepValues() == pytest.approx(list(traj.times[:9]))
    assert alg.GetPredictedTimes() == alg.GetTimestepValues()
    frames = {float(t): at(alg, float(t)) for t in traj.times[:9]}
    assert alg.last_error is None and alg.n_rollouts == 1  # one model run for all nine steps
    names = [list(f) for f in frames.values()]
    assert all(n == names[0] for n in names) and names[0][:2] == ["vorticity", "vorticity_pred"]
    for i in (0, 4, 8):  # the input's own steps: served exact, the solver's array beside them
        f = frames[float(traj.times[i])]
        np.testing.assert_array_equal(f["vorticity_pred"], traj.fields[i, :, 0])
        np.testing.assert_array_equal(f["vorticity"], traj.fields[i, :, 0])
        assert f["_time"] == pytest.approx(traj.times[i])
    for i in (1, 2, 6):  # in between: the model's frames, finite, near the solver, no solver data there
        f = frames[float(traj.times[i])]
        assert np.isfinite(f["vorticity_pred"]).all() and np.isnan(f["vorticity"]).all()
        linear = 0.5 * (traj.fields[0, :, 0] + traj.fields[4, :, 0]) if i == 2 else None
        assert 0 < rel(f["vorticity_pred"], traj.fields[i, :, 0]) < 0.2
        if linear is not None:
            assert not np.allclose(f["vorticity_pred"], linear)  # not a blend in time


def test_interpolate_refuses_a_gap_the_model_cannot_fill(errors, traj):
    alg = rollout(reader(), "Interpolate")  # the reader's own steps: 1 model step apart
    assert "1 model step(s)" in alg.last_error and "2 to 8" in alg.last_error
    assert alg.GetTimestepValues() == pytest.approx(list(traj.times))  # the input's steps kept
    alg.UpdateTimeStep(6.0)
    assert "ExtractTimeSteps" in errors.GetOutput()
    alg = rollout(every(reader(), 0, 16, 8), "Interpolate", NumberOfFrames=3)  # 8 steps apart: 2 .. 8 is fine
    assert alg.last_error is None and len(alg.GetTimestepValues()) == 17
    ex = vtkExtractTimeSteps()  # steps 5.0, 6.0, 7.5: not one gap
    ex.upstream = reader()
    ex.SetInputConnection(ex.upstream.GetOutputPort())
    for i in (0, 2, 5):
        ex.AddTimeStepIndex(i)
    alg = rollout(ex, "Interpolate")
    assert "not one whole number of model steps" in alg.last_error


def test_inverse_goes_back_from_the_start_step(traj):
    alg = rollout(reader(), "Inverse", NumberOfFrames=4, StartTime="value", StartTimeValue=7.0)
    assert alg.GetPredictedTimes() == pytest.approx([5.0, 5.5, 6.0, 6.5])
    assert alg.GetTimestepValues() == pytest.approx(list(traj.times))
    early = at(alg, 5.0)
    assert alg.last_error is None and early["_time"] == pytest.approx(5.0)
    np.testing.assert_array_equal(early["vorticity"], traj.fields[0, :, 0])  # the solver's, to compare with
    np.testing.assert_allclose(early["vorticity_truth"], traj.fields[0, :, 0])
    persistence = rel(traj.fields[4, :, 0], traj.fields[0, :, 0])
    assert rel(early["vorticity_pred"], traj.fields[0, :, 0]) < persistence
    later = at(alg, 8.0)  # from the start step on the input is what is known: _pred is the input itself
    np.testing.assert_array_equal(later["vorticity_pred"], traj.fields[6, :, 0])
    assert list(later) == list(early)


def test_sample_draws_members_from_the_mesh(traj):
    alg = rollout(every(reader(), 0, 8, 4), "Sample", NumberOfFrames=3, NumberOfSamples=2)
    assert alg.GetPredictedTimes() == pytest.approx([5.0, 5.5, 6.0])
    assert alg.GetTimestepValues() == pytest.approx([5.0, 5.5, 6.0, 7.0, 9.0])
    f = at(alg, 5.5)
    assert alg.last_error is None
    assert list(f)[:3] == ["vorticity", "vorticity_pred", "vorticity_std"]
    assert np.isfinite(f["vorticity_pred"]).all() and f["vorticity_std"].mean() > 0.01  # two draws differ
    assert np.isnan(at(alg, 9.0)["vorticity_pred"]).all()  # an input step after the samples


def probes(src, ratio: int = 10) -> vtkMaskPoints:
    m = vtkMaskPoints()
    m.SetInputConnection(src.GetOutputPort())
    m.SetOnRatio(ratio)
    m.GenerateVerticesOn()
    m.SingleVertexPerCellOn()
    m.upstream = src
    return m


def test_reconstruct_on_the_target_mesh(traj):
    full = every(reader(), 0, 2, 1)  # steps 5.0, 5.5, 6.0
    alg = rollout(probes(full), "Reconstruct", NumberOfFrames=1)
    alg.SetInputConnection(1, full.GetOutputPort())
    alg.target = full
    alg.UpdateInformation()
    assert alg.GetPredictedTimes() == pytest.approx(list(traj.times[:3]))
    for i in (0, 2):
        f = at(alg, float(traj.times[i]))
        out = alg.GetOutputDataObject(0)
        assert alg.last_error is None and out.GetNumberOfPoints() == 4096  # the target's mesh, not the probes'
        assert out.GetNumberOfCells() > 0 and list(f)[:2] == ["vorticity", "vorticity_pred"]
        assert rel(f["vorticity_pred"], traj.fields[i, :, 0]) < 0.05
        np.testing.assert_array_equal(f["vorticity"], traj.fields[i, :, 0])  # the target's own, at that step
    assert alg.n_rollouts == 1


def test_reconstruct_without_a_target_predicts_at_the_input_points(traj):
    alg = rollout(probes(every(reader(), 0, 1, 1), 40), "Reconstruct")
    f = at(alg, 5.5)
    assert alg.last_error is None and alg.GetOutputDataObject(0).GetClassName() == "vtkPolyData"
    assert f["vorticity_pred"].shape == f["vorticity"].shape == (103,)
    assert rel(f["vorticity_pred"], f["vorticity"]) < 0.2 and np.isfinite(f["vorticity_error"]).all()


def test_a_task_the_model_was_not_trained_for_is_refused(errors, tmp_path, traj):
    sur = create_untrained([("vorticity", 1)], 2, param_names=["nu"])
    sur.meta["task_probs"] = {"forward": 1.0, "inverse": 0.0, "interpolation": 0.0, "unconditional": 0.0}
    model = str(sur.save(tmp_path / "forward_only.safetensors"))
    alg = rollout(reader(), "Inverse", model=model, NumberOfFrames=2)
    assert "task 'inverse'" in alg.last_error and "inverse mask" in alg.last_error
    assert alg.GetTimestepValues() == pytest.approx(list(traj.times))  # the time keeper keeps the input's
    f = at(alg, 6.0)  # the input passes through, the refusal is in the output window
    np.testing.assert_array_equal(f["vorticity"], traj.fields[2, :, 0])
    assert "ERROR: In EchoRollout: task 'inverse'" in errors.GetOutput() and alg.n_rollouts == 0
    alg.SetTask("Extrapolate")
    alg.UpdateInformation()
    assert "Task 'Extrapolate' is not one of Forecast, Interpolate" in alg.last_error


def test_sample_on_a_bare_static_mesh():
    from vtkmodules.vtkCommonDataModel import vtkImageData

    grid = vtkImageData()  # the model's periodic unit square, no arrays at all, no time
    grid.SetDimensions(32, 32, 1)
    grid.SetSpacing(1 / 32, 1 / 32, 1.0)
    alg = EchoRolloutAlgorithm()
    alg.SetInputData(grid)
    alg.SetCheckpoint(MODEL)
    for name, value in dict(Task="Sample", NumberOfFrames=3, SamplingSteps=2, NumberOfThreads=1,
                            StartTime="value", StartTimeValue=2.0, Parameters="nu=1e-3").items():
        getattr(alg, f"Set{name}")(value)
    alg.UpdateInformation()
    assert alg.GetTimestepValues() == pytest.approx([2.0, 2.5, 3.0]) == alg.GetPredictedTimes()
    f = at(alg, 3.0)
    out = alg.GetOutputDataObject(0)
    assert alg.last_error is None and out.GetClassName() == "vtkImageData" and f["_time"] == pytest.approx(3.0)
    assert np.isfinite(f["vorticity_pred"]).all() and f["vorticity_pred"].std() > 0.1  # a field, not a constant
    assert "vorticity" not in f and np.isnan(f["vorticity_error"]).all()  # nothing to compare with
    assert not np.array_equal(at(alg, 2.0)["vorticity_pred"], f["vorticity_pred"])


class ScaleLaterSteps(VTKPythonAlgorithmBase):
    """Pass-through that multiplies every point array by `factor` at input times after `after`:
    an upstream change that leaves the start step's content as it was."""

    def __init__(self, after: float):
        super().__init__(nInputPorts=1, nOutputPorts=1, outputType="vtkDataObject")
        self.after, self.factor = after, 1.0

    def set_factor(self, factor: float) -> None:
        self.factor = factor
        self.Modified()

    def RequestDataObject(self, request, inInfo, outInfo):
        inp = vtkDataObject.GetData(inInfo[0])
        if vtkDataObject.GetData(outInfo) is None or vtkDataObject.GetData(outInfo).GetClassName() != inp.GetClassName():
            outInfo.GetInformationObject(0).Set(vtkDataObject.DATA_OBJECT(), inp.NewInstance())
        return 1

    def RequestData(self, request, inInfo, outInfo):
        inp, out = vtkDataObject.GetData(inInfo[0]), vtkDataObject.GetData(outInfo)
        out.DeepCopy(inp)
        t = inp.GetInformation().Get(vtkDataObject.DATA_TIME_STEP())
        if t is not None and t > self.after + 1e-9:
            pd = out.GetPointData()
            for name in convert.array_names(pd):
                ns.vtk_to_numpy(pd.GetArray(name))[...] *= self.factor
        return 1


def test_interpolate_runs_again_when_only_a_later_input_step_changes(traj):
    """The cache is keyed on the start step's content: a multi-step task must still see a change that
    touches only its other input steps (Interpolate reads 5.0, 7.0, 9.0 here; the change is after 5.0)."""
    scale = ScaleLaterSteps(after=5.0)
    scale.upstream = every(reader(), 0, 8, 4)
    scale.SetInputConnection(scale.upstream.GetOutputPort())
    alg = rollout(scale, "Interpolate")
    before = at(alg, 6.0)["vorticity_pred"]
    scale.set_factor(2.0)
    after = at(alg, 6.0)["vorticity_pred"]
    assert alg.last_error is None and alg.n_rollouts == 2
    assert rel(after, before) > 0.05  # the new later steps shape the frames in between
    np.testing.assert_array_equal(at(alg, 9.0)["vorticity_pred"], 2.0 * traj.fields[8, :, 0].astype(after.dtype))

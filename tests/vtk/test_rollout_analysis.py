"""EchoRollout as an analyst meets it, in plain VTK: composite inputs, cell data, 3-component
vectors on a one-cell-thick slab, time like ParaView's temporal filters, the comparison with the
input's own later steps, fit checks and the rows of the reliability issue that live in the filter."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.util import numpy_support as ns  # noqa: E402
from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase  # noqa: E402
from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkStringArray, vtkStringOutputWindow  # noqa: E402
from vtkmodules.vtkCommonDataModel import (  # noqa: E402
    vtkCompositeDataSet,
    vtkDataObject,
    vtkMultiBlockDataSet,
    vtkUnstructuredGrid,
)

from echo_model.celltypes import CellType  # noqa: E402
from echo_model.data.normalize import Domain  # noqa: E402
from echo_paraview import convert, timesteps  # noqa: E402
from echo_paraview.rollout_filter import MAX_FRAMES, EchoRolloutAlgorithm  # noqa: E402


@pytest.fixture
def messages(errors):
    """The shared output-window capture (tests/vtk/conftest.py) under this file's name."""
    return errors


def slab(nx: int = 4, ny: int = 3, dz: float = 0.1) -> vtkUnstructuredGrid:
    """A one-cell-thick hexahedral slab on [0,1]x[0,1] (the OpenFOAM 2D convention)."""
    xs, ys = np.linspace(0, 1, nx + 1), np.linspace(0, 1, ny + 1)
    pts = np.array([(x, y, z) for z in (-dz / 2, dz / 2) for y in ys for x in xs])
    pid = lambda i, j, k: k * (nx + 1) * (ny + 1) + j * (nx + 1) + i  # noqa: E731
    conn = []
    for j in range(ny):
        for i in range(nx):
            base = [pid(i, j, 0), pid(i + 1, j, 0), pid(i + 1, j + 1, 0), pid(i, j + 1, 0)]
            conn += base + [b + (nx + 1) * (ny + 1) for b in base]
    n = nx * ny
    from echo_model.data.trajectory import Cells

    cells = Cells(np.array(conn, np.int64), np.arange(0, 8 * n + 1, 8, dtype=np.int64),
                  np.full(n, CellType.HEXAHEDRON, np.uint8))
    return convert.make_unstructured_grid(pts, cells)


def cell_centres_xy(ug) -> np.ndarray:
    from echo_paraview.rollout_input import cell_centres

    return cell_centres(ug)[:, :2]


class SeriesSource(VTKPythonAlgorithmBase):
    """Test source: a multiblock (internalMesh = a slab, cell data U (3 comp.) and p) at given
    times; U = (t, 2t, uz), p = 10 t + x. Counts its executions."""

    def __init__(self, times=(0.0, 0.5, 1.0, 1.5, 2.0), uz: float = 0.0, composite: bool = True):
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=0, nOutputPorts=1,
                                        outputType="vtkMultiBlockDataSet" if composite else "vtkUnstructuredGrid")
        self.times, self.uz, self.composite = list(times), uz, composite
        self.requested: list[float] = []

    def RequestInformation(self, request, inInfo, outInfo):
        timesteps.announce_time_steps(outInfo.GetInformationObject(0), self.times)
        return 1

    def frame(self, t: float) -> vtkUnstructuredGrid:
        ug = slab()
        xy = cell_centres_xy(ug)
        n = ug.GetNumberOfCells()
        u = np.stack([np.full(n, t), np.full(n, 2 * t), np.full(n, self.uz)], axis=1)
        convert.add_array(ug, "U", u, "cell")
        convert.add_array(ug, "p", 10 * t + xy[:, 0], "cell")
        return ug

    def RequestData(self, request, inInfo, outInfo):
        t = timesteps.requested_time(outInfo.GetInformationObject(0))
        t = self.times[timesteps.snap_index(self.times, t)]
        self.requested.append(t)
        ug = self.frame(t)
        out = vtkDataObject.GetData(outInfo, 0)
        if self.composite:
            mb = vtkMultiBlockDataSet()
            mb.SetBlock(0, ug)
            mb.GetMetaData(0).Set(vtkCompositeDataSet.NAME(), "internalMesh")
            out.ShallowCopy(mb)
        else:
            out.ShallowCopy(ug)
        timesteps.stamp_data_time(out, t)
        return 1


def flow_model(sur, dt=0.5):
    sur.field_layout = [("U", 2), ("p", 1)]
    sur.dim = 2
    sur.dt = dt
    sur.param_names = []
    sur.param_mean = []
    return sur


def make(src, ckpt, **settings) -> EchoRolloutAlgorithm:
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    for k, v in settings.items():
        getattr(alg, f"Set{k}")(v)
    return alg


def times_of(alg) -> list[float]:
    alg.UpdateInformation()
    return timesteps.time_steps(alg.GetOutputInformation(0))


def leaf_at(alg, t: float):
    alg.UpdateTimeStep(t)
    out = alg.GetOutputDataObject(0)
    return out.GetBlock(0) if isinstance(out, vtkMultiBlockDataSet) else out


def cell_array(ds, name: str) -> np.ndarray:
    arr = ds.GetCellData().GetArray(name)
    assert arr is not None, f"no cell array {name}; has {convert.array_names(ds.GetCellData())}"
    return ns.vtk_to_numpy(arr).copy()


def field(ds, name: str) -> float:
    return float(ds.GetFieldData().GetArray(name).GetTuple1(0))


# ------------------------------------------------------------------------------------------
# inputs as ParaView gives them
# ------------------------------------------------------------------------------------------
def test_multiblock_cell_data_3comp_vectors_on_a_slab(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=2)
    times = times_of(alg)
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])  # the input's later steps stay
    leaf = leaf_at(alg, 1.0)
    assert isinstance(alg.GetOutputDataObject(0), vtkMultiBlockDataSet)
    # the model saw the cell centres as 2D points and U's (x, y) then p
    call = sur.calls[0]
    np.testing.assert_allclose(call["points"], cell_centres_xy(slab()))
    assert call["observed"].shape == (1, 12, 3)
    # written back as cell data; U keeps ParaView's 3 components with z = 0
    u = cell_array(leaf, "U_pred")
    assert u.shape == (12, 3)
    np.testing.assert_allclose(u[:, :2], np.full((12, 2), 2 * 0.5), atol=1e-6)  # 2 frames of +0.5
    np.testing.assert_allclose(u[:, 2], 0.0)
    assert leaf.GetPointData().GetArray("U_pred") is None
    # "U" is the solver's own U at t = 1.0 (an input step), not the frozen start frame
    np.testing.assert_allclose(cell_array(leaf, "U")[:, :2], np.tile([1.0, 2.0], (12, 1)))
    assert field(leaf, "is_prediction") == 1 and field(leaf, "TimeValue") == pytest.approx(1.0)
    assert leaf.GetCellData().GetScalars().GetName() == "U_pred"  # ParaView colours by it on Show
    assert "ERROR" not in messages.GetOutput()


def test_nonzero_vector_z_is_dropped_with_a_message(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource(uz=0.3)
    alg = make(src, ckpt, NumberOfFrames=1)
    leaf_at(alg, times_of(alg)[-1])
    assert alg.last_error is None, alg.last_error
    assert "z component is not zero" in messages.GetOutput() and "max |z| = 0.3" in messages.GetOutput()


def test_block_selection_and_merged_leaves_written_back_per_block(fake_surrogate):
    sur, ckpt = fake_surrogate
    sur.field_layout, sur.param_names = [("p", 1)], []
    a = convert.make_unstructured_grid(np.random.default_rng(0).uniform(-1, 1, (5, 3)), None, {"p": np.arange(5.0)})
    b = convert.make_unstructured_grid(np.random.default_rng(1).uniform(-1, 1, (3, 3)), None, {"p": 10 + np.arange(3.0)})
    mb = vtkMultiBlockDataSet()
    for i, (name, ds) in enumerate((("left", a), ("right", b))):
        mb.SetBlock(i, ds)
        mb.GetMetaData(i).Set(vtkCompositeDataSet.NAME(), name)
    alg = EchoRolloutAlgorithm()
    alg.SetInputData(mb)  # a VTK developer's first call
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(1)
    alg.UpdateTimeStep(0.5)
    out = alg.GetOutputDataObject(0)
    assert sur.calls[-1]["observed"].shape == (1, 8, 1)  # both leaves merged
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetBlock(0).GetPointData().GetArray("p_pred")), np.arange(5.0) + 0.5)
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetBlock(1).GetPointData().GetArray("p_pred")), 10.5 + np.arange(3.0))
    alg.SetBlock("right")
    alg.UpdateTimeStep(0.5)
    out = alg.GetOutputDataObject(0)
    assert sur.calls[-1]["observed"].shape == (1, 3, 1)
    assert out.GetBlock(0).GetPointData().GetArray("p_pred") is None
    assert out.GetBlock(1).GetPointData().GetArray("p_pred") is not None
    alg.SetBlock("nope")
    alg.UpdateTimeStep(0.5)
    assert "Block 'nope'" in alg.last_error and "left" in alg.last_error


def test_cached_prediction_when_the_held_step_has_another_mesh(fake_surrogate):
    """An adaptive mesh: the step another view holds has more cells than the start frame."""
    from vtkmodules.vtkFiltersCore import vtkPassThrough

    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource(times=(0.0, 0.5, 2.0))  # the predicted 1.0 is no input step
    coarse = src.frame
    src.frame = lambda t: _with_fields(slab(nx=6), t) if t > 1.9 else coarse(t)
    other = vtkPassThrough()
    other.SetInputConnection(src.GetOutputPort())
    alg = make(src, ckpt, NumberOfFrames=2, CompareWithInput=0)
    assert times_of(alg) == [0.0, 0.5, 1.0, 2.0]
    leaf_at(alg, 1.0)
    other.UpdateTimeStep(2.0)  # the reader now holds the finer mesh
    leaf = leaf_at(alg, 1.0)
    assert alg.last_error is None, alg.last_error
    assert leaf.GetNumberOfCells() == 12 == cell_array(leaf, "p_pred").shape[0]
    assert len(sur.calls) == 1  # the start frame was read again, the cache still served


def _with_fields(ug, t):
    n = ug.GetNumberOfCells()
    convert.add_array(ug, "U", np.zeros((n, 3)), "cell")
    convert.add_array(ug, "p", np.full(n, t), "cell")
    return ug


def test_cell_data_asked_as_points_names_the_fix(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=1, FieldAssociation="points")
    alg.UpdateTimeStep(0.5)
    assert "no point array 'U'" in alg.last_error and "FieldAssociation to cells" in alg.last_error


# ------------------------------------------------------------------------------------------
# time
# ------------------------------------------------------------------------------------------
def test_output_times_are_input_up_to_start_plus_exact_predicted(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur, dt=0.1)
    src = SeriesSource(times=(3.7, 3.8, 3.9, 4.0))
    alg = make(src, ckpt, NumberOfFrames=5, StartTime="value", StartTimeValue=3.85)
    times = times_of(alg)
    # snapped down to the input's 3.8; predicted t0 + k dt computed directly (no 3.9000000000000004 drift
    # from accumulation): equal to the float of the same expression
    assert times[:2] == [3.7, 3.8]
    assert times[2:] == [3.8 + k * 0.1 for k in range(1, 6)]
    # at and before the start: the input itself (and p_pred = the input)
    leaf = leaf_at(alg, 3.7)
    np.testing.assert_allclose(cell_array(leaf, "p_pred"), cell_array(leaf, "p"))
    assert field(leaf, "is_prediction") == 0 and field(leaf, "TimeValue") == pytest.approx(3.7)
    leaf = leaf_at(alg, times[4])
    assert field(leaf, "is_prediction") == 1 and field(leaf, "TimeValue") == times[4]
    assert field(leaf, "rollout_start_time") == pytest.approx(3.8)
    assert sur.calls[-1]["observed"][0, 0, 2] == pytest.approx(10 * 3.8 + cell_centres_xy(slab())[0, 0], rel=1e-6)


def test_output_times_are_the_union_once_without_near_duplicates(fake_surrogate):
    """The solver's steps read back as 5.074999999999999 and 5.1499999999999995, the forecast computes
    5.0 + 3 * 0.025 = 5.075: one step, the input's value, and the solver's steps after the
    forecast stay (a GUI session suppresses the input's own times in the time keeper)."""
    sur, ckpt = fake_surrogate
    flow_model(sur, dt=0.025)
    solver = [5.0, 5.025, 5.05, 5.074999999999999, 5.1, 5.125, 5.1499999999999995, 5.175, 5.2]
    src = SeriesSource(times=solver)
    alg = make(src, ckpt, NumberOfFrames=4)
    times = times_of(alg)
    assert times == solver  # 4 frames up to 5.1 all fall on the solver's steps
    assert alg.GetTimestepValues() == solver
    alg.SetNumberOfFrames(10)  # beyond the solver's last step 5.2: the forecast's own times
    times = times_of(alg)
    assert times == solver + [5.0 + k * 0.025 for k in (9, 10)]
    assert len(times) == len(set(np.round(np.array(times) / 0.025)))  # no near-duplicates
    leaf = leaf_at(alg, 5.074999999999999)
    assert field(leaf, "is_prediction") == 1 and field(leaf, "TimeValue") == 5.074999999999999
    assert alg.GetOutputDataObject(0).GetInformation().Get(vtkDataObject.DATA_TIME_STEP()) == 5.074999999999999


def test_start_at_current_time(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=2, StartTime="current")
    alg.current_time = lambda: 1.2  # ParaView's plugin returns the animation time here
    times = times_of(alg)
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
    leaf_at(alg, 2.0)
    assert sur.calls[-1]["observed"][0, 0, 0] == pytest.approx(1.0)  # U_x = t at the start
    alg.current_time = lambda: 0.0  # later time changes do not move the start
    assert times_of(alg) == pytest.approx(times)


def test_failure_keeps_the_input_times_and_passes_the_input(fake_surrogate, tmp_path, messages):
    _, ckpt = fake_surrogate
    src = SeriesSource()
    alg = make(src, tmp_path / "missing.safetensors", NumberOfFrames=2)
    assert times_of(alg) == pytest.approx(src.times)
    leaf = leaf_at(alg, 1.0)
    assert leaf is not None and leaf.GetCellData().GetArray("p") is not None
    assert messages.GetOutput().count("does not exist") == 1  # reported once, not three times
    alg.SetCheckpoint("")
    assert times_of(alg) == pytest.approx(src.times)
    leaf = leaf_at(alg, 1.0)  # no Checkpoint yet: a quiet pass-through, not an error
    assert leaf.GetCellData().GetArray("p") is not None and "no model file" in alg.last_error
    assert "no model file" not in messages.GetOutput()


def test_two_consumers_stepping_20_times_run_one_rollout(fake_surrogate):
    from vtkmodules.vtkFiltersCore import vtkPassThrough

    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource()
    other = vtkPassThrough()  # a second view of the same reader, at the same animation time
    other.SetInputConnection(src.GetOutputPort())
    alg = make(src, ckpt, NumberOfFrames=4)
    times = times_of(alg)
    for i in range(20):
        t = times[i % len(times)]
        other.UpdateTimeStep(t)  # the reader now holds time t ...
        leaf_at(alg, t)  # ... and the rollout asks it for the start again: same content, cache hit
    assert len(sur.calls) == 1 and alg.n_rollouts == 1
    assert len(set(src.requested)) > 2  # the reader really was stepped back and forth
    # once cached, the rollout takes the mesh from whatever step the reader holds: the reader runs
    # for the other consumer's time changes and the rollout's gathering, not once more per step
    assert len(src.requested) <= 20 + len(src.times) + 2, src.requested


# ------------------------------------------------------------------------------------------
# comparison with the solver
# ------------------------------------------------------------------------------------------
def test_truth_error_and_rel_mse_against_a_hand_computation(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    flow_model(sur, dt=0.25)  # input spacing 0.5: odd predicted frames fall between input steps
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=3)
    times = times_of(alg)
    assert times == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
    leaf = leaf_at(alg, 0.75)
    xy = cell_centres_xy(slab())
    # truth at 0.75 = the mean of the input steps 0.5 and 1.0 (linear in time)
    p_truth = 0.5 * ((10 * 0.5 + xy[:, 0]) + (10 * 1.0 + xy[:, 0]))
    np.testing.assert_allclose(cell_array(leaf, "p_truth"), p_truth, rtol=1e-6)
    # the fake model adds 0.5 per frame to the start frame (t = 0: p = x, U = 0)
    p_pred = xy[:, 0] + 3 * 0.5
    np.testing.assert_allclose(cell_array(leaf, "p_pred"), p_pred, rtol=1e-6)
    np.testing.assert_allclose(cell_array(leaf, "p_error"), p_pred - p_truth, rtol=1e-5, atol=1e-6)
    hand = ((p_pred - p_truth) ** 2).sum() / (p_truth**2).sum()
    assert field(leaf, "p_rel_mse") == pytest.approx(hand, rel=1e-5)
    u_truth = np.array([0.75, 1.5])
    u_pred = np.array([1.5, 1.5])
    hand_u = ((u_pred - u_truth) ** 2).sum() / (u_truth**2).sum()
    assert field(leaf, "U_rel_mse") == pytest.approx(hand_u, rel=1e-5)
    assert field(leaf, "truth_interpolated") == 1
    assert "interpolated linearly in time" in messages.GetOutput()
    assert np.isnan(cell_array(leaf, "p")).all()  # the solver has no step at 0.75: NaN, not left out
    leaf = leaf_at(alg, 0.5)  # an input step: exact truth
    assert field(leaf, "truth_interpolated") == 0
    np.testing.assert_allclose(cell_array(leaf, "p_truth"), 10 * 0.5 + xy[:, 0], rtol=1e-6)
    np.testing.assert_allclose(cell_array(leaf, "p"), 10 * 0.5 + xy[:, 0], rtol=1e-6)
    # an input step after the forecast: the solver's data, no forecast there (NaN)
    leaf = leaf_at(alg, 1.5)
    np.testing.assert_allclose(cell_array(leaf, "p"), 15 + xy[:, 0], rtol=1e-6)
    np.testing.assert_allclose(cell_array(leaf, "p_truth"), 15 + xy[:, 0], rtol=1e-6)
    assert np.isnan(cell_array(leaf, "p_pred")).all() and np.isnan(cell_array(leaf, "p_error")).all()
    assert field(leaf, "is_prediction") == 0 and np.isnan(field(leaf, "p_rel_mse"))
    assert len(sur.calls) == 1


def test_no_truth_beyond_the_input(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource(times=(0.0, 0.5))
    alg = make(src, ckpt, NumberOfFrames=3)
    leaf = leaf_at(alg, 1.5)
    # no truth there: filled with NaN (the stated fill value), never left out
    assert np.isnan(cell_array(leaf, "p_truth")).all() and np.isnan(cell_array(leaf, "p_error")).all()
    assert np.isnan(cell_array(leaf, "p")).all() and np.isnan(field(leaf, "p_rel_mse"))
    assert np.isfinite(cell_array(leaf, "p_pred")).all()
    names = convert.array_names(leaf.GetCellData()), convert.array_names(leaf.GetFieldData())
    leaf = leaf_at(alg, 0.5)
    assert np.isfinite(cell_array(leaf, "p_truth")).all()
    assert (convert.array_names(leaf.GetCellData()), convert.array_names(leaf.GetFieldData())) == names


# ------------------------------------------------------------------------------------------
# fit checks
# ------------------------------------------------------------------------------------------
def _fit_model(sur, lo=(0.0, 0.0), hi=(1.0, 1.0)):
    flow_model(sur)
    sur.domain = Domain(np.array(lo), np.array(hi))
    sur.param_names, sur.param_mean, sur.param_std = ["Um", "Re"], [1.5, 100.0], [0.5, 30.0]
    sur.meta = {}
    return sur


def test_fit_domain_warning_and_refusal(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    _fit_model(sur, hi=(0.8, 1.0))  # the last column of cells (x = 0.875) lies outside
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=1, Parameters="Um=1.5, Re=100")
    leaf_at(alg, 0.5)
    assert alg.last_error is None
    assert "outside the model's training domain" in messages.GetOutput() and "25.0% of the input's points" in messages.GetOutput()
    assert "training [0, 0.8] x [0, 1]" in messages.GetOutput()
    sur.domain = Domain(np.array([5.0, 5.0]), np.array([6.0, 6.0]))
    alg.ClearCache()
    leaf_at(alg, 0.5)
    assert "100% of the input's points lie outside" in alg.last_error
    sur.domain = Domain(np.array([0.0, 0.0]), np.array([0.5, 1.0]))  # half the points inside, but the mesh
    alg.ClearCache()  # reaches a whole domain width beyond it
    leaf_at(alg, 0.5)
    assert "beyond it" in alg.last_error


def test_fit_dt_warning(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    _fit_model(sur)
    sur.dt = 0.025
    alg = make(SeriesSource(), ckpt, NumberOfFrames=1, Parameters="Um=1.5, Re=100")
    leaf_at(alg, 0.0)  # fit notes are said when the plan is used (the data pass)
    assert "time spacing is 0.5 but the model's dt is 0.025" in messages.GetOutput()


def test_fit_horizon_warning_beyond_the_training_trajectories(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    _fit_model(sur)
    sur.meta = {"train_horizon_frames": 2}
    alg = make(SeriesSource(), ckpt, NumberOfFrames=2, Parameters="Um=1.5, Re=100")
    leaf_at(alg, 0.0)
    assert "longest training trajectory" not in messages.GetOutput()  # 2 frames: inside the horizon
    alg.SetNumberOfFrames(3)
    leaf_at(alg, 0.0)
    out = messages.GetOutput()
    assert "the forecast runs 3 frames" in out and "spans 2 frames" in out and "from frame 3 on" in out
    # what to do, not a repository document to read
    assert "keep the forecast to 2 frames (NumberOfFrames" in out and "at least 4 frames long" in out
    assert ".md" not in out


def test_fit_parameters_missing_out_of_range_nan_and_far(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    _fit_model(sur)
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=1, Parameters="Um=2.9")
    leaf_at(alg, 0.5)
    out = messages.GetOutput()
    assert "parameter Re is not given" in out and "training mean 100" in out
    assert "Um = 2.9" in out and "outside the training mean +- 2 std [0.5, 2.5]" in out
    assert "conditioned on Um = 2.9 (Parameters property), Re = 100 (training mean)" in out
    assert sur.calls[-1]["params"] == {"Um": pytest.approx(2.9)}
    alg.SetParameters("Um=nan, Re=100")
    leaf_at(alg, 0.5)
    assert "Um = nan" in alg.last_error and "not a finite number" in alg.last_error
    alg.SetParameters("Um=-1e9, Re=100")
    leaf_at(alg, 0.5)
    assert "training standard deviations" in alg.last_error
    assert len(sur.calls) == 1  # neither was run


def test_parameter_stored_as_string(fake_surrogate, messages):
    from vtkmodules.vtkFiltersCore import vtkPassThrough

    sur, ckpt = fake_surrogate
    sur.param_std = [1e-3]
    ug = SeriesSource(composite=False).frame(0.0)
    s = vtkStringArray()
    s.SetName("param_nu")
    s.InsertNextValue("2e-3")
    ug.GetFieldData().AddArray(s)
    flow_model(sur)
    sur.param_names, sur.param_mean = ["nu"], [1e-3]
    pt = vtkPassThrough()
    pt.SetInputData(ug)
    alg = make(pt, ckpt, NumberOfFrames=1)
    alg.UpdateTimeStep(0.5)
    assert alg.last_error is None, alg.last_error
    assert sur.calls[-1]["params"] == {"nu": pytest.approx(2e-3)}
    s.SetValue(0, "two thousandths")
    s.Modified()
    ug.Modified()
    alg.UpdateTimeStep(0.5)
    assert "param_nu holds the text 'two thousandths'" in alg.last_error


def test_caps_and_zero_samples_are_messages(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=10**6)
    assert times_of(alg) == pytest.approx(src.times)  # refused: the input's times stay
    leaf_at(alg, 0.5)
    assert f"between 1 and {MAX_FRAMES}" in alg.last_error
    alg.SetNumberOfFrames(2)
    alg.SetNumberOfSamples(0)
    leaf_at(alg, 0.5)
    assert "NumberOfSamples is 0" in alg.last_error
    alg.SetNumberOfSamples(1000)
    leaf_at(alg, 0.5)
    assert "NumberOfSamples is 1000" in alg.last_error
    assert not sur.calls
    assert messages.GetOutput().count("NumberOfSamples is 1000") == 1


def test_empty_input_and_single_point_are_messages(fake_surrogate):
    sur, ckpt = fake_surrogate
    alg = EchoRolloutAlgorithm()
    alg.SetCheckpoint(str(ckpt))
    alg.SetInputData(vtkUnstructuredGrid())
    alg.UpdateTimeStep(0.5)
    assert "holds no dataset" in alg.last_error or "is empty" in alg.last_error
    one = convert.make_unstructured_grid(np.zeros((1, 3)), None, {"p": np.ones(1)})
    alg.SetInputData(one)
    alg.UpdateTimeStep(0.5)
    assert "has 1 point(s)" in alg.last_error
    ints = convert.make_unstructured_grid(np.eye(3), None, {"p": np.arange(3, dtype=np.int32)})
    alg.SetInputData(ints)
    alg.UpdateTimeStep(0.5)
    assert alg.last_error is None, alg.last_error  # an int32 field converts exactly
    np.testing.assert_allclose(sur.calls[-1]["observed"][0, :, 0], [0, 1, 2])


def test_checkpoint_accepts_a_finished_run_directory(fake_surrogate, tmp_path):
    sur, ckpt = fake_surrogate
    run = tmp_path / "run"
    run.mkdir()
    alg = EchoRolloutAlgorithm()
    alg.SetInputData(convert.make_unstructured_grid(np.eye(3), None, {"p": np.arange(3.0)}))
    alg.SetCheckpoint(str(run))
    alg.UpdateTimeStep(0.5)
    assert "folder without a finished model" in alg.last_error and "EchoTrain's Status" in alg.last_error
    (run / "model.safetensors").write_bytes(ckpt.read_bytes())  # what `echopv train all` leaves there
    alg.Modified()
    alg.UpdateTimeStep(0.5)
    assert alg.last_error is None and len(sur.calls) == 1


def test_progress_text_names_the_frame(fake_surrogate):
    from vtkmodules.vtkCommonCore import vtkCommand

    sur, ckpt = fake_surrogate
    alg = EchoRolloutAlgorithm()
    alg.SetInputData(convert.make_unstructured_grid(np.eye(3), None, {"p": np.arange(3.0)}))
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(4)
    alg.PROGRESS_INTERVAL_S = alg.PROGRESS_MIN_STEP = 0.0  # every report (the defaults space them)
    texts: list[str] = []
    alg.AddObserver(vtkCommand.ProgressEvent, lambda obj, _ev: texts.append(obj.GetProgressText()))
    alg.UpdateTimeStep(1.0)
    assert "EchoRollout: frame 2/4" in texts and texts[-1] == "EchoRollout: frame 4/4"


def test_settings_changed_one_by_one_say_only_the_plan_that_is_used(fake_surrogate, messages):
    """pvpython's EchoRollout(Input=..., Checkpoint=..., NumberOfFrames=...) sets the properties one
    at a time, each with an information pass: only the plan the data pass uses is reported."""
    sur, ckpt = fake_surrogate
    flow_model(sur, dt=0.25)
    sur.meta = {"train_horizon_frames": 4}
    alg = make(SeriesSource(), ckpt)  # the default 10 frames: past the horizon
    times_of(alg)
    alg.SetNumberOfFrames(3)
    times_of(alg)
    leaf_at(alg, 0.75)
    out = messages.GetOutput()
    assert "3 frame(s) of the model's dt" in out and "10 frame(s)" not in out, out
    assert "longest training trajectory" not in out and alg.n_rollouts == 1


def test_number_of_frames_message_names_dt(fake_surrogate, messages):
    sur, ckpt = fake_surrogate
    flow_model(sur, dt=0.25)
    alg = make(SeriesSource(), ckpt, NumberOfFrames=4)
    leaf_at(alg, 0.0)
    assert "4 frame(s) of the model's dt = 0.25 after t = 0, up to t = 1" in messages.GetOutput()

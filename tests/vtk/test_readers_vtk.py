"""The readers as plain VTK algorithms (pip vtk wheel, no ParaView): values, time, laziness, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
h5py = pytest.importorskip("h5py")
from vtkmodules.util import numpy_support as ns  # noqa: E402
from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkStringOutputWindow  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkDataObject  # noqa: E402

from echo_model.data.store import TrajectoryStore  # noqa: E402
from echo_model.io_well import read_well, write_well  # noqa: E402
from echo_paraview import convert  # noqa: E402
from echo_paraview.readers import (  # noqa: E402
    EchoDatasetReaderAlgorithm,
    EchoModelReaderAlgorithm,
    WellReaderAlgorithm,
)
from reader_files import grid_trajectory, write_small_dataset  # noqa: E402

SAMPLE_MODEL = "sample_cases/ns2d_vorticity/model_tiny.safetensors"
SAMPLE_3D = "sample_cases/ns3d_taylor_green/ns3d_32.h5"




def _at(alg, t: float):
    alg.UpdateTimeStep(t)
    return alg.GetOutputDataObject(0)


def _array(ds, name: str) -> np.ndarray:
    arr = ds.GetPointData().GetArray(name)
    assert arr is not None, f"no point array {name}"
    return ns.vtk_to_numpy(arr).copy()


def _field(ds, name: str):
    arr = ds.GetFieldData().GetAbstractArray(name)
    assert arr is not None, f"no field data {name}"
    return arr.GetValue(0)


# ------------------------------------------------------------------------------------------
# ECHO datasets
# ------------------------------------------------------------------------------------------
def test_dataset_reader_matches_the_store(tmp_path):
    path = write_small_dataset(tmp_path / "d.h5", n_traj=3, n_frames=5)
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(path))
    r.SetTrajectory(2)
    r.UpdateInformation()
    with TrajectoryStore(path) as store:
        traj = store[2]
    assert r.GetTimestepValues() == pytest.approx(traj.times.tolist())
    assert r.GetNumberOfTrajectories() == 3
    assert "trajectory 2 of 3 (test)" in r.GetTrajectoryInfo() and "nu=0.003" in r.GetTrajectoryInfo()
    out = _at(r, traj.times[3] + 1e-3)  # between steps: the last step <= t
    assert out.GetClassName() == "vtkUnstructuredGrid"
    assert out.GetInformation().Get(vtkDataObject.DATA_TIME_STEP()) == pytest.approx(traj.times[3])
    np.testing.assert_array_equal(_array(out, "u"), traj.field("u")[3])
    np.testing.assert_array_equal(_array(out, "p"), traj.field("p")[3])
    assert out.GetPointData().GetArray("u").GetNumberOfComponents() == 2
    np.testing.assert_allclose(convert.get_points(out, 2), traj.points)
    assert out.GetNumberOfCells() == traj.cells.n_cells
    assert float(_field(out, "param_nu")) == pytest.approx(traj.params["nu"])
    assert float(_field(out, "param_Re")) == pytest.approx(traj.params["Re"])
    assert _field(out, "split") == "test" and int(_field(out, "trajectory_index")) == 2


def test_dataset_reader_reads_one_frame_of_a_100_frame_dataset(tmp_path, monkeypatch):
    path = write_small_dataset(tmp_path / "long.h5", n_traj=2, n_frames=100, shape=(4, 4))
    reads: list = []
    real = TrajectoryStore.read_fields

    def counting(self, i, frames=slice(None)):
        out = real(self, i, frames)
        reads.append((i, out.shape[0]))
        return out

    def forbidden(self, i):
        raise AssertionError("the reader loaded a whole trajectory")

    monkeypatch.setattr(TrajectoryStore, "read_fields", counting)
    monkeypatch.setattr(TrajectoryStore, "__getitem__", forbidden)
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(path))
    r.SetTrajectory(1)
    r.UpdateInformation()
    assert len(r.GetTimestepValues()) == 100 and reads == []  # opening reads no frame
    out = _at(r, r.GetTimestepValues()[57])
    assert reads == [(1, 1)] and r.frames_read == [(1, 57)]
    with TrajectoryStore(path) as store:
        np.testing.assert_array_equal(_array(out, "p"), real(store, 1, [57])[0][:, 2])


def test_dataset_reader_array_selection_and_vertices(tmp_path):
    path = write_small_dataset(tmp_path / "nocells.h5", n_traj=1, cells=False)
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(path))
    r.UpdateInformation()
    sel = r.GetPointArraySelection()
    assert [sel.GetArrayName(i) for i in range(sel.GetNumberOfArrays())] == ["u", "p"]
    sel.DisableArray("u")
    out = _at(r, 0.0)
    assert out.GetPointData().GetArray("u") is None and out.GetPointData().GetArray("p") is not None
    assert out.GetNumberOfCells() == out.GetNumberOfPoints() == 30  # one vertex per point
    sel.DisableArray("p")
    r.frames_read.clear()
    _at(r, 0.5)
    assert r.frames_read == []  # nothing selected: no frame read at all


def test_dataset_reader_multiblock_of_trajectories(tmp_path):
    path = write_small_dataset(tmp_path / "d.h5", n_traj=3, n_frames=3)
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(path))
    r.SetTrajectories("all")
    r.UpdateInformation()
    # trajectory s starts at 0.25 s: the union of their times
    assert r.GetTimestepValues() == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5])
    mb = _at(r, 0.75)
    assert mb.GetClassName() == "vtkMultiBlockDataSet" and mb.GetNumberOfBlocks() == 3
    with TrajectoryStore(path) as store:
        for b in range(3):
            blk = mb.GetBlock(b)
            k = int(np.searchsorted(store.times(b), 0.75 + 1e-9, side="right") - 1)
            np.testing.assert_array_equal(_array(blk, "p"), store.read_fields(b, [k])[0][:, 2])
            assert float(_field(blk, "param_Re")) == pytest.approx(100.0 + b)
    r.SetTrajectories("0,2")
    r.UpdateInformation()
    assert _at(r, 0.0).GetNumberOfBlocks() == 2
    r.SetTrajectories("")  # back to one trajectory
    r.UpdateInformation()
    assert _at(r, 0.0).GetClassName() == "vtkUnstructuredGrid"


def test_dataset_reader_errors_are_messages(tmp_path, errors):
    path = write_small_dataset(tmp_path / "d.h5", n_traj=2)
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(path))
    r.SetTrajectory(7)
    r.Update()  # must not raise
    assert "Trajectory is 7" in r.last_error and "0..1" in r.last_error
    r.SetTrajectory(0)
    r.SetTrajectories("1-5")
    r.Update()
    assert "Trajectories '1-5'" in r.last_error
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(path.read_bytes()[:3000])
    r.SetTrajectories("")
    r.SetFileName(str(corrupt))
    r.Update()
    assert "cannot be read as HDF5" in r.last_error and "truncated" in r.last_error
    assert not r.CanReadFile(str(corrupt))
    well = write_well(tmp_path / "w.hdf5", [grid_trajectory(0)])
    r.SetFileName(str(well))
    r.Update()
    assert "not an ECHO dataset" in r.last_error and "WellReader" in r.last_error
    assert "ERROR: In EchoDatasetReader" in errors.GetOutput()
    r.SetFileName(str(path))
    r.Update()
    assert r.last_error is None and r.GetOutputDataObject(0).GetNumberOfPoints() == 30


# ------------------------------------------------------------------------------------------
# The Well
# ------------------------------------------------------------------------------------------
def _well_values_by_point(out, names):
    """{name: values} of a Well reader output, reordered to The Well's "ij" point order."""
    pts = convert.get_points(out)
    d = 3 if np.ptp(pts[:, 2]) > 0 else 2
    order = np.lexsort(tuple(pts[:, a] for a in reversed(range(d))))  # x slowest, last axis fastest
    return pts[order, :d], {n: _array(out, n).reshape(out.GetNumberOfPoints(), -1)[order] for n in names}


def test_well_reader_equals_echopv_import_2d(tmp_path):
    trajs = [grid_trajectory(s, (7, 5), 4, (("u", 2), ("p", 1), ("S", 4))) for s in range(2)]
    path = write_well(tmp_path / "w.hdf5", trajs, periodic=(True, False))
    ref = read_well(path)[1]  # what `echopv import` reads
    r = WellReaderAlgorithm()
    r.SetFileName(str(path))
    r.SetSample(1)
    r.UpdateInformation()
    assert r.GetTimestepValues() == pytest.approx(ref.times.tolist()) and r.GetNumberOfSamples() == 2
    out = _at(r, ref.times[2])
    assert out.GetClassName() == "vtkImageData" and out.GetDimensions() == (7, 5, 1)
    assert out.GetPointData().GetArray("u").GetNumberOfComponents() == 2
    assert out.GetPointData().GetArray("S").GetNumberOfComponents() == 4  # t2: D*D row-major
    pts, vals = _well_values_by_point(out, ["u", "p", "S"])
    np.testing.assert_allclose(pts, ref.points, atol=1e-7)
    for name in ("u", "p", "S"):
        np.testing.assert_array_equal(vals[name], ref.field(name)[2].reshape(ref.n_points, -1))
    assert sorted(r.frames_read) == [("S", 1, 2), ("p", 1, 2), ("u", 1, 2)]  # one time index each
    assert float(_field(out, "param_nu")) == pytest.approx(ref.params["nu"])
    mask = _array(out, "bc_x_periodic").reshape(5, 7)  # VTK order: x fastest
    assert mask[:, 0].all() and mask[:, -1].all() and not mask[:, 1:-1].any()


def test_well_reader_3d_nonuniform_is_rectilinear(tmp_path):
    axes = [np.array([0.0, 0.1, 0.3, 0.7]), np.linspace(0, 1, 3), np.linspace(0, 2, 5)]
    t = grid_trajectory(0, n_frames=3, layout=(("U", 3), ("rho", 1)), spacing=axes)
    path = write_well(tmp_path / "w3.hdf5", [t])
    ref = read_well(path)[0]
    r = WellReaderAlgorithm()
    r.SetFileName(str(path))
    out = _at(r, 1.0)
    assert out.GetClassName() == "vtkRectilinearGrid" and out.GetDimensions() == (4, 3, 5)
    np.testing.assert_allclose(ns.vtk_to_numpy(out.GetXCoordinates()), axes[0], rtol=1e-6)
    pts, vals = _well_values_by_point(out, ["U", "rho"])
    np.testing.assert_allclose(pts, ref.points, atol=1e-6)
    np.testing.assert_array_equal(vals["U"], ref.field("U")[2])
    np.testing.assert_array_equal(vals["rho"][:, 0], ref.field("rho")[2])


def test_well_reader_placeholder_axes_and_bad_shapes(tmp_path, errors):
    path = tmp_path / "pad.hdf5"
    prof = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 1, 5)  # (B, T, 1, NY): varies along y
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="pad", grid_type="cartesian", n_spatial_dims=2, n_trajectories=2)
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["x"], dims["y"], dims["time"] = np.linspace(0, 1, 4), np.linspace(0, 1, 5), np.arange(3.0)
        g = f.create_group("t0_fields")
        g.attrs["field_names"] = ["prof"]
        g["prof"] = prof
        g["prof"].attrs.update(sample_varying=True, time_varying=True, dim_varying=np.array([False, True]))
        sc = f.create_group("scalars")
        sc["energy"] = np.array([1.0, 2.0, 3.0])
        sc["energy"].attrs.update(sample_varying=False, time_varying=True)
    r = WellReaderAlgorithm()
    r.SetFileName(str(path))
    out = _at(r, 2.0)
    assert r.last_error is None
    arr = out.GetPointData().GetArray("prof")
    assert arr.GetNumberOfComponents() == 1  # not 5 components
    np.testing.assert_array_equal(ns.vtk_to_numpy(arr).reshape(5, 4), np.repeat(prof[0, 2, 0][:, None], 4, axis=1))
    assert float(_field(out, "energy")) == 3.0  # a time-varying scalar: this frame's value
    with h5py.File(path, "a") as f:
        del f["t0_fields/prof"]
        f["t0_fields/prof"] = np.zeros((2, 3, 7, 5), np.float32)  # 7 fits no axis
    r.Modified()
    r.Update()
    assert "t0_fields/prof" in r.last_error and "(2, 3, 7, 5)" in r.last_error
    assert "ERROR: In WellReader" in errors.GetOutput()


def test_well_reader_on_a_sample_case_converted_by_write_well(tmp_path):
    with TrajectoryStore(SAMPLE_3D) as store:
        traj = store[0]
    path = write_well(tmp_path / "tg.hdf5", [traj])
    r = WellReaderAlgorithm()
    r.SetFileName(str(path))
    r.UpdateInformation()
    np.testing.assert_allclose(r.GetTimestepValues(), traj.times)
    out = _at(r, traj.times[-1])
    assert out.GetClassName() == "vtkImageData" and out.GetDimensions() == (32, 32, 32)
    name, ncomp = traj.field_layout[0]
    assert out.GetPointData().GetArray(name).GetNumberOfComponents() == ncomp


# ------------------------------------------------------------------------------------------
# model files
# ------------------------------------------------------------------------------------------
def test_model_reader_table(tmp_path, errors):
    r = EchoModelReaderAlgorithm()
    r.SetFileName(SAMPLE_MODEL)
    r.Update()
    t = r.GetOutputDataObject(0)
    assert t.GetClassName() == "vtkTable" and t.GetNumberOfColumns() == 3
    rows = {(t.GetColumn(0).GetValue(i), t.GetColumn(1).GetValue(i)): t.GetColumn(2).GetValue(i)
            for i in range(t.GetNumberOfRows())}
    assert rows[("summary", "fields")] == "vorticity[1]"
    assert rows[("summary", "dt")] == "0.5" and rows[("summary", "dimension")] == "2-D"
    assert "mean" in rows[("summary", "parameter nu")]
    assert rows[("summary", "latent grid")].startswith("[8, 8] x 8 channels")
    assert rows[("summary", "preset")] == "tiny"
    assert t.GetFieldData().GetAbstractArray("summary.fields").GetValue(0) == "vorticity[1]"
    bad = tmp_path / "other.safetensors"
    header = json.dumps({"__metadata__": {"x": "1"}}).encode()
    bad.write_bytes(len(header).to_bytes(8, "little") + header)
    r.SetFileName(str(bad))
    r.Update()
    assert "not an ECHO model file" in r.last_error
    assert not r.CanReadFile(str(bad)) and r.CanReadFile(SAMPLE_MODEL)

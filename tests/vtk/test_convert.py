"""echo_paraview.convert with the pip vtk wheel: round trips, layouts, dtype policy."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

vtk_cc = pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.util import numpy_support as ns  # noqa: E402
from vtkmodules.vtkFiltersSources import vtkSphereSource  # noqa: E402

from echo_model.celltypes import CellType  # noqa: E402
from echo_model.data.trajectory import Cells, Trajectory  # noqa: E402
from echo_model.errors import EchoUserError  # noqa: E402
from echo_paraview import convert  # noqa: E402


def _tri_mesh():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0.5]], dtype=np.float64)
    cells = Cells(
        connectivity=np.array([0, 1, 2, 0, 2, 3, 1, 4, 2], dtype=np.int64),
        offsets=np.array([0, 3, 6, 9], dtype=np.int64),
        types=np.full(3, CellType.TRIANGLE, dtype=np.uint8),
    )
    return pts, cells


def test_unstructured_round_trip_keeps_points_cells_and_vectors():
    pts, cells = _tri_mesh()
    u = np.arange(10, dtype=np.float32).reshape(5, 2)
    p = np.linspace(0, 1, 5)
    ug = convert.make_unstructured_grid(pts, cells, {"U": u, "p": p})
    assert ug.GetNumberOfPoints() == 5 and ug.GetNumberOfCells() == 3
    assert ug.GetPointData().GetArray("U").GetNumberOfComponents() == 2

    traj = convert.dataset_to_trajectory(ug)
    assert traj.dim == 2
    np.testing.assert_allclose(traj.points, pts)
    assert traj.field_layout == [("U", 2), ("p", 1)]
    assert traj.fields.shape == (1, 5, 3) and traj.fields.dtype == np.float32
    np.testing.assert_allclose(traj.fields[0, :, :2], u)
    np.testing.assert_allclose(traj.fields[0, :, 2], p.astype(np.float32))
    np.testing.assert_array_equal(traj.cells.connectivity, cells.connectivity)
    np.testing.assert_array_equal(traj.cells.offsets, cells.offsets)
    np.testing.assert_array_equal(traj.cells.types, cells.types)


def test_select_by_name_and_order():
    pts, cells = _tri_mesh()
    ug = convert.make_unstructured_grid(pts, cells, {"a": np.zeros(5), "b": np.ones((5, 3))})
    vals, layout = convert.get_fields(ug, ["b", "a"])
    assert layout == [("b", 3), ("a", 1)]
    assert vals.shape == (5, 4)
    np.testing.assert_array_equal(vals[:, :3], 1.0)
    np.testing.assert_array_equal(vals[:, 3], 0.0)
    with pytest.raises(convert.MissingArrayError, match="available"):  # the user's choice: an EchoUserError
        convert.get_fields(ug, ["missing"])


def test_cell_data_optional():
    pts, cells = _tri_mesh()
    ug = convert.make_unstructured_grid(pts, cells)
    convert.add_array(ug, "k", np.array([1.0, 2.0, 3.0]), association="cell")
    vals, layout = convert.get_fields(ug, association="cell")
    assert layout == [("k", 1)]
    np.testing.assert_array_equal(vals[:, 0], [1, 2, 3])
    assert convert.point_field_names(ug) == []


def test_polydata_cells_and_internal_arrays_skipped():
    s = vtkSphereSource()
    s.SetThetaResolution(8)
    s.SetPhiResolution(6)
    s.Update()
    pd = s.GetOutput()
    ghost = ns.numpy_to_vtk(np.zeros(pd.GetNumberOfPoints(), dtype=np.uint8), deep=True)
    ghost.SetName("vtkGhostType")
    pd.GetPointData().AddArray(ghost)
    assert "vtkGhostType" not in convert.point_field_names(pd)
    assert "Normals" in convert.point_field_names(pd)
    cells = convert.get_cells(pd)
    assert cells.n_cells == pd.GetNumberOfCells()
    assert set(np.unique(cells.types)) == {CellType.TRIANGLE}
    # round trip through an unstructured grid preserves the triangles
    ug = convert.make_unstructured_grid(convert.get_points(pd), cells)
    assert ug.GetNumberOfCells() == pd.GetNumberOfCells()
    assert convert.infer_dim(convert.get_points(pd)) == 3


def test_image_data_points_and_cells():
    nx, ny = 4, 3
    vals = np.arange(nx * ny, dtype=np.float64)
    img = convert.make_image_data((nx, ny), spacing=(0.5, 2.0), point_data={"T": vals})
    pts = convert.get_points(img, dim=2)
    assert pts.shape == (12, 2)
    np.testing.assert_allclose(pts[1], [0.5, 0.0])  # x fastest
    np.testing.assert_allclose(pts[nx], [0.0, 2.0])
    cells = convert.get_cells(img)
    assert cells.n_cells == (nx - 1) * (ny - 1)
    np.testing.assert_allclose(convert.get_array(img.GetPointData(), "T"), vals)


def test_multi_frame_trajectory_and_mesh_change_error():
    pts, cells = _tri_mesh()
    frames = [convert.make_unstructured_grid(pts, cells, {"p": np.full(5, float(t))}) for t in range(3)]
    traj = convert.dataset_to_trajectory(frames, times=[0.0, 0.5, 1.0])
    assert traj.n_frames == 3
    np.testing.assert_array_equal(traj.fields[:, 0, 0], [0, 1, 2])
    other = convert.make_unstructured_grid(pts[:4], None, {"p": np.zeros(4)})
    with pytest.raises(EchoUserError, match="mesh must not change"):
        convert.dataset_to_trajectory([frames[0], other])


def test_no_point_field_error_names_fix():
    pts, cells = _tri_mesh()
    with pytest.raises(EchoUserError, match="no numeric point array"):
        convert.dataset_to_trajectory(convert.make_unstructured_grid(pts, cells))


def test_trajectory_frame_to_vtk_splits_layout():
    pts, cells = _tri_mesh()
    fields = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    traj = Trajectory(points=pts, fields=fields, times=[0, 1], field_layout=[("U", 2), ("p", 1)], cells=cells)
    ug = convert.trajectory_frame_to_vtk(traj, 1, suffix="_pred")
    u = ns.vtk_to_numpy(ug.GetPointData().GetArray("U_pred"))
    np.testing.assert_allclose(u, fields[1, :, :2])
    # 2D points are padded with z = 0 on the way into VTK
    assert ug.GetPoint(4) == (2.0, 0.5, 0.0)


def test_dtype_policy():
    assert convert.to_field_dtype(np.arange(3, dtype=np.int16)).dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        convert.to_field_dtype(np.array([1.5, 2.0]))  # float64 in range: silent
        convert.to_field_dtype(np.array([1, 2], dtype=np.int64))  # small ints: silent
    with pytest.warns(convert.LossyConversionWarning, match="2\\*\\*24"):
        convert.to_field_dtype(np.array([2**30 + 1], dtype=np.int64), "ids")
    with pytest.warns(convert.LossyConversionWarning, match="float32 range"):
        out = convert.to_field_dtype(np.array([1e300]), "big")
    assert np.isinf(out[0])
    with pytest.raises(EchoUserError, match="complex"):
        convert.to_field_dtype(np.array([1 + 2j]))


def test_planar_check_for_2d():
    pts = np.array([[0, 0, 0], [1, 0, 1.0]])
    ug = convert.make_unstructured_grid(pts)
    with pytest.raises(EchoUserError, match="not planar"):
        convert.get_points(ug, dim=2)

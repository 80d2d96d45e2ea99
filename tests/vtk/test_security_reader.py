"""Issue 24, groups 1, 2, 8 in plain VTK: EchoDatasetReader and make_unstructured_grid on crafted files.

Cells out of range used to reach vtkUnstructuredGrid unchecked (the next filter read out of bounds);
an external link showed another file's values; NaN or decreasing times were announced as time steps.
Now each is a message (file, trajectory, fix) in the output window and `last_error`, with an empty
output that downstream filters handle."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
pytest.importorskip("h5py")
from vtkmodules.vtkFiltersGeometry import vtkDataSetSurfaceFilter  # noqa: E402

from echo_model.celltypes import CellType  # noqa: E402
from echo_model.data.trajectory import Cells  # noqa: E402
from echo_model.errors import EchoUserError  # noqa: E402
from echo_paraview import convert  # noqa: E402
from echo_paraview.readers import EchoDatasetReaderAlgorithm  # noqa: E402
from hostile_datasets import bad_connectivity, bad_times, external_field, huge_last_offset  # noqa: E402
from reader_files import write_small_dataset  # noqa: E402


def _read(path, trajectories: str = ""):
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(path))
    r.SetTrajectories(trajectories)
    r.Update()
    return r


def _surface_cells(r) -> int:
    """What the next filter sees: it must run (not crash) on whatever the reader produced."""
    f = vtkDataSetSurfaceFilter()
    f.SetInputConnection(r.GetOutputPort())
    f.Update()
    return f.GetOutput().GetNumberOfCells()


@pytest.mark.parametrize("conn, offsets, needle", [
    ([0, 1, 10_000_000], [0, 3], "point id 10000000"), ([0, -7, 2], [0, 3], "point id -7"),
    ([0, 1, 2], [0, 10**9], "offsets runs from 0 to 1000000000"), ([0, 1, 2], [1, 3], "offsets runs from 1")])
def test_make_unstructured_grid_refuses_bad_cells(conn, offsets, needle):
    cells = Cells(np.array(conn), np.array(offsets), np.array([CellType.TRIANGLE], np.uint8))
    with pytest.raises(EchoUserError, match=needle.replace("(", r"\(")):
        convert.make_unstructured_grid(np.zeros((3, 2)), cells)


def test_make_unstructured_grid_still_builds_good_cells():
    cells = Cells(np.array([0, 1, 2]), np.array([0, 3]), np.array([CellType.TRIANGLE], np.uint8))
    ug = convert.make_unstructured_grid(np.eye(3)[:, :2], cells)
    assert ug.GetNumberOfCells() == 1 and ug.GetCell(0).GetPointId(2) == 2


@pytest.mark.parametrize("value", [10_000_000, -7])
def test_reader_refuses_connectivity_out_of_range(tmp_path, errors, value):
    path = bad_connectivity(tmp_path / "bad.h5", value)
    r = _read(path)
    assert str(path) in r.last_error and "trajectory 0" in r.last_error
    assert f"point id {value}" in r.last_error and "echopv import" in r.last_error
    assert "ERROR: In EchoDatasetReader" in errors.GetOutput()
    assert r.GetOutputDataObject(0).GetNumberOfCells() == 0
    assert _surface_cells(r) == 0


def test_reader_multiblock_refuses_one_bad_trajectory(tmp_path, errors):
    path = bad_connectivity(tmp_path / "bad.h5", trajectory=1)
    r = _read(path, "all")
    assert "trajectory 1" in r.last_error and "point id 10000000" in r.last_error


def test_reader_refuses_huge_last_offset(tmp_path, errors):
    r = _read(huge_last_offset(tmp_path / "bad.h5"))
    assert "offsets runs from 0 to 1000000000" in r.last_error
    assert _surface_cells(r) == 0


@pytest.mark.parametrize("times, needle", [([0.0, np.nan, 1.0], "nan at frame 1"),
                                           ([0.0, 1.0, 0.5], "strictly increasing"),
                                           ([0.0, 0.0, 1.0], "strictly increasing")])
def test_reader_announces_no_bad_times(tmp_path, errors, times, needle):
    path = bad_times(tmp_path / "bad.h5", times)
    r = _read(path)
    assert needle in r.last_error and str(path) in r.last_error
    assert r.GetTimestepValues() == []


def test_reader_refuses_external_link(tmp_path, errors):
    path = external_field(tmp_path / "bad.h5", tmp_path / "secret.h5")
    r = _read(path)
    assert "external link" in r.last_error and str(tmp_path / "secret.h5") in r.last_error
    assert r.GetOutputDataObject(0).GetPointData().GetNumberOfArrays() == 0


def test_reader_output_is_cleared_when_the_file_turns_bad(tmp_path, errors):
    path = write_small_dataset(tmp_path / "d.h5", n_traj=2, n_frames=3)
    r = _read(path)
    assert r.last_error is None and r.GetOutputDataObject(0).GetNumberOfCells() > 0
    bad_connectivity(path)  # the same name, rewritten with a bad cell
    r.Modified()
    r.Update()
    assert "point id 10000000" in r.last_error
    assert r.GetOutputDataObject(0).GetNumberOfCells() == 0

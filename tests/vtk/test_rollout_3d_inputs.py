"""EchoRollout on the 3D dataset types an analyst meets: image data, rectilinear grids and unstructured
hexahedra and tetrahedra, with point or cell data; a 3D model with a vector and a scalar field."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.util import numpy_support as ns  # noqa: E402
from vtkmodules.vtkCommonCore import vtkDoubleArray  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkRectilinearGrid, vtkUnstructuredGrid  # noqa: E402
from vtkmodules.vtkFiltersCore import vtkAppendFilter  # noqa: E402
from vtkmodules.vtkFiltersGeneral import vtkDataSetTriangleFilter  # noqa: E402

from echo_paraview import timesteps  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402

N = 7  # points per axis


@pytest.fixture(scope="module")
def model_3d(tmp_path_factory):
    import torch

    from echo_model.data.normalize import Domain
    from echo_model.rollout import create_untrained

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("m3d") / "uvp3d.safetensors"
    create_untrained([("U", 3), ("p", 1)], dim=3, dt=0.1, domain=Domain(np.zeros(3), np.ones(3)), seed=1).save(path)
    return path


def _with_fields(ds, where: str):
    """U = (y, -x, 0.1 z) and p = x + 2 y at the points or the cell centres of `ds`."""
    from vtkmodules.vtkFiltersCore import vtkCellCenters

    if where == "points":
        xyz, data = ns.vtk_to_numpy(ds.GetPoints().GetData()) if hasattr(ds, "GetPoints") and ds.GetPoints() \
            else np.array([ds.GetPoint(i) for i in range(ds.GetNumberOfPoints())]), ds.GetPointData()
    else:
        cc = vtkCellCenters()
        cc.SetInputData(ds)
        cc.Update()
        xyz, data = ns.vtk_to_numpy(cc.GetOutput().GetPoints().GetData()), ds.GetCellData()
    for name, values in (("U", np.stack([xyz[:, 1], -xyz[:, 0], 0.1 * xyz[:, 2]], 1)),
                         ("p", xyz[:, 0] + 2 * xyz[:, 1])):
        arr = ns.numpy_to_vtk(np.ascontiguousarray(values), deep=True)
        arr.SetName(name)
        data.AddArray(arr)
    return ds


def _image() -> vtkImageData:
    img = vtkImageData()
    img.SetDimensions(N, N, N)
    img.SetSpacing(1.0 / (N - 1), 1.0 / (N - 1), 1.0 / (N - 1))
    return img


def _rectilinear() -> vtkRectilinearGrid:
    grid = vtkRectilinearGrid()
    grid.SetDimensions(N, N, N)
    for k, setter in enumerate((grid.SetXCoordinates, grid.SetYCoordinates, grid.SetZCoordinates)):
        c = vtkDoubleArray()
        for v in np.linspace(0, 1, N) ** (1.0 + 0.3 * k):  # stretched towards 0, differently per axis
            c.InsertNextValue(float(v))
        setter(c)
    return grid


def _hexahedra() -> vtkUnstructuredGrid:
    """The image's cells as VTK_HEXAHEDRON (a voxel's corner order differs: 0 1 3 2 4 5 7 6)."""
    app = vtkAppendFilter()
    app.SetInputData(_image())
    app.Update()
    voxels = app.GetOutput()
    out = vtkUnstructuredGrid()
    out.SetPoints(voxels.GetPoints())
    for c in range(voxels.GetNumberOfCells()):
        ids = voxels.GetCell(c).GetPointIds()
        out.InsertNextCell(12, 8, [ids.GetId(k) for k in (0, 1, 3, 2, 4, 5, 7, 6)])
    return out


def _tetrahedra() -> vtkUnstructuredGrid:
    tri = vtkDataSetTriangleFilter()
    tri.SetInputData(_image())
    tri.Update()
    out = vtkUnstructuredGrid()
    out.DeepCopy(tri.GetOutput())
    return out


KINDS = {"image": _image, "rectilinear": _rectilinear, "hexahedra": _hexahedra, "tetrahedra": _tetrahedra}


@pytest.mark.parametrize("where", ["points", "cells"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_rollout_on_3d_inputs_keeps_the_type_and_predicts_where_the_data_lives(model_3d, kind, where, errors):
    ds = _with_fields(KINDS[kind](), where)
    if kind == "tetrahedra":
        assert {ds.GetCellType(i) for i in range(ds.GetNumberOfCells())} == {10}  # VTK_TETRA
    if kind == "hexahedra":
        assert {ds.GetCellType(i) for i in range(ds.GetNumberOfCells())} == {12}  # VTK_HEXAHEDRON
    alg = EchoRolloutAlgorithm()
    alg.SetInputDataObject(ds)
    alg.SetCheckpoint(str(model_3d))
    alg.SetNumberOfFrames(2)
    alg.SetDevice("cpu")
    alg.UpdateInformation()
    times = timesteps.time_steps(alg.GetOutputInformation(0))
    assert times[-2:] == pytest.approx([0.1, 0.2])
    alg.UpdateTimeStep(times[-1])
    out = alg.GetOutputDataObject(0)
    assert out.GetClassName() == ds.GetClassName(), errors.GetOutput()
    data = out.GetPointData() if where == "points" else out.GetCellData()
    n = ds.GetNumberOfPoints() if where == "points" else ds.GetNumberOfCells()
    u, p = data.GetArray("U_pred"), data.GetArray("p_pred")
    assert u is not None and p is not None, errors.GetOutput()
    assert (u.GetNumberOfTuples(), u.GetNumberOfComponents()) == (n, 3)
    assert p.GetNumberOfTuples() == n
    assert np.isfinite(ns.vtk_to_numpy(u)).all() and np.isfinite(ns.vtk_to_numpy(p)).all()

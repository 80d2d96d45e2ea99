"""vtkDataSet <-> numpy / Trajectory, with one explicit dtype policy.

Works with ParaView's VTK 9.2 (Debian 5.11) and the pip `vtk` wheel (9.3+) alike: only
`vtkmodules` and `vtkmodules.util.numpy_support`, no `paraview`, no pyvista.

Dtype policy (the ECHO <-> VTK boundary, as in PhysicsNeMo's pyvista adapter):
  * field values leave VTK as float32 (`FIELD_DTYPE`); points as float64.
  * bool / int8..int16 / uint8..uint16 / float16 / float32 convert exactly, silently.
  * float64 -> float32 drops precision by design (no warning); a finite value that overflows
    float32 (|x| > 3.4e38) emits `LossyConversionWarning`.
  * int32 / int64 / uint32 / uint64 values beyond 2**24 in magnitude are not exactly
    representable in float32: `LossyConversionWarning`.
  * complex or non-numeric arrays raise EchoUserError (there is no meaningful float field).
  * arrays going INTO VTK keep their dtype (deep copies, so VTK owns its memory).

Cells use the VTK >= 9 layout (offsets of length n_cells + 1, flat connectivity) that
`echo_model.data.trajectory.Cells` stores.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from vtkmodules.util import numpy_support as ns
from vtkmodules.vtkCommonCore import (
    vtkDoubleArray,
    vtkIntArray,
    vtkPoints,
    vtkStringArray,
    vtkUnsignedCharArray,
    vtkVersion,
)
from vtkmodules.vtkCommonDataModel import (
    vtkCellArray,
    vtkDataObject,
    vtkDataSet,
    vtkImageData,
    vtkPolyData,
    vtkUnstructuredGrid,
)

from echo_model.celltypes import CellType
from echo_model.data.array_checks import check_cells
from echo_model.data.trajectory import Cells, Trajectory
from echo_model.errors import EchoUserError

FIELD_DTYPE = np.float32
_F32_EXACT_INT = 2**24  # largest integer magnitude float32 represents exactly
_F32_MAX = float(np.finfo(np.float32).max)



class LossyConversionWarning(UserWarning):
    """A value could not be represented exactly in the target dtype."""


class PolyhedraError(EchoUserError):
    """A mesh with polyhedral cells (`io.pvd` catches it by name to keep the points without display cells)."""


# ------------------------------------------------------------------------------------------
# dtype policy
# ------------------------------------------------------------------------------------------
def to_field_dtype(values: np.ndarray, name: str = "array") -> np.ndarray:
    """Cast an array to float32 following the module's dtype policy (see module docstring)."""
    values = np.asarray(values)
    kind = values.dtype.kind
    if kind == "c":
        raise EchoUserError(
            f"array {name!r} is complex ({values.dtype}); ECHO fields are real: split it into "
            f"real and imaginary arrays first"
        )
    if kind not in "biuf":
        raise EchoUserError(f"array {name!r} has non-numeric dtype {values.dtype}; pick a numeric point array")
    if values.dtype == FIELD_DTYPE:
        return np.ascontiguousarray(values)
    if kind in "iu" and values.dtype.itemsize >= 4 and values.size:
        if np.abs(values.astype(np.float64)).max() > _F32_EXACT_INT:
            warnings.warn(
                f"array {name!r} ({values.dtype}) has integers beyond 2**24 that float32 rounds",
                LossyConversionWarning,
                stacklevel=2,
            )
    if kind == "f" and values.dtype.itemsize > 4 and values.size:
        finite = values[np.isfinite(values)]
        if finite.size and np.abs(finite).max() > _F32_MAX:
            warnings.warn(
                f"array {name!r} has finite float64 values beyond float32 range; they become inf",
                LossyConversionWarning,
                stacklevel=2,
            )
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(values.astype(FIELD_DTYPE))


# ------------------------------------------------------------------------------------------
# VTK -> numpy
# ------------------------------------------------------------------------------------------
def _is_internal(name: str | None) -> bool:
    # VTK/ParaView bookkeeping arrays (vtkGhostType, vtkValidPointMask, vtkOriginalPointIds...)
    return not name or name.startswith("vtk")


def array_names(attributes, numeric_only: bool = True) -> list[str]:
    """Names of the arrays of a vtkPointData/vtkCellData, in storage order, minus VTK internals."""
    names = []
    for i in range(attributes.GetNumberOfArrays()):
        arr = attributes.GetAbstractArray(i)
        name = arr.GetName() if arr is not None else None
        if _is_internal(name):
            continue
        if numeric_only and attributes.GetArray(i) is None:  # vtkStringArray etc.
            continue
        names.append(name)
    return names


def point_field_names(ds: vtkDataSet) -> list[str]:
    """Numeric, user-facing point arrays of a dataset (what a rollout can use as a field)."""
    return array_names(ds.GetPointData())


def get_points(ds: vtkDataSet, dim: int | None = None) -> np.ndarray:
    """Point coordinates as float64 (N, 3), or (N, 2) when `dim == 2` (z must be constant)."""
    n = ds.GetNumberOfPoints()
    if n == 0:
        return np.zeros((0, dim or 3))
    pts = getattr(ds, "GetPoints", lambda: None)()
    if pts is not None and pts.GetData() is not None:
        xyz = np.array(ns.vtk_to_numpy(pts.GetData()), dtype=np.float64).reshape(n, 3)
    else:  # implicit points (vtkImageData, vtkRectilinearGrid)
        xyz = _implicit_points(ds)
    if dim is None or dim == 3:
        return xyz
    if dim != 2:
        raise ValueError(f"dim must be 2 or 3, got {dim}")
    if np.ptp(xyz[:, 2]) > 1e-12 * max(1.0, float(np.abs(xyz).max())):
        raise EchoUserError("the dataset is not planar (z varies) but a 2D model was asked for; use a 3D model or slice the data")
    return np.ascontiguousarray(xyz[:, :2])


def _implicit_points(ds: vtkDataSet) -> np.ndarray:
    """Points of large image/rectilinear data without a Python loop per point."""
    from vtkmodules.vtkFiltersCore import vtkAppendFilter

    app = vtkAppendFilter()
    app.AddInputData(ds)
    app.Update()
    out = app.GetOutput()
    return np.array(ns.vtk_to_numpy(out.GetPoints().GetData()), dtype=np.float64).reshape(-1, 3)


def infer_dim(points: np.ndarray) -> int:
    """2 when all z coordinates are equal (planar data), else 3."""
    if points.shape[1] == 2:
        return 2
    z = points[:, 2]
    return 2 if z.size == 0 or np.ptp(z) <= 1e-12 * max(1.0, float(np.abs(points).max())) else 3


class MissingArrayError(EchoUserError):
    """A field the user named is not among the dataset's arrays (the message lists those there are)."""


def get_array(attributes, name: str, what: str = "point") -> np.ndarray:
    """One named array as float32, shape (N,) for scalars, (N, k) for k components."""
    arr = attributes.GetArray(name)
    if arr is None:
        raise MissingArrayError(
            f"no {what} array {name!r}; available: {array_names(attributes)}"
        )
    values = np.asarray(ns.vtk_to_numpy(arr))
    ncomp = arr.GetNumberOfComponents()
    values = values.reshape(arr.GetNumberOfTuples(), ncomp)
    values = to_field_dtype(values, name)
    return values[:, 0] if ncomp == 1 else values


def get_fields(
    ds: vtkDataSet, names: Sequence[str] | None = None, association: str = "point"
) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Stack named arrays into (N, C) float32 plus their field_layout [(name, ncomp)].

    names=None takes every numeric user array in storage order. Vectors keep their
    components as consecutive channels. association: "point" or "cell".
    """
    attrs = {"point": ds.GetPointData, "cell": ds.GetCellData}[association]()
    n = ds.GetNumberOfPoints() if association == "point" else ds.GetNumberOfCells()
    if names is None:
        names = array_names(attrs)
    blocks, layout = [], []
    for name in names:
        v = get_array(attrs, name, association)
        v = v.reshape(n, -1)
        blocks.append(v)
        layout.append((name, v.shape[1]))
    if not blocks:
        return np.zeros((n, 0), dtype=FIELD_DTYPE), []
    return np.ascontiguousarray(np.concatenate(blocks, axis=1)), layout


def _cell_types_array(ug: vtkUnstructuredGrid):
    # GetCellTypesArray() is deprecated from VTK 9.6 (GetCellTypes() returns the array there),
    # while in 9.2 GetCellTypes() needs an argument.
    v = (vtkVersion.GetVTKMajorVersion(), vtkVersion.GetVTKMinorVersion())
    return ug.GetCellTypes() if v >= (9, 6) else ug.GetCellTypesArray()


def _cellarray_numpy(ca: vtkCellArray) -> tuple[np.ndarray, np.ndarray]:
    off = np.asarray(ns.vtk_to_numpy(ca.GetOffsetsArray()), dtype=np.int64)
    conn = np.asarray(ns.vtk_to_numpy(ca.GetConnectivityArray()), dtype=np.int64)
    if off.size == 0:
        off = np.zeros(1, dtype=np.int64)
    return off, conn


def get_cells(ds: vtkDataSet) -> Cells | None:
    """Cells in VTK offsets/connectivity layout, or None when the dataset has none.

    vtkUnstructuredGrid and vtkPolyData are read directly; other types (image, structured,
    rectilinear grids) are converted through vtkAppendFilter. Polyhedra raise EchoUserError
    (their face streams do not fit the Cells layout).
    """
    if ds.GetNumberOfCells() == 0:
        return None
    if isinstance(ds, vtkPolyData):
        return _polydata_cells(ds)
    if not isinstance(ds, vtkUnstructuredGrid):
        from vtkmodules.vtkFiltersCore import vtkAppendFilter

        app = vtkAppendFilter()
        app.AddInputData(ds)
        app.Update()
        ds = app.GetOutput()
    off, conn = _cellarray_numpy(ds.GetCells())
    types = np.asarray(ns.vtk_to_numpy(_cell_types_array(ds)), dtype=np.uint8).copy()
    if (types == CellType.POLYHEDRON).any():
        raise PolyhedraError("polyhedral cells are not supported; triangulate the mesh first (Tetrahedralize filter)")
    return Cells(connectivity=conn.copy(), offsets=off.copy(), types=types)


def _polydata_cells(pd: vtkPolyData) -> Cells:
    # vtkPolyData numbers its cells verts, lines, polys, strips in that order.
    offs, conns, types = [np.zeros(1, dtype=np.int64)], [], []
    base = 0
    for ca, kind in (
        (pd.GetVerts(), "vert"),
        (pd.GetLines(), "line"),
        (pd.GetPolys(), "poly"),
        (pd.GetStrips(), "strip"),
    ):
        if ca is None or ca.GetNumberOfCells() == 0:
            continue
        off, conn = _cellarray_numpy(ca)
        sizes = np.diff(off)
        if kind == "vert":
            t = np.where(sizes == 1, CellType.VERTEX, CellType.POLY_VERTEX)
        elif kind == "line":
            t = np.where(sizes == 2, CellType.LINE, CellType.POLY_LINE)
        elif kind == "poly":
            t = np.select([sizes == 3, sizes == 4], [CellType.TRIANGLE, CellType.QUAD], CellType.POLYGON)
        else:
            t = np.full(sizes.shape, CellType.TRIANGLE_STRIP)
        offs.append(off[1:] + base)
        conns.append(conn)
        types.append(t)
        base += conn.size
    return Cells(
        connectivity=np.concatenate(conns).astype(np.int64) if conns else np.zeros(0, np.int64),
        offsets=np.concatenate(offs).astype(np.int64),
        types=np.concatenate(types).astype(np.uint8) if types else np.zeros(0, np.uint8),
    )


def dataset_to_trajectory(
    frames: vtkDataSet | Sequence[vtkDataSet],
    times: Iterable[float] | None = None,
    names: Sequence[str] | None = None,
    dim: int | None = None,
    with_cells: bool = True,
    metadata: Mapping | None = None,
) -> Trajectory:
    """One dataset (a single static frame) or a list of frames on the same mesh -> Trajectory.

    dim=None infers 2 for planar data. Every frame must have the same points count and the
    requested arrays; the mesh (points, cells) is taken from the first frame.
    """
    seq = [frames] if isinstance(frames, vtkDataSet) else list(frames)
    if not seq:
        raise EchoUserError("no frames given")
    first = seq[0]
    xyz = get_points(first)
    if dim is None:
        dim = infer_dim(xyz)
    points = get_points(first, dim)
    if names is None:
        names = point_field_names(first)
    if not names:
        raise EchoUserError("the dataset has no numeric point array; add a point field (e.g. Point Data > Calculator)")
    fields, layout = [], None
    for i, ds in enumerate(seq):
        if ds.GetNumberOfPoints() != points.shape[0]:
            raise EchoUserError(f"frame {i} has {ds.GetNumberOfPoints()} points, frame 0 has {points.shape[0]}: the mesh must not change")
        values, lay = get_fields(ds, names)
        if layout is not None and lay != layout:
            raise EchoUserError(f"frame {i} has field layout {lay}, frame 0 has {layout}")
        layout = lay
        fields.append(values)
    t = np.arange(len(seq), dtype=np.float64) if times is None else np.asarray(list(times), dtype=np.float64)
    return Trajectory(
        points=points,
        fields=np.stack(fields),
        times=t,
        field_layout=layout or [],
        cells=get_cells(first) if with_cells else None,
        metadata=dict(metadata or {}),
    )


# ------------------------------------------------------------------------------------------
# numpy -> VTK
# ------------------------------------------------------------------------------------------
def _pad3(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must be (N, 2) or (N, 3), got {points.shape}")
    if points.shape[1] == 2:
        points = np.concatenate([points, np.zeros((points.shape[0], 1))], axis=1)
    return np.ascontiguousarray(points)


def make_vtk_points(points: np.ndarray) -> vtkPoints:
    pts = vtkPoints()
    pts.SetData(ns.numpy_to_vtk(_pad3(points), deep=True))
    return pts


def numpy_to_vtk_array(values: np.ndarray, name: str):
    """(N,) or (N, k) numeric array -> a named vtkDataArray (deep copy, dtype kept)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    arr = ns.numpy_to_vtk(values, deep=True)
    arr.SetName(name)
    return arr


def add_array(ds: vtkDataSet, name: str, values: np.ndarray, association: str = "point") -> None:
    """Attach (N,) or (N, k) values as a named point/cell array (replacing one of that name)."""
    attrs = {"point": ds.GetPointData, "cell": ds.GetCellData}[association]()
    expected = ds.GetNumberOfPoints() if association == "point" else ds.GetNumberOfCells()
    values = np.asarray(values)
    if values.shape[0] != expected:
        raise ValueError(f"{association} array {name!r} has {values.shape[0]} tuples, the dataset has {expected}")
    attrs.AddArray(numpy_to_vtk_array(values, name))


def add_fields(ds: vtkDataSet, values: np.ndarray, layout: Sequence[tuple[str, int]], suffix: str = "") -> list[str]:
    """Split (N, C) channels by field_layout into named arrays `<name><suffix>`; returns the names."""
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != sum(k for _, k in layout):
        raise ValueError(f"values {values.shape} do not match field layout {list(layout)}")
    start, names = 0, []
    for name, k in layout:
        block = values[:, start : start + k]
        add_array(ds, name + suffix, block[:, 0] if k == 1 else block)
        names.append(name + suffix)
        start += k
    return names


def set_field_data(data_object, values: Mapping[str, Any]) -> None:
    """Field data from a dict: integers and bools as 1-tuple int arrays, floats as double arrays,
    strings as string arrays, anything else as its JSON text (all visible in the Spreadsheet)."""
    fd = data_object.GetFieldData()
    for name, v in values.items():
        if isinstance(v, (bool, np.bool_, int, np.integer)):
            arr = vtkIntArray()
            arr.InsertNextValue(int(v))
        elif isinstance(v, (float, np.floating)):
            arr = vtkDoubleArray()
            arr.InsertNextValue(float(v))
        else:
            arr = vtkStringArray()
            arr.InsertNextValue(v if isinstance(v, str) else json.dumps(v, default=str))
        arr.SetName(str(name))
        fd.AddArray(arr)


def _cellarray(offsets: np.ndarray, connectivity: np.ndarray) -> vtkCellArray:
    idt = _id_dtype()
    ca = vtkCellArray()
    ca.SetData(
        ns.numpy_to_vtkIdTypeArray(np.ascontiguousarray(offsets, dtype=idt), deep=True),
        ns.numpy_to_vtkIdTypeArray(np.ascontiguousarray(connectivity, dtype=idt), deep=True),
    )
    return ca


def _id_dtype():
    from vtkmodules.vtkCommonCore import vtkIdTypeArray

    return np.int64 if vtkIdTypeArray().GetDataTypeSize() == 8 else np.int32


def make_unstructured_grid(
    points: np.ndarray, cells: Cells | None = None, point_data: Mapping[str, np.ndarray] | None = None
) -> vtkUnstructuredGrid:
    """points (N, 2|3) + Cells (None: one VTK vertex per point, so it still renders)."""
    ug = vtkUnstructuredGrid()
    ug.SetPoints(make_vtk_points(points))
    n = ug.GetNumberOfPoints()
    if cells is None:
        cells = Cells(
            connectivity=np.arange(n, dtype=np.int64),
            offsets=np.arange(n + 1, dtype=np.int64),
            types=np.full(n, CellType.VERTEX, dtype=np.uint8),
        )
    # VTK trusts ids and offsets: one out of range crashes the next filter or render
    check_cells(cells, n, "the mesh's cells")
    types = vtkUnsignedCharArray()
    types.DeepCopy(ns.numpy_to_vtk(np.ascontiguousarray(cells.types, dtype=np.uint8), deep=True))
    ug.SetCells(types, _cellarray(cells.offsets, cells.connectivity))
    for name, values in (point_data or {}).items():
        add_array(ug, name, values)
    return ug


def make_image_data(
    dims: Sequence[int],
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    point_data: Mapping[str, np.ndarray] | None = None,
) -> vtkImageData:
    """Uniform grid of dims (nx, ny[, nz]) points; point_data ordered x fastest (VTK order)."""
    dims = list(dims) + [1] * (3 - len(dims))
    img = vtkImageData()
    img.SetDimensions(*[int(d) for d in dims])
    img.SetSpacing(*(list(spacing) + [1.0] * (3 - len(spacing))))
    img.SetOrigin(*(list(origin) + [0.0] * (3 - len(origin))))
    for name, values in (point_data or {}).items():
        add_array(img, name, values)
    return img


def trajectory_frame_to_vtk(traj: Trajectory, frame: int = 0, suffix: str = "") -> vtkUnstructuredGrid:
    """One frame of a Trajectory as a vtkUnstructuredGrid (vertices when it has no cells)."""
    ug = make_unstructured_grid(traj.points, traj.cells)
    add_fields(ug, traj.fields[frame], traj.field_layout, suffix)
    return ug


def output_like_input(inInfo, outInfo) -> int:
    """RequestDataObject body for filters whose output has the input's concrete type."""
    inp = vtkDataSet.GetData(inInfo[0], 0)
    if inp is None:
        return 1
    out = vtkDataSet.GetData(outInfo, 0)
    if out is None or out.GetClassName() != inp.GetClassName():
        out = inp.NewInstance()
        outInfo.GetInformationObject(0).Set(vtkDataObject.DATA_OBJECT(), out)
    return 1

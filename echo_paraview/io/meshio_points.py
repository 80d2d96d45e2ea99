"""Query meshes for `echopv rollout --query-mesh` (predict on a mesh the model never saw).

`load_query_mesh` reads VTK XML files (.vtu, .vtp, .vti, ...) with VTK's own readers and any other
static mesh meshio reads (gmsh .msh, legacy .vtk, Abaqus .inp, .med, .xdmf, .stl, .obj, ...) with
meshio, into points (+ VTK-layout cells for display). meshio is an optional tool dependency: it is
imported only when such a file is read, and a missing install gives an error that says how to add it.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echo_model.celltypes import CellType
from echo_model.errors import EchoUserError
from echo_model.data.trajectory import Cells

# meshio cell type name -> VTK cell type (the pairs meshio's own VTK writers use)
MESHIO_TO_VTK = {
    "vertex": CellType.VERTEX, "line": CellType.LINE, "triangle": CellType.TRIANGLE,
    "polygon": CellType.POLYGON, "quad": CellType.QUAD, "tetra": CellType.TETRA,
    "hexahedron": CellType.HEXAHEDRON, "wedge": CellType.WEDGE, "pyramid": CellType.PYRAMID,
    "line3": CellType.QUADRATIC_EDGE, "triangle6": CellType.QUADRATIC_TRIANGLE,
    "quad8": CellType.QUADRATIC_QUAD, "tetra10": CellType.QUADRATIC_TETRA,
    "hexahedron20": CellType.QUADRATIC_HEXAHEDRON, "quad9": CellType.BIQUADRATIC_QUAD,
    "triangle7": CellType.BIQUADRATIC_TRIANGLE,
}
# meshio node order -> VTK node order, where they differ (meshio takes gmsh's wedge orientation)
MESHIO_TO_VTK_ORDER = {"wedge": np.array([0, 2, 1, 3, 5, 4])}


@dataclass
class QueryMesh:
    points: np.ndarray  # (N, d) float64, d = 2 when the mesh is planar (or dim=2)
    cells: Cells | None
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""


def _meshio():
    try:
        import meshio
    except ImportError as exc:
        raise EchoUserError(
            "reading query meshes other than VTK XML files needs meshio: `.venv/bin/pip install meshio` "
            "(or `pip install echo-paraview[tools]`); or give a .vtu/.vtp/.vti file instead"
        ) from exc
    return meshio


def read_query_mesh(path: str | os.PathLike, dim: int | None = None, with_cells: bool = True) -> QueryMesh:
    """Points (and cells) of a static mesh file in any format meshio reads (.msh, .inp, .obj,
    .stl, .xdmf, .vtu, .med, ...). dim=None gives 2D points when all z are equal."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no mesh file {path}")
    meshio = _meshio()
    try:
        mesh = meshio.read(path)
    except Exception as exc:  # meshio raises its own ReadError / KeyError for unknown formats
        raise EchoUserError(
            f"meshio cannot read {path} ({type(exc).__name__}: {exc}); convert it to .vtu first"
        ) from exc
    pts = np.asarray(mesh.points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise EchoUserError(f"{path} has no points; give a mesh file with nodes")
    if pts.shape[1] == 2:
        pts3 = np.concatenate([pts, np.zeros((pts.shape[0], 1))], axis=1)
    else:
        pts3 = pts[:, :3]
    if dim is None:
        span = np.ptp(pts3, axis=0)
        dim = 2 if span[2] <= 1e-12 * max(1.0, float(np.abs(pts3).max())) else 3
    if dim not in (2, 3):
        raise EchoUserError(f"dim must be 2 or 3, got {dim}")
    if dim == 2 and np.ptp(pts3[:, 2]) > 1e-12 * max(1.0, float(np.abs(pts3).max())):
        raise EchoUserError(f"{path} is not planar (z varies) but the model is 2D; give a planar mesh")
    points = np.ascontiguousarray(pts3[:, :dim])
    cells = _cells(mesh, path) if with_cells else None
    point_data = {}
    for k, v in (mesh.point_data or {}).items():
        a = np.asarray(v)
        if a.dtype.kind in "biuf" and a.shape[0] == points.shape[0]:
            point_data[str(k)] = a
    return QueryMesh(points=points, cells=cells, point_data=point_data, source=str(path))


def _cells(mesh, path: Path) -> Cells | None:
    conns, sizes, types, skipped = [], [], [], set()
    for block in mesh.cells:
        vtk = MESHIO_TO_VTK.get(block.type)
        data = block.data
        if vtk is None or not isinstance(data, np.ndarray) or data.ndim != 2:
            skipped.add(block.type)
            continue
        order = MESHIO_TO_VTK_ORDER.get(block.type)
        if order is not None:
            data = data[:, order]
        conns.append(data.reshape(-1).astype(np.int64))
        sizes.append(np.full(data.shape[0], data.shape[1], dtype=np.int64))
        types.append(np.full(data.shape[0], vtk, dtype=np.uint8))
    if skipped:
        warnings.warn(f"{path}: cell types {sorted(skipped)} are not kept (points are)")
    if not conns:
        return None
    sz = np.concatenate(sizes)
    return Cells(
        connectivity=np.concatenate(conns),
        offsets=np.concatenate([[0], np.cumsum(sz)]).astype(np.int64),
        types=np.concatenate(types),
    )


def load_query_mesh(path: str | os.PathLike, dim: int) -> tuple[np.ndarray, Cells | None]:
    """Points (N, dim) and cells of a query mesh: VTK XML through VTK, anything else through meshio."""
    from .pvd import FRAME_EXTENSIONS, read_frame

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no query mesh file {path}")
    if path.suffix.lower() in FRAME_EXTENSIONS:
        from ..convert import get_cells, get_points

        ds = read_frame(path)
        return get_points(ds, dim=dim), get_cells(ds)
    mesh = read_query_mesh(path, dim=dim)
    return mesh.points, mesh.cells

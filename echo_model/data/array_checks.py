"""Checks of a trajectory's arrays as read from a file, before anything is built from them.

A dataset file may be damaged or crafted: a cell pointing at point 10,000,000 or an offset of 1e9
makes VTK read out of bounds (ParaView crashes in the next filter or render), NaN or decreasing
times announce time steps that show the wrong frame. Every check raises `EchoUserError` naming the
array, the first bad entry and the fix. numpy only (no VTK, no h5py).
"""
from __future__ import annotations

import numpy as np

from ..celltypes import CellType
from ..errors import EchoUserError
from .trajectory import Cells

# points per cell where VTK fixes the count (vtkCellType.h and each cell class)
FIXED_POINTS: dict[int, int] = {
    CellType.EMPTY_CELL: 0, CellType.VERTEX: 1, CellType.LINE: 2, CellType.TRIANGLE: 3,
    CellType.PIXEL: 4, CellType.QUAD: 4, CellType.TETRA: 4, CellType.VOXEL: 8,
    CellType.HEXAHEDRON: 8, CellType.WEDGE: 6, CellType.PYRAMID: 5, CellType.PENTAGONAL_PRISM: 10,
    CellType.HEXAGONAL_PRISM: 12, CellType.QUADRATIC_EDGE: 3, CellType.QUADRATIC_TRIANGLE: 6,
    CellType.QUADRATIC_QUAD: 8, CellType.QUADRATIC_TETRA: 10, CellType.QUADRATIC_HEXAHEDRON: 20,
    CellType.QUADRATIC_WEDGE: 15, CellType.QUADRATIC_PYRAMID: 13, CellType.BIQUADRATIC_QUAD: 9,
    CellType.TRIQUADRATIC_HEXAHEDRON: 27, CellType.BIQUADRATIC_TRIANGLE: 7,
}
# variable-size cells and the fewest points each needs
MIN_POINTS: dict[int, int] = {
    CellType.POLY_VERTEX: 1, CellType.POLY_LINE: 2, CellType.TRIANGLE_STRIP: 3, CellType.POLYGON: 3,
}
# times: their own module (trajectory.py uses them, and this module imports trajectory.py); re-exported here
from .time_checks import _FIX, UnevenTimeStepWarning, check_times, uneven_steps  # noqa: E402,F401


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_offsets(offsets: np.ndarray, n_cells: int, n_conn: int, where: str) -> None:
    if offsets.ndim != 1 or offsets.shape[0] != n_cells + 1:
        raise EchoUserError(f"{where}: cells/offsets has shape {offsets.shape}, expected ({n_cells + 1},) "
                            f"for {n_cells} cell types; {_FIX}")
    if offsets[0] != 0 or offsets[-1] != n_conn:
        raise EchoUserError(f"{where}: cells/offsets runs from {int(offsets[0])} to {int(offsets[-1])}, expected "
                            f"0 to {n_conn} (the length of cells/connectivity); {_FIX}")
    down = np.diff(offsets) < 0
    if down.any():
        k = _first(down)
        raise EchoUserError(f"{where}: cells/offsets decreases at cell {k} ({int(offsets[k])} then "
                            f"{int(offsets[k + 1])}); {_FIX}")


def _check_types(types: np.ndarray, sizes: np.ndarray, where: str) -> None:
    known = np.array(sorted(FIXED_POINTS) + sorted(MIN_POINTS))
    unknown = ~np.isin(types, known)
    if unknown.any():
        k = _first(unknown)
        extra = " (polyhedra need face streams this format does not store: triangulate the mesh)" \
            if int(types[k]) == CellType.POLYHEDRON else ""
        raise EchoUserError(f"{where}: cell {k} has VTK cell type {int(types[k])}, which ECHO does not read{extra}; "
                            f"{_FIX}")
    need = np.zeros(256, dtype=np.int64)
    exact = np.zeros(256, dtype=bool)
    for t, n in FIXED_POINTS.items():
        need[t], exact[t] = n, True
    for t, n in MIN_POINTS.items():
        need[t] = n
    idx = types.astype(np.int64)
    bad = np.where(exact[idx], sizes != need[idx], sizes < need[idx])
    if bad.any():
        k = _first(bad)
        kind = "exactly" if exact[idx[k]] else "at least"
        raise EchoUserError(f"{where}: cell {k} ({CellType(int(types[k])).name}) has {int(sizes[k])} points, "
                            f"needs {kind} {int(need[idx[k]])}; {_FIX}")


def check_cells(cells: Cells, n_points: int, where: str) -> None:
    """Refuse cells VTK would read out of bounds; call before building any VTK object.

    Parameters
    ----------
    cells : Cells
        Connectivity, offsets (VTK >= 9 layout) and cell types.
    n_points : int
        Points of the mesh the cells index into.
    where : str
        The file and trajectory, for the message.

    Raises
    ------
    EchoUserError
        A point id outside [0, n_points), offsets not running monotonically from 0 to
        len(connectivity), an unknown cell type, or a cell with the wrong number of points.

    Example
    -------
    >>> import numpy as np
    >>> tri = Cells(np.array([0, 1, 2]), np.array([0, 3]), np.array([5], np.uint8))
    >>> check_cells(tri, 3, "demo.h5 trajectory 0")
    >>> check_cells(Cells(np.array([0, 1, 7]), np.array([0, 3]), np.array([5], np.uint8)), 3, "demo")
    Traceback (most recent call last):
    ...
    echo_model.errors.EchoUserError: demo: cells/connectivity holds point id 7 at entry 2, but the mesh has 3 points (ids 0..2); the file is damaged or was not written by echo-paraview: re-create it with `echopv import` or `echopv generate`
    """
    conn, offsets, types = (np.asarray(a) for a in (cells.connectivity, cells.offsets, cells.types))
    for name, arr in (("connectivity", conn), ("offsets", offsets), ("types", types)):
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise EchoUserError(f"{where}: cells/{name} must be a 1-D integer array, got {arr.dtype} {arr.shape}; {_FIX}")
    # unsigned ids beyond int64 wrap to negative here and are refused below
    conn, offsets = conn.astype(np.int64, copy=False), offsets.astype(np.int64, copy=False)
    out = (conn < 0) | (conn >= n_points)
    if out.any():
        k = _first(out)
        raise EchoUserError(f"{where}: cells/connectivity holds point id {int(conn[k])} at entry {k}, but the mesh "
                            f"has {n_points} points (ids 0..{n_points - 1}); {_FIX}")
    _check_offsets(offsets, types.shape[0], conn.shape[0], where)
    _check_types(types, np.diff(offsets), where)


__all__ = ["FIXED_POINTS", "MIN_POINTS", "UnevenTimeStepWarning", "check_cells", "check_times", "uneven_steps"]

"""VTK cell-type ids by name, without importing VTK (pyvista's `CellType` is the model).

`Cells.types` (echo_model/data/trajectory.py) holds these ids as uint8 in VTK's own numbering
(vtkCellType.h), so a dataset's cells go to VTK unchanged. Write `CellType.QUAD`, never a bare 9.
tests/vtk/test_celltypes.py checks every value against vtkmodules' constants.
"""
from __future__ import annotations

from enum import IntEnum


class CellType(IntEnum):
    """VTK cell type ids (the subset this project reads or writes, plus their common neighbours)."""

    EMPTY_CELL = 0
    VERTEX = 1
    POLY_VERTEX = 2
    LINE = 3
    POLY_LINE = 4
    TRIANGLE = 5
    TRIANGLE_STRIP = 6
    POLYGON = 7
    PIXEL = 8
    QUAD = 9
    TETRA = 10
    VOXEL = 11
    HEXAHEDRON = 12
    WEDGE = 13
    PYRAMID = 14
    PENTAGONAL_PRISM = 15
    HEXAGONAL_PRISM = 16
    QUADRATIC_EDGE = 21
    QUADRATIC_TRIANGLE = 22
    QUADRATIC_QUAD = 23
    QUADRATIC_TETRA = 24
    QUADRATIC_HEXAHEDRON = 25
    QUADRATIC_WEDGE = 26
    QUADRATIC_PYRAMID = 27
    BIQUADRATIC_QUAD = 28
    TRIQUADRATIC_HEXAHEDRON = 29
    BIQUADRATIC_TRIANGLE = 34
    POLYHEDRON = 42


__all__ = ["CellType"]

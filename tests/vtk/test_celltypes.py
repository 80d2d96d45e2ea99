"""echo_model.celltypes.CellType names the same ids as VTK's own vtkCellType.h constants."""
from __future__ import annotations

import pytest

vtk_dm = pytest.importorskip("vtkmodules.vtkCommonDataModel")

from echo_model.celltypes import CellType  # noqa: E402


@pytest.mark.parametrize("member", list(CellType), ids=lambda m: m.name)
def test_every_cell_type_matches_vtk(member):
    assert getattr(vtk_dm, f"VTK_{member.name}") == int(member)


def test_members_are_plain_ints_for_numpy():
    import numpy as np

    types = np.full(3, CellType.HEXAHEDRON, dtype=np.uint8)
    assert types.dtype == np.uint8 and int(types[0]) == 12 and (types == CellType.HEXAHEDRON).all()

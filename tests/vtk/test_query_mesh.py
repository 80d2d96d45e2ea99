"""`echopv rollout --query-mesh` on meshes meshio reads (gmsh .msh, legacy .vtk) and on VTK XML."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_model.celltypes import CellType
from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError
from echo_model.rollout import create_untrained
from echo_paraview.cli import main as echopv
from echo_paraview.io.meshio_points import load_query_mesh
from echo_paraview.io.pvd import read_series

meshio = pytest.importorskip("meshio")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("query")
    x = np.linspace(0, 2, 8)
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    f = np.stack([np.sin(pts[:, 0] + 0.1 * t) for t in range(3)])[..., None].astype(np.float32)
    data = tmp / "d.h5"
    write_dataset(data, [Trajectory(pts, f, 0.1 * np.arange(3), [("p", 1)])], name="t", domain=Domain([0, 0], [2, 2]))
    model = tmp / "m.safetensors"
    create_untrained([("p", 1)], 2, domain=Domain([0, 0], [2, 2]), dt=0.1).save(model)
    return tmp, model, data


def _square_mesh(n: int = 5):
    """A planar n x n grid on [0, 2]^2: quads and, split along the diagonal, triangles."""
    x = np.linspace(0, 2, n)
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel(), np.zeros(n * n)], 1)
    a = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]).ravel()
    quads = np.stack([a, a + 1, a + 1 + n, a + n], 1)
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return pts, quads, tris


@pytest.mark.parametrize("suffix, fmt, kind", [(".msh", "gmsh22", "triangle"), (".vtk", "vtk", "quad")])
def test_rollout_on_a_meshio_mesh(model_and_data, suffix, fmt, kind):
    tmp, model, data = model_and_data
    pts, quads, tris = _square_mesh()
    cells = tris if kind == "triangle" else quads
    path = tmp / f"query_{kind}{suffix}"
    meshio.write(path, meshio.Mesh(pts, [(kind, cells)]), file_format=fmt, **({"binary": False} if fmt == "vtk" else {}))
    out = tmp / f"out_{kind}"
    assert echopv(["rollout", str(model), "--dataset", str(data), "--query-mesh", str(path), "--frames", "2",
                   "--out", str(out)]) == 0
    pred = read_series(out / "prediction.pvd")
    assert pred.n_frames == 2 and pred.n_points == 25 and pred.field_layout == [("p", 1)]
    np.testing.assert_allclose(pred.points, pts[:, :2])
    assert pred.cells is not None and pred.cells.n_cells == len(cells)
    want = CellType.TRIANGLE if kind == "triangle" else CellType.QUAD
    assert set(np.unique(pred.cells.types)) == {want}
    np.testing.assert_array_equal(pred.cells.connectivity, cells.ravel())
    assert np.isfinite(pred.fields).all()


def test_meshio_and_vtk_readers_agree_on_wedge_node_order(tmp_path):
    """meshio keeps gmsh's wedge orientation; the cells handed to VTK must be in VTK's order."""
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]], dtype=float)
    mesh = meshio.Mesh(pts, [("wedge", np.array([[0, 1, 2, 3, 4, 5]]))])
    meshio.write(tmp_path / "w.vtu", mesh)  # meshio's own writer converts to VTK order
    meshio.write(tmp_path / "w.msh", mesh, file_format="gmsh22")
    _, via_vtk = load_query_mesh(tmp_path / "w.vtu", dim=3)
    _, via_meshio = load_query_mesh(tmp_path / "w.msh", dim=3)
    assert int(via_meshio.types[0]) == CellType.WEDGE
    np.testing.assert_array_equal(via_meshio.connectivity, via_vtk.connectivity)


def test_unreadable_query_mesh_is_a_user_error(model_and_data, capsys):
    tmp, model, data = model_and_data
    bad = tmp / "mesh.unknownformat"
    bad.write_text("not a mesh")
    with pytest.raises(EchoUserError, match="meshio cannot read"):
        load_query_mesh(bad, dim=2)
    assert echopv(["rollout", str(model), "--dataset", str(data), "--query-mesh", str(bad), "--out",
                   str(tmp / "o")]) == 2
    assert "convert it to .vtu" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        load_query_mesh(tmp / "missing.msh", dim=2)

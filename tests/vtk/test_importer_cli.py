"""`echopv import` / `echopv export` end to end through the CLI entry point."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules")

from echo_model.data.store import TrajectoryStore
from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError
from echo_model.io_well import write_well
from echo_paraview.cli import main
from echo_paraview.io.importer import detect, parse_split
from echo_paraview.io.pvd import read_series, write_pvd


def _traj(seed: int, T: int = 5, n: int = 30) -> Trajectory:
    rng = np.random.default_rng(seed)
    return Trajectory(
        points=rng.random((n, 2)),
        fields=rng.standard_normal((T, n, 3)).astype(np.float32),
        times=np.arange(T) * 0.1,
        field_layout=[("U", 2), ("p", 1)],
        params={"Re": float(seed)},
    )


def _grid(seed: int, T: int = 4) -> Trajectory:
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(8) / 8, np.arange(4) / 4, indexing="ij")
    return Trajectory(
        points=np.stack([x.ravel(), y.ravel()], 1),
        fields=rng.standard_normal((T, 32, 3)).astype(np.float32),
        times=np.arange(T) * 0.5,
        field_layout=[("velocity", 2), ("tracer", 1)],
        params={"Re": 1e4},
    )


def test_import_pvd_directories(tmp_path, capsys):
    trajs = [_traj(s) for s in range(3)]
    for i, t in enumerate(trajs):
        write_pvd(t, tmp_path / f"run{i}" / "flow.pvd")
    out = tmp_path / "set.h5"
    srcs = [str(tmp_path / f"run{i}") for i in range(3)]
    assert main(["import", *srcs, "--out", str(out), "--every", "2", "--split", "none", "--quiet"]) == 0
    assert "3 trajectories" in capsys.readouterr().out
    with TrajectoryStore(out) as store:
        assert len(store) == 3 and store.info.field_layout == [("U", 2), ("p", 1)]
        assert list(store.split_indices("train")) == [0, 1, 2]
        for i, t in enumerate(trajs):
            back = store[i]
            np.testing.assert_array_equal(back.points, t.points)
            np.testing.assert_array_equal(back.fields, t.fields[::2])
            np.testing.assert_array_equal(back.times, t.times[::2])
            assert back.params == t.params
    # and back out again: export -> the same values
    assert main(["export", str(out), "--out", str(tmp_path / "exp"), "--traj", "1", "--quiet"]) == 0
    back = read_series(tmp_path / "exp" / "traj_0001.pvd")
    np.testing.assert_array_equal(back.fields, trajs[1].fields[::2])


def test_import_glob_and_field_subset(tmp_path):
    write_pvd(_traj(0, T=6), tmp_path / "a.pvd")
    out = tmp_path / "g.h5"
    assert main(["import", str(tmp_path / "a" / "*.vtu"), "--out", str(out), "--fields", "p", "--compression", "none",
                 "--skip-time", "0.2", "--quiet"]) == 0
    with TrajectoryStore(out) as store:
        t = store[0]
        assert t.field_layout == [("p", 1)] and t.n_frames == 4
        np.testing.assert_allclose(t.times, [0.2, 0.3, 0.4, 0.5])


def test_import_well_file(tmp_path):
    well = write_well(tmp_path / "shear.hdf5", [_grid(s) for s in range(4)], periodic=(True, True))
    assert detect(str(well)) == "well"
    out = tmp_path / "w.h5"
    assert main(["import", str(well), "--out", str(out), "--split", "train=0-1,val=2,test=3", "--quiet"]) == 0
    with TrajectoryStore(out) as store:
        assert len(store) == 4
        assert list(store.split_indices("val")) == [2] and list(store.split_indices("test")) == [3]
        assert store.info.domain.periodic == (True, True)
        np.testing.assert_allclose(store.info.domain.hi, [1.0, 1.0])  # periodic: one step past the last node
        t = store[3]
        np.testing.assert_array_equal(t.fields, _grid(3).fields)
        assert t.cells is not None and t.cells.n_cells == 7 * 3


def test_bad_inputs_exit_2(tmp_path, capsys):
    assert main(["import", str(tmp_path / "missing"), "--out", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["import", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "x.h5")]) == 2
    assert "unknown input type" in capsys.readouterr().err
    write_pvd(_traj(0), tmp_path / "a.pvd")
    assert main(["import", str(tmp_path / "a.pvd"), "--out", str(tmp_path / "x.txt")]) == 2
    assert ".h5" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "a.pvd"), "--out", str(tmp_path / "x.h5"), "--fields", "T"]) == 2
    assert "no point array 'T'" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()  # nothing half-written
    # two sources with different fields
    write_pvd(_grid(0), tmp_path / "b.pvd")
    assert main(["import", str(tmp_path / "a.pvd"), str(tmp_path / "b.pvd"), "--out", str(tmp_path / "y.h5")]) == 2
    assert "one set of fields" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "e")]) == 2


def test_parse_split():
    assert parse_split(None) is None
    assert parse_split("val=0.2,test=0.1") == (0.2, 0.1)
    assert parse_split("train=0-2,test=5+7") == {"train": [0, 1, 2], "test": [5, 7]}
    with pytest.raises(EchoUserError, match="unknown split"):
        parse_split("dev=1")


def test_meshio_query_mesh(tmp_path):
    meshio = pytest.importorskip("meshio")
    from echo_paraview.io.meshio_points import read_query_mesh

    pts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=float)
    meshio.write(tmp_path / "sq.msh", meshio.Mesh(pts, [("triangle", np.array([[0, 1, 2], [0, 2, 3]]))]),
                 file_format="gmsh22")
    q = read_query_mesh(tmp_path / "sq.msh")
    assert q.points.shape == (4, 2) and q.cells.n_cells == 2 and int(q.cells.types[0]) == 5
    np.testing.assert_array_equal(q.cells.offsets, [0, 3, 6])
    with pytest.raises(FileNotFoundError):
        read_query_mesh(tmp_path / "none.msh")


def _foam_file(cls: str, obj: str, values: np.ndarray) -> str:
    kind = "vector" if values.ndim == 2 else "scalar"
    rows = "\n".join("(" + " ".join(f"{x:.9g}" for x in v) + ")" if values.ndim == 2 else f"{v:.9g}" for v in values)
    return (
        "FoamFile\n{\n    version 2.0;\n    format ascii;\n    class " + cls + ";\n    object " + obj + ";\n}\n"
        "dimensions [0 1 -1 0 0 0 0];\n\n"
        f"internalField nonuniform List<{kind}>\n{len(values)}\n(\n{rows}\n)\n;\n\nboundaryField\n{{\n}}\n"
    )


def _make_foam_case(root, n=12, times=(0.1, 0.2, 0.3, 0.4)):
    """A one-cell-thick 2D slab written by hand: cell centres (C) + U, p per time directory."""
    rng = np.random.default_rng(5)
    centres = np.c_[rng.random((n, 2)), np.full(n, 0.05)]
    (root / "system").mkdir(parents=True)
    (root / "system" / "controlDict").write_text("FoamFile { class dictionary; object controlDict; }\n")
    (root / "constant" / "polyMesh").mkdir(parents=True)
    (root / "constant" / "polyMesh" / "boundary").write_text("1\n(\nfrontAndBack\n{\n type empty;\n}\n)\n")
    ref = {}
    for t in times:
        d = root / f"{t:g}"
        d.mkdir()
        U = np.c_[rng.standard_normal((n, 2)), np.zeros(n)]
        p = rng.standard_normal(n)
        (d / "C").write_text(_foam_file("volVectorField", "C", centres))
        (d / "U").write_text(_foam_file("volVectorField", "U", U))
        (d / "p").write_text(_foam_file("volScalarField", "p", p))
        ref[t] = (U[:, :2], p)
    return centres[:, :2], ref


def test_import_openfoam_case(tmp_path):
    pytest.importorskip("echo_model.cases.openfoam")
    case = tmp_path / "cyl"
    centres, ref = _make_foam_case(case)
    assert detect(str(case)) == "openfoam"
    out = tmp_path / "foam.h5"
    assert main(["import", str(case), "--out", str(out), "--skip-time", "0.2", "--every", "2", "--quiet"]) == 0
    with TrajectoryStore(out) as store:
        t = store[0]
        assert t.dim == 2 and t.field_layout == [("U", 2), ("p", 1)]
        np.testing.assert_allclose(t.times, [0.2, 0.4])
        np.testing.assert_allclose(t.points, centres, rtol=1e-8)
        np.testing.assert_allclose(t.field("U")[1], ref[0.4][0], rtol=1e-6)
        np.testing.assert_allclose(t.field("p")[0], ref[0.2][1], rtol=1e-6)
    assert main(["import", str(case), "--out", str(out), "--fields", "T"]) == 2


def test_export_import_keeps_periodic_domain(tmp_path):
    from echo_model.data.normalize import Domain
    from echo_model.data.store import write_dataset

    src = tmp_path / "src.h5"
    dom = Domain([0.0, 0.0], [1.0, 1.0], (True, True))
    write_dataset(src, [_grid(0), _grid(1)], name="g", domain=dom)
    assert main(["export", str(src), "--out", str(tmp_path / "exp"), "--quiet"]) == 0
    out = tmp_path / "back.h5"
    assert main(["import", str(tmp_path / "exp" / "traj_0000.pvd"), str(tmp_path / "exp" / "traj_0001.pvd"),
                 "--out", str(out), "--quiet"]) == 0
    with TrajectoryStore(out) as store:
        assert store.info.domain.periodic == (True, True)
        np.testing.assert_array_equal(store.info.domain.hi, [1.0, 1.0])  # not the points' max 0.875
        np.testing.assert_array_equal(store[1].fields, _grid(1).fields)


@pytest.mark.parametrize("start_flag", ["--start-time", "--skip-time"])
def test_import_time_range_of_a_pvd_series(tmp_path, capsys, start_flag):
    src = _traj(0, T=8)  # t = 0.0 .. 0.7
    write_pvd(src, tmp_path / "a.pvd")
    out = tmp_path / "r.h5"
    assert main(["import", str(tmp_path / "a.pvd"), "--out", str(out), start_flag, "0.2", "--end-time", "0.5",
                 "--quiet"]) == 0
    with TrajectoryStore(out) as store:
        np.testing.assert_allclose(store[0].times, [0.2, 0.3, 0.4, 0.5])
        np.testing.assert_array_equal(store[0].fields, src.fields[2:6])
    # frames without a collection file (times from each frame's TimeValue): the same range
    assert main(["import", str(tmp_path / "a" / "*.vtu"), "--out", str(out), "--end-time", "0.25", "--quiet"]) == 0
    with TrajectoryStore(out) as store:
        np.testing.assert_allclose(store[0].times, [0.0, 0.1, 0.2])


def test_import_empty_time_range_names_the_available_range(tmp_path, capsys):
    write_pvd(_traj(0, T=8), tmp_path / "a.pvd")
    out = tmp_path / "r.h5"
    assert main(["import", str(tmp_path / "a.pvd"), "--out", str(out), "--start-time", "0.55", "--end-time", "0.58",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no frame" in err and "t = 0 .. 0.7" in err and "8 frames" in err and "Traceback" not in err
    assert main(["import", str(tmp_path / "a.pvd"), "--out", str(out), "--start-time", "0.5", "--end-time", "0.2",
                 "--quiet"]) == 2
    assert "--end-time 0.2 is before --start-time 0.5" in capsys.readouterr().err
    assert not out.exists()


def test_import_openfoam_case_up_to_an_end_time(tmp_path, capsys):
    pytest.importorskip("echo_model.cases.openfoam")
    case = tmp_path / "cyl"
    _, ref = _make_foam_case(case)  # t = 0.1 .. 0.4
    out = tmp_path / "foam.h5"
    assert main(["import", str(case), "--out", str(out), "--end-time", "0.3", "--quiet"]) == 0
    with TrajectoryStore(out) as store:
        np.testing.assert_allclose(store[0].times, [0.1, 0.2, 0.3])
        np.testing.assert_allclose(store[0].field("p")[-1], ref[0.3][1], rtol=1e-6)
    assert main(["import", str(case), "--out", str(tmp_path / "none.h5"), "--end-time", "0.05", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no frame" in err and "t = 0.1 .. 0.4" in err and "4 frames" in err

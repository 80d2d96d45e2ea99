"""dataset -> .pvd + .vtu series -> read back identical; other series flavours; clear errors."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("vtkmodules")

from echo_model.data.store import TrajectoryStore, write_dataset
from echo_model.data.trajectory import Cells, Trajectory
from echo_model.errors import EchoUserError
from echo_paraview import convert
from echo_paraview.io.exporter import export_dataset
from echo_paraview.io.pvd import parse_pvd, read_frame, read_series, write_pvd, write_series_json


def _tri_traj(seed=0, T=6):
    """2D points on a 5x4 lattice joined by triangles, vector + scalar fields, irregular times."""
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.linspace(0, 2, 5), np.linspace(0, 1, 4), indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], 1) + rng.normal(0, 0.01, (20, 2))
    tris = []
    for i in range(4):
        for j in range(3):
            a, b, c, d = i * 4 + j, (i + 1) * 4 + j, (i + 1) * 4 + j + 1, i * 4 + j + 1
            tris += [[a, b, c], [a, c, d]]
    tris = np.array(tris)
    cells = Cells(tris.ravel(), np.arange(len(tris) + 1) * 3, np.full(len(tris), 5, np.uint8))
    return Trajectory(
        points=points,
        fields=rng.standard_normal((T, 20, 3)).astype(np.float32),
        times=np.cumsum(rng.uniform(0.1, 0.3, T)),
        field_layout=[("U", 2), ("p", 1)],
        params={"Re": 100.0 + seed, "nu": 1e-3},
        cells=cells,
        metadata={"case": f"tri{seed}"},
    )


def _cloud3d(T=4):
    rng = np.random.default_rng(7)
    return Trajectory(
        points=rng.random((50, 3)),
        fields=rng.standard_normal((T, 50, 4)).astype(np.float32),
        times=np.arange(T) * 0.5,
        field_layout=[("U", 3), ("p", 1)],
        params={"Re": 50.0},
    )


def _assert_same(a: Trajectory, b: Trajectory):
    np.testing.assert_array_equal(b.points, a.points)
    np.testing.assert_array_equal(b.fields, a.fields)
    np.testing.assert_array_equal(b.times, a.times)
    assert b.field_layout == a.field_layout
    assert b.params == a.params


def test_dataset_export_roundtrip_identical(tmp_path):
    trajs = [_tri_traj(0), _tri_traj(1, T=3)]
    ds = tmp_path / "set.h5"
    write_dataset(ds, trajs, name="tri")
    paths = export_dataset(ds, tmp_path / "out", progress=False)
    assert [p.name for p in paths] == ["traj_0000.pvd", "traj_0001.pvd"]
    entries = parse_pvd(paths[0])
    assert len(entries) == 6
    files = [d.get("file") for d in ET.parse(paths[0]).getroot().iter("DataSet")]
    assert files[0] == "traj_0000/traj_0000_0000.vtu" and not any(f.startswith("/") for f in files)
    with TrajectoryStore(ds) as store:
        for i, p in enumerate(paths):
            back = read_series(p)
            ref = store[i]
            _assert_same(ref, back)
            np.testing.assert_array_equal(back.cells.connectivity, ref.cells.connectivity)
            np.testing.assert_array_equal(back.cells.offsets, ref.cells.offsets)
            np.testing.assert_array_equal(back.cells.types, ref.cells.types)
            assert back.metadata["case"] == f"tri{i}" and back.metadata["trajectory_index"] == i
    # the whole folder moves: paths inside the .pvd are relative
    (tmp_path / "out").rename(tmp_path / "moved")
    _assert_same(trajs[0], read_series(tmp_path / "moved" / "traj_0000.pvd"))


def test_3d_cloud_provenance_and_vertex_cells(tmp_path):
    t = _cloud3d()
    p = write_pvd(t, tmp_path / "pred.pvd", provenance={"is_prediction": True, "model_id": "echo-abc123"})
    frame = read_frame(tmp_path / "pred" / "pred_0002.vtu")
    fd = frame.GetFieldData()
    assert fd.GetArray("is_prediction").GetValue(0) == 1
    assert fd.GetAbstractArray("echo_model_id").GetValue(0) == "echo-abc123"
    assert fd.GetArray("param_Re").GetValue(0) == 50.0
    assert fd.GetArray("TimeValue").GetValue(0) == 1.0
    assert frame.GetPointData().GetArray("U").GetNumberOfComponents() == 3
    assert frame.GetNumberOfCells() == 50  # one vertex per point so ParaView renders it
    back = read_series(p)
    _assert_same(t, back)
    assert back.cells is None and back.metadata["is_prediction"] is True
    assert back.metadata["model_id"] == "echo-abc123"


def test_planar_3d_stays_3d_and_series_json(tmp_path):
    t = _cloud3d(T=3)
    t = Trajectory(points=np.c_[t.points[:, :2], np.zeros(50)], fields=t.fields, times=t.times,
                   field_layout=t.field_layout)
    write_pvd(t, tmp_path / "flat.pvd", compressor="lz4")
    assert read_series(tmp_path / "flat.pvd").dim == 3
    # a .vtu.series over the same frames, in reverse order on purpose: times sort them
    rows = [(float(t.times[i]), f"flat/flat_{i:04d}.vtu") for i in reversed(range(3))]
    s = write_series_json(tmp_path / "flat.vtu.series", rows)
    back = read_series(s, every=2)
    np.testing.assert_array_equal(back.times, t.times[::2])
    np.testing.assert_array_equal(back.fields, t.fields[::2])


def test_frame_lists_globs_and_selection(tmp_path):
    t = _tri_traj(2, T=8)
    write_pvd(t, tmp_path / "r.pvd")
    # glob of frames: times come from each frame's TimeValue
    back = read_series(str(tmp_path / "r" / "r_*.vtu"), skip_time=float(t.times[3]), every=2)
    np.testing.assert_array_equal(back.times, t.times[3::2])
    np.testing.assert_array_equal(back.fields, t.fields[3::2])
    # a directory holding exactly one .pvd uses it; --fields picks arrays
    back = read_series(tmp_path, fields=["p"])
    assert back.field_layout == [("p", 1)]
    np.testing.assert_array_equal(back.fields[..., 0], t.field("p"))


def test_image_multiblock_and_cell_data(tmp_path):
    from vtkmodules.vtkCommonDataModel import vtkMultiBlockDataSet
    from vtkmodules.vtkIOXML import vtkXMLImageDataWriter, vtkXMLMultiBlockDataWriter

    rng = np.random.default_rng(3)
    vals = rng.standard_normal((3, 12)).astype(np.float32)
    rows = []
    for k in range(3):
        img = convert.make_image_data((4, 3), spacing=(0.5, 1.0), point_data={"T": vals[k]})
        w = vtkXMLImageDataWriter()
        w.SetInputData(img)
        w.SetFileName(str(tmp_path / f"img_{k}.vti"))
        w.Write()
        mb = vtkMultiBlockDataSet()
        mb.SetNumberOfBlocks(2)
        mb.SetBlock(0, convert.make_unstructured_grid(np.zeros((0, 3))))  # empty: skipped
        mb.SetBlock(1, img)
        mb.GetMetaData(1).Set(vtkMultiBlockDataSet.NAME(), "fluid")
        w = vtkXMLMultiBlockDataWriter()
        w.SetInputData(mb)
        w.SetFileName(str(tmp_path / "mb" / f"m_{k}.vtm"))
        w.Write()
        rows.append((0.1 * k, f"mb/m_{k}.vtm"))
    back = read_series([tmp_path / f"img_{k}.vti" for k in range(3)])
    assert back.dim == 2 and back.n_points == 12
    np.testing.assert_allclose(back.points[5], [0.5, 1.0])  # VTK order: x fastest
    np.testing.assert_array_equal(back.fields[..., 0], vals)
    np.testing.assert_array_equal(back.times, [0, 1, 2])
    write_series_json(tmp_path / "m.vtm.series", rows)
    mb_back = read_series(tmp_path / "m.vtm.series", block="fluid")
    np.testing.assert_array_equal(mb_back.fields[..., 0], vals)
    np.testing.assert_allclose(mb_back.times, [0.0, 0.1, 0.2])
    with pytest.raises(EchoUserError, match="no non-empty block named 'solid'"):
        read_series(tmp_path / "m.vtm.series", block="solid")
    # cell data only: points become cell centres
    ug = convert.make_unstructured_grid(_tri_traj().points, _tri_traj().cells)
    convert.add_array(ug, "q", np.arange(24, dtype=np.float32), association="cell")
    from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter

    w = vtkXMLUnstructuredGridWriter()
    w.SetInputData(ug)
    w.SetFileName(str(tmp_path / "cells.vtu"))
    w.Write()
    c = read_series(tmp_path / "cells.vtu")
    assert c.n_points == 24 and c.cells is None and c.metadata["association"] == "cell"
    np.testing.assert_array_equal(c.fields[0, :, 0], np.arange(24))


def test_clear_errors(tmp_path):
    a, b = _tri_traj(0, T=2), _cloud3d(T=2)
    write_pvd(a, tmp_path / "a.pvd")
    write_pvd(b, tmp_path / "b.pvd")
    files = [tmp_path / "a" / "a_0000.vtu", tmp_path / "b" / "b_0001.vtu"]
    with pytest.raises(EchoUserError, match="has 50 points but the first frame has 20"):
        read_series(files)
    with pytest.raises(FileNotFoundError):
        read_series(tmp_path / "nothing.pvd")
    (tmp_path / "bad.pvd").write_text("<VTKFile><Nope/></VTKFile>")
    with pytest.raises(EchoUserError, match="not a .pvd collection"):
        read_series(tmp_path / "bad.pvd")
    (tmp_path / "bad.vtu.series").write_text(json.dumps({"file-series-version": "1.0"}))
    with pytest.raises(EchoUserError, match="no \"files\" list"):
        read_series(tmp_path / "bad.vtu.series")
    with pytest.raises(EchoUserError, match="no point array 'nope'"):
        read_series(tmp_path / "a.pvd", fields=["nope"])
    with pytest.raises(EchoUserError, match="drops every frame"):
        read_series(tmp_path / "a.pvd", skip_time=1e9)

"""Issue 24, groups 1, 2, 8, 9: hostile dataset files, crafted here, are refused by TrajectoryStore.

Group 1: cells out of range / inconsistent offsets / unknown types.  Group 2: external links, soft
links that dangle or loop, external and virtual storage.  Group 8: times NaN, decreasing, duplicate,
short.  Group 9: a tiny file declaring 1e9 times or points, or 1e9 trajectories.
Every refusal is an EchoUserError naming the file (and the trajectory or the link) and the fix."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from echo_model.celltypes import CellType
from echo_model.data.store import TrajectoryStore, write_dataset
from echo_model.data.trajectory import Cells, Trajectory
from echo_model.errors import EchoUserError
from echo_paraview.cli import main

FIX = "echopv import"


def _grid_cells(n: int) -> Cells:
    """Quads of an n x n point grid."""
    ids = np.arange(n * n).reshape(n, n)
    quads = np.stack([ids[:-1, :-1], ids[:-1, 1:], ids[1:, 1:], ids[1:, :-1]], axis=-1).reshape(-1, 4)
    k = quads.shape[0]
    return Cells(quads.reshape(-1), np.arange(0, 4 * k + 1, 4), np.full(k, CellType.QUAD, np.uint8))


@pytest.fixture
def dataset(tmp_path):
    """A valid 2-trajectory dataset on a 4 x 4 grid with quads, uncompressed (easy to edit)."""
    g = np.stack(np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 1, 4), indexing="ij"), -1).reshape(-1, 2)
    trajs = [Trajectory(g, np.full((3, 16, 1), float(i), np.float32), [0.0, 0.1, 0.2], [("u", 1)],
                        params={"nu": 0.1 * (i + 1)}, cells=_grid_cells(4)) for i in range(2)]
    path = tmp_path / "d.h5"
    write_dataset(path, trajs, name="t", split={"train": [0, 1]}, compression=None)
    return path


def _replace(path, name: str, data=None, **kw) -> None:
    with h5py.File(path, "r+") as f:
        del f[name]
        f.create_dataset(name, data=data, **kw)


def _refused(path, read, *needles) -> str:
    with pytest.raises(EchoUserError) as info:
        with TrajectoryStore(path) as store:
            read(store)
    msg = str(info.value)
    assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


# --- group 1: cells ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry, value", [(5, 10_000_000), (0, -7)])
def test_cells_connectivity_out_of_range(dataset, entry, value):
    with h5py.File(dataset, "r") as f:
        conn = f["trajectories/000001/cells/connectivity"][()]
    conn[entry] = value
    _replace(dataset, "trajectories/000001/cells/connectivity", conn)
    _refused(dataset, lambda s: s.cells(1), "trajectory 1", f"point id {value}", "16 points", FIX)


def test_cells_last_offset_huge(dataset):
    with h5py.File(dataset, "r") as f:
        off = f["trajectories/000000/cells/offsets"][()]
    off[-1] = 10**9
    _replace(dataset, "trajectories/000000/cells/offsets", off)
    _refused(dataset, lambda s: s.cells(0), "trajectory 0", "offsets runs from 0 to 1000000000", "expected 0 to 36")


def test_cells_offsets_decreasing(dataset):
    with h5py.File(dataset, "r") as f:
        off = f["trajectories/000000/cells/offsets"][()]
    off[3], off[4] = off[4], off[3]
    _replace(dataset, "trajectories/000000/cells/offsets", off)
    _refused(dataset, lambda s: s.cells(0), "offsets decreases at cell 3")


@pytest.mark.parametrize("ctype, needle", [(200, "cell type 200"), (int(CellType.POLYHEDRON), "triangulate"),
                                           (int(CellType.TRIANGLE), "TRIANGLE) has 4 points, needs exactly 3")])
def test_cells_bad_types(dataset, ctype, needle):
    with h5py.File(dataset, "r") as f:
        types = f["trajectories/000000/cells/types"][()]
    types[2] = ctype
    _replace(dataset, "trajectories/000000/cells/types", types)
    _refused(dataset, lambda s: s.cells(0), "cell 2", needle)


def test_valid_cells_still_read(dataset):
    with TrajectoryStore(dataset) as s:
        cells = s.cells(1)
        assert cells.n_cells == 9 and cells.connectivity.max() == 15
        assert s[1].fields[0, 0, 0] == 1.0


# --- group 2: links -----------------------------------------------------------------------------
def test_external_link_field_is_refused(dataset, tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["values"] = np.full((3, 16, 1), 31337.25, np.float32)  # a value no temporary path holds
    with h5py.File(dataset, "r+") as f:
        del f["trajectories/000000/fields"]
        f["trajectories/000000/fields"] = h5py.ExternalLink(str(secret), "/values")
    msg = _refused(dataset, lambda s: s.read_fields(0, [0]), "/trajectories/000000/fields", "external link",
                   str(secret))
    assert "31337" not in msg.replace(str(secret), "")  # the linked file's data never reaches the message
    code = main(["info", str(dataset)])  # every CLI verb opens datasets through TrajectoryStore
    assert code == 2


def test_external_link_at_the_top_is_refused_on_open(dataset, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["mean"] = np.zeros(1)
    with h5py.File(dataset, "r+") as f:
        del f["stats"]
        f["stats"] = h5py.ExternalLink(str(other), "/")
    _refused(dataset, lambda s: None, "/stats", "external link")


def test_soft_link_cycle_is_refused(dataset):
    with h5py.File(dataset, "r+") as f:
        del f["trajectories/000000/cells"]
        f["trajectories/000000/cells"] = h5py.SoftLink("/trajectories")
    _refused(dataset, lambda s: s.cells(0), "/trajectories/000000/cells", "cycle")


def test_soft_link_chain_loop_is_refused(dataset):
    with h5py.File(dataset, "r+") as f:
        del f["trajectories/000000/times"]
        f["trajectories/000000/times"] = h5py.SoftLink("/loop_a")
        f["loop_a"] = h5py.SoftLink("/loop_b")
        f["loop_b"] = h5py.SoftLink("/loop_a")
    _refused(dataset, lambda s: s.times(0), "/trajectories/000000/times", "another link")


def test_dangling_soft_link_is_refused(dataset):
    with h5py.File(dataset, "r+") as f:
        del f["trajectories/000001/points"]
        f["trajectories/000001/points"] = h5py.SoftLink("/nowhere/points")
    _refused(dataset, lambda s: s.points(1), "does not exist")


def test_soft_link_inside_the_file_still_reads(dataset):
    # two trajectories on one mesh may share its points through a plain soft link
    with h5py.File(dataset, "r+") as f:
        del f["trajectories/000001/points"]
        f["trajectories/000001/points"] = h5py.SoftLink("/trajectories/000000/points")
    with TrajectoryStore(dataset) as s:
        np.testing.assert_array_equal(s.points(1), s.points(0))


def test_external_raw_storage_is_refused(dataset, tmp_path):
    raw = tmp_path / "raw.bin"
    np.arange(3, dtype="f8").tofile(raw)
    with h5py.File(dataset, "r+") as f:
        del f["trajectories/000000/times"]
        f.create_dataset("trajectories/000000/times", shape=(3,), dtype="f8", external=[(str(raw), 0, 24)])
    _refused(dataset, lambda s: s.times(0), "external raw files")


def test_virtual_dataset_is_refused(dataset, tmp_path):
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f["t"] = np.arange(3.0)
    layout = h5py.VirtualLayout(shape=(3,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(src), "t", shape=(3,))
    with h5py.File(dataset, "r+") as f:
        del f["trajectories/000000/times"]
        f["trajectories/000000"].create_virtual_dataset("times", layout)
    _refused(dataset, lambda s: s.times(0), "virtual dataset")


# --- group 8: times -----------------------------------------------------------------------------
@pytest.mark.parametrize("times, needle", [
    ([0.0, np.nan, 0.2], "nan at frame 1"), ([0.0, 0.1, np.inf], "inf at frame 2"),
    ([0.0, 0.2, 0.1], "t[2] = 0.1 follows t[1] = 0.2"), ([0.0, 0.1, 0.1], "strictly increasing"),
    ([0.0, 0.1], "hold 3 frames"), ([0.0, 0.1, 0.2, 0.3], "hold 3 frames")])
def test_bad_times_are_refused(dataset, times, needle):
    _replace(dataset, "trajectories/000001/times", np.array(times))
    _refused(dataset, lambda s: s.times(1), "trajectory 1", needle)
    _refused(dataset, lambda s: s[1], "trajectory 1", needle)


# --- group 9: declared sizes ----------------------------------------------------------------------
def test_tiny_file_declaring_a_billion_times(dataset):
    _replace(dataset, "trajectories/000000/times", shape=(10**9,), dtype="f8", chunks=(4096,))
    assert dataset.stat().st_size < 200_000
    _refused(dataset, lambda s: s.times(0), "(1000000000,)", "7.45 GB", "chunks")


def test_tiny_file_declaring_a_billion_points(dataset):
    _replace(dataset, "trajectories/000000/points", shape=(10**9, 2), dtype="f8")  # contiguous, never written
    assert dataset.stat().st_size < 200_000
    _refused(dataset, lambda s: s.points(0), "(1000000000, 2)", "stores 0 MB")


def test_tiny_file_declaring_a_billion_frames(dataset):
    _replace(dataset, "trajectories/000000/fields", shape=(10**9, 16, 1), dtype="f4", chunks=(1, 16, 1))
    _refused(dataset, lambda s: s.read_fields(0, [0]), "/trajectories/000000/fields", "stores only 0 of")


def test_declared_trajectory_count_beyond_the_groups(dataset):
    with h5py.File(dataset, "r+") as f:
        f.attrs["n_trajectories"] = 10**9
    _refused(dataset, lambda s: None, "n_trajectories = 1000000000", "holds 2 trajectory groups")


def test_fields_shape_disagreeing_with_points(dataset):
    _replace(dataset, "trajectories/000000/fields", np.zeros((3, 15, 1), np.float32))
    _refused(dataset, lambda s: s.read_fields(0, [0]), "do not fit together")

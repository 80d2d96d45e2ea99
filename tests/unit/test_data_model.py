"""Trajectory, normalisation and the on-disk dataset store."""
import json

import numpy as np
import pytest

from echo_model.data.normalize import ChannelStats, Domain, RunningStats
from echo_model.data.store import TrajectoryStore, default_split, write_dataset
from echo_model.data.trajectory import Cells, Trajectory
from echo_model.errors import EchoUserError


def make_traj(n_points=50, n_frames=4, seed=0, dim=2):
    rng = np.random.default_rng(seed)
    return Trajectory(
        points=rng.random((n_points, dim)),
        fields=rng.normal(size=(n_frames, n_points, 3)).astype(np.float32),
        times=np.arange(n_frames) * 0.5,
        field_layout=[("U", 2), ("p", 1)],
        params={"nu": 1e-3 * (seed + 1)},
        metadata={"case": f"t{seed}"},
    )


def test_trajectory_validates_shapes():
    t = make_traj()
    assert (t.n_frames, t.n_points, t.n_channels, t.dim) == (4, 50, 3, 2)
    assert t.channel_names == ["U_x", "U_y", "p"]
    assert t.field("U").shape == (4, 50, 2) and t.field("p").shape == (4, 50)
    with pytest.raises(ValueError, match="does not add up"):
        Trajectory(t.points, t.fields, t.times, [("U", 2)])
    with pytest.raises(EchoUserError, match="strictly increasing"):
        Trajectory(t.points, t.fields, t.times[::-1], t.field_layout)
    with pytest.raises(ValueError, match="points"):
        Trajectory(np.zeros((50, 4)), t.fields, t.times, t.field_layout)
    with pytest.raises(KeyError, match="no field"):
        t.field("T")


def test_running_stats_match_numpy():
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, size=(1000, 3))
    rs = RunningStats(3)
    for chunk in np.array_split(data, 7):
        rs.update(chunk)
    st = rs.result()
    np.testing.assert_allclose(st.mean, data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(st.std, data.std(0), rtol=1e-10)
    back = st.denormalize(st.normalize(data.astype(np.float32)))
    np.testing.assert_allclose(back, data, rtol=1e-4, atol=1e-4)


def test_domain_maps_to_unit_box_and_rejects_wrong_dim():
    d = Domain([0.0, -1.0], [2.0, 1.0])
    np.testing.assert_allclose(d.to_unit(np.array([[1.0, 0.0]])), [[0.5, 0.5]])
    with pytest.raises(EchoUserError, match="3-D"):
        d.to_unit(np.zeros((2, 3)))
    assert Domain.from_dict(json.loads(json.dumps(d.to_dict()))).to_dict() == d.to_dict()


def test_store_round_trip_with_variable_point_counts(tmp_path):
    trajs = [make_traj(n_points=40 + 10 * i, seed=i) for i in range(5)]
    trajs[0].cells = Cells(np.array([0, 1, 2]), np.array([0, 3]), np.array([5], dtype=np.uint8))
    path = tmp_path / "ds.h5"
    info = write_dataset(path, iter(trajs), name="unit", split={"train": [0, 1, 2], "val": [3], "test": [4]})
    assert info.n_trajectories == 5 and info.field_layout == [("U", 2), ("p", 1)]
    # statistics come from the training split only
    train = np.concatenate([t.fields.reshape(-1, 3) for t in trajs[:3]])
    np.testing.assert_allclose(info.stats.mean, train.mean(0), rtol=1e-5)
    np.testing.assert_allclose(info.stats.std, train.std(0), rtol=1e-5)
    with TrajectoryStore(path) as store:
        for i, t in enumerate(trajs):
            back = store[i]
            np.testing.assert_array_equal(back.points, t.points)
            np.testing.assert_array_equal(back.fields, t.fields)
            np.testing.assert_array_equal(back.times, t.times)
            assert back.params == t.params and back.metadata == t.metadata
        assert store[0].cells is not None and store[1].cells is None
        np.testing.assert_array_equal(store.read_fields(2, [3, 1]), trajs[2].fields[[3, 1]])
        assert list(store.split_indices("val")) == [3]
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_store_rejects_mixed_fields_and_leaves_no_file(tmp_path):
    a = make_traj()
    b = Trajectory(a.points, a.fields, a.times, [("V", 3)])
    path = tmp_path / "bad.h5"
    with pytest.raises(EchoUserError, match="one set of fields"):
        write_dataset(path, [a, b], name="bad")
    assert not path.exists() and not list(tmp_path.iterdir())


def test_store_rejects_foreign_file(tmp_path):
    import h5py

    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["a"] = 1
    with pytest.raises(EchoUserError, match="not an ECHO dataset"):
        TrajectoryStore(p)
    with pytest.raises(FileNotFoundError, match="echopv generate"):
        TrajectoryStore(tmp_path / "missing.h5")


def test_default_split_is_a_partition():
    s = default_split(20, seed=3)
    allidx = np.sort(np.concatenate([s["train"], s["val"], s["test"]]))
    np.testing.assert_array_equal(allidx, np.arange(20))
    assert len(s["val"]) == 2 and len(s["test"]) == 2
    assert len(default_split(1)["train"]) == 1

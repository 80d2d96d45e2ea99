"""The Well HDF5 layout: write -> read back identical; foreign files with broadcast axes."""
from __future__ import annotations

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError
from echo_model.io_well import (
    grid_cells,
    is_well_file,
    iter_well_trajectories,
    read_well,
    regular_grid,
    well_domain,
    well_info,
    write_well,
)


def _grid_traj(seed: int, nx=8, ny=6, nz=None, T=5, layout=(("u", 2), ("p", 1), ("q", 3)), shuffle=False):
    rng = np.random.default_rng(seed)
    axes = [np.arange(nx) / nx, np.arange(ny) / ny * 0.5] + ([np.arange(nz) / nz] if nz else [])
    mesh = np.meshgrid(*axes, indexing="ij")
    points = np.stack([m.reshape(-1) for m in mesh], axis=1)
    if shuffle:
        points = points[rng.permutation(points.shape[0])]
    C = sum(k for _, k in layout)
    return Trajectory(
        points=points,
        fields=rng.standard_normal((T, points.shape[0], C)).astype(np.float32),
        times=np.arange(T) * 0.25,
        field_layout=list(layout),
        params={"nu": 1e-3 * (seed + 1), "forcing": 0.1},
        metadata={"case": f"t{seed}"},
    )


def test_roundtrip_2d_identical(tmp_path):
    trajs = [_grid_traj(s) for s in range(3)]
    path = write_well(tmp_path / "w.hdf5", trajs, dataset_name="demo", periodic=(True, False))
    assert is_well_file(path)
    info = well_info(path)
    assert info.n_trajectories == 3 and info.grid_shape == (8, 6) and info.periodic == (True, False)
    # layout on disk follows the spec: t0 scalars, t1 D-vectors, odd sizes split into t0 components
    with h5py.File(path, "r") as f:
        assert f["t1_fields/u"].shape == (3, 5, 8, 6, 2)
        assert f["t0_fields/p"].shape == (3, 5, 8, 6)
        assert f["t0_fields/q_2"].dtype == np.float32
        assert f["scalars/nu"].shape == (3,) and bool(f["scalars/nu"].attrs["sample_varying"])
        assert f.attrs["forcing"] == pytest.approx(0.1)
        assert f["dimensions/x"].dtype == np.float32  # i/8 is exact in float32
    back = read_well(path)
    assert len(back) == 3
    for a, b in zip(trajs, back):
        assert b.field_layout == a.field_layout
        np.testing.assert_array_equal(b.points, a.points)
        np.testing.assert_array_equal(b.fields, a.fields)
        np.testing.assert_array_equal(b.times, a.times)
        assert b.params == pytest.approx(a.params)
        assert b.metadata["case"] == a.metadata["case"]
        assert b.cells is not None and b.cells.n_cells == 7 * 5
    dom = well_domain(path)
    np.testing.assert_allclose(dom.hi, [1.0, 0.5 * 5 / 6])  # periodic x extends one step


def test_roundtrip_3d_tensor_and_shuffled_points(tmp_path):
    # points in arbitrary order are regridded; a 9-component field becomes a t2 tensor
    t = _grid_traj(0, nx=4, ny=3, nz=5, T=2, layout=(("U", 3), ("S", 9), ("rho", 1)), shuffle=True)
    path = write_well(tmp_path / "w3.h5", [t])
    with h5py.File(path, "r") as f:
        assert f["t2_fields/S"].shape == (1, 2, 4, 3, 5, 3, 3)
    (b,) = read_well(path)
    coords, order = regular_grid(t.points)
    np.testing.assert_array_equal(b.points, t.points[order])
    np.testing.assert_array_equal(b.fields, t.fields[:, order])
    assert b.field_layout == [("U", 3), ("S", 9), ("rho", 1)]
    assert b.cells.n_cells == 3 * 2 * 4 and int(b.cells.types[0]) == 12


def test_foreign_file_broadcast_and_selection(tmp_path):
    """A file shaped like the spec's example: constant-in-time / non-sample-varying fields."""
    path = tmp_path / "foreign.hdf5"
    B, T, W, H = 2, 4, 5, 3
    rng = np.random.default_rng(1)
    a = rng.standard_normal((B, T, W, H)).astype(np.float32)
    b = rng.standard_normal((T, W, H)).astype(np.float32)  # not sample varying
    c = rng.standard_normal((B, W, H, 2)).astype(np.float32)  # not time varying
    e = rng.standard_normal((B, T, W)).astype(np.float32)  # does not vary along y
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="ex", grid_type="cartesian", n_spatial_dims=2, n_trajectories=B)
        f.attrs["simulation_parameters"] = ["Re"]
        f.attrs["Re"] = 100.0
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["x"] = np.linspace(0, 1, W, dtype=np.float32)
        dims["y"] = np.linspace(0, 2, H, dtype=np.float32)
        dims["time"] = np.arange(T, dtype=np.float32) * 0.5
        bc = f.create_group("boundary_conditions/y_wall")
        bc.attrs.update(bc_type="WALL", associated_dims=["y"], sample_varying=False, time_varying=False)
        sc = f.create_group("scalars")
        sc["Ma"] = np.float32(0.3)
        sc["Ma"].attrs.update(sample_varying=False, time_varying=False)
        sc["energy"] = np.arange(T, dtype=np.float32)
        sc["energy"].attrs.update(sample_varying=False, time_varying=True)
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["A", "B", "E"]
        for name, arr, sv, tv, dv in (("A", a, True, True, [1, 1]), ("B", b, False, True, [1, 1]),
                                      ("E", e, True, True, [1, 0])):
            t0[name] = arr
            t0[name].attrs.update(sample_varying=sv, time_varying=tv, dim_varying=np.array(dv, bool))
        t1 = f.create_group("t1_fields")
        t1.attrs["field_names"] = ["V"]
        t1["V"] = c
        t1["V"].attrs.update(sample_varying=True, time_varying=False, dim_varying=np.array([1, 1], bool))
    trajs = read_well(path, every=2, skip_time=0.5, cells=False)
    assert len(trajs) == 2
    t = trajs[1]
    np.testing.assert_array_equal(t.times, [0.5, 1.5])
    assert t.field_layout == [("A", 1), ("B", 1), ("E", 1), ("V", 2)]
    assert t.params == {"Re": 100.0, "Ma": pytest.approx(0.3)}
    assert t.metadata["time_varying_scalars"]["energy"] == [1.0, 3.0]
    np.testing.assert_array_equal(t.field("A"), a[1, 1::2].reshape(2, -1))
    np.testing.assert_array_equal(t.field("B"), b[1::2].reshape(2, -1))
    np.testing.assert_array_equal(t.field("E"), np.repeat(e[1, 1::2], H, axis=1))
    np.testing.assert_array_equal(t.field("V"), np.broadcast_to(c[1].reshape(-1, 2), (2, W * H, 2)))
    np.testing.assert_array_equal(t.points[H + 1], [0.25, 1.0])  # "ij" order: y fastest
    (sel,) = list(iter_well_trajectories(path, fields=["V"], trajectories=[0]))
    assert sel.field_layout == [("V", 2)] and sel.n_frames == T
    with pytest.raises(EchoUserError, match="no field"):
        read_well(path, fields=["nope"])
    with pytest.raises(EchoUserError, match="drops every frame"):
        read_well(path, skip_time=99.0)


def test_errors_name_the_problem(tmp_path):
    t = _grid_traj(0)
    scattered = Trajectory(points=t.points[:-1], fields=t.fields[:, :-1], times=t.times, field_layout=t.field_layout)
    with pytest.raises(EchoUserError, match="not a full regular grid"):
        write_well(tmp_path / "x.h5", [scattered])
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    assert not is_well_file(tmp_path / "other.h5")
    with pytest.raises(EchoUserError, match="not a The Well file"):
        read_well(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError):
        read_well(tmp_path / "missing.h5")


def test_grid_cells_are_counterclockwise():
    cells = grid_cells((3, 2))
    assert cells.n_cells == 2
    # first quad: (0,0) (1,0) (1,1) (0,1) in "ij" numbering with ny = 2
    np.testing.assert_array_equal(cells.connectivity[:4], [0, 2, 3, 1])

"""The Well: size-1 placeholder axes (the_well's own padded form) and unmappable shapes."""
from __future__ import annotations

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from echo_model.errors import EchoUserError
from echo_model.io_well import open_well, read_field_frames, read_well

B, T, NX, NY, NZ = 2, 3, 4, 5, 3


def _write(path, d: int, fields: dict) -> None:
    """fields: name -> (group, array, dim_varying or None for no attribute)."""
    grid = (NX, NY, NZ)[:d]
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="pad", grid_type="cartesian", n_spatial_dims=d, n_trajectories=B)
        dims = f.create_group("dimensions")
        names = ["x", "y", "z"][:d]
        dims.attrs["spatial_dims"] = names
        for name, n in zip(names, grid):
            dims[name] = np.linspace(0.0, 1.0, n)
        dims["time"] = np.arange(T) * 0.1
        groups: dict = {}
        for name, (group, arr, dv) in fields.items():
            if group not in groups:
                groups[group] = f.create_group(group)
            g = groups[group]
            g[name] = arr
            g[name].attrs.update(sample_varying=True, time_varying=True)
            if dv is not None:
                g[name].attrs["dim_varying"] = np.array(dv, bool)
        for group, g in groups.items():
            g.attrs["field_names"] = [n for n, (gr, _, _) in fields.items() if gr == group]


def test_2d_placeholder_axis_is_one_component(tmp_path):
    rng = np.random.default_rng(0)
    prof = rng.standard_normal((B, T, 1, NY)).astype(np.float32)  # varies along y only
    vec = rng.standard_normal((B, T, 1, NY, 2)).astype(np.float32)
    full = rng.standard_normal((B, T, NX, NY)).astype(np.float32)
    path = tmp_path / "pad2.hdf5"
    _write(path, 2, {"prof": ("t0_fields", prof, [False, True]),
                     "full": ("t0_fields", full, [True, True]),
                     "vec": ("t1_fields", vec, [False, True])})
    (t0, t1) = read_well(path, cells=False)
    assert t1.field_layout == [("prof", 1), ("full", 1), ("vec", 2)]
    # "ij" order: y fastest, so the profile repeats NX times
    np.testing.assert_array_equal(t1.field("prof"), np.tile(prof[1, :, 0, :], (1, NX)))
    np.testing.assert_array_equal(t1.field("full"), full[1].reshape(T, -1))
    np.testing.assert_array_equal(t1.field("vec"), np.tile(vec[1, :, 0], (1, NX, 1)))
    assert t0.fields.shape == (T, NX * NY, 4)


@pytest.mark.parametrize("dim_varying", [[False, True, False], None])
def test_3d_placeholders_with_or_without_dim_varying(tmp_path, dim_varying):
    """(B, T, 1, NY, 1), as the issue reports; without dim_varying the spec default is all True."""
    prof = np.arange(B * T * NY, dtype=np.float32).reshape(B, T, 1, NY, 1)
    path = tmp_path / "pad3.hdf5"
    _write(path, 3, {"prof": ("t0_fields", prof, dim_varying)})
    (t0, _) = read_well(path, cells=False)
    assert t0.field_layout == [("prof", 1)]
    expected = np.broadcast_to(prof[0], (T, NX, NY, NZ)).reshape(T, -1)
    np.testing.assert_array_equal(t0.field("prof"), expected)
    f, info = open_well(path)  # the per-frame reader gives the same values
    with f:
        np.testing.assert_array_equal(read_field_frames(f, info, "prof", 0, slice(2, 3))[0, :, 0], expected[2])


def test_the_compact_form_still_reads(tmp_path):
    prof = np.arange(B * T * NY, dtype=np.float32).reshape(B, T, NY)  # x and z left out (the spec's form)
    path = tmp_path / "compact3.hdf5"
    _write(path, 3, {"prof": ("t0_fields", prof, [False, True, False])})
    (t0, _) = read_well(path, cells=False)
    assert t0.field_layout == [("prof", 1)]
    np.testing.assert_array_equal(t0.field("prof")[1], np.broadcast_to(prof[0, 1][None, :, None], (NX, NY, NZ)).reshape(-1))


@pytest.mark.parametrize("shape,dv", [((B, T, 7, NY), [True, True]),        # wrong axis size
                                      ((B, T, NX, NY, 3), [True, True]),    # a t0 with a tail
                                      ((B, T, NY), [True, True])])          # an axis missing
def test_unmappable_shape_names_field_and_shape(tmp_path, shape, dv):
    path = tmp_path / "bad.hdf5"
    _write(path, 2, {"E": ("t0_fields", np.zeros(shape, np.float32), dv)})
    with pytest.raises(EchoUserError) as err:
        read_well(path)
    msg = str(err.value)
    assert "t0_fields/E" in msg and str(shape) in msg and "bad.hdf5" in msg

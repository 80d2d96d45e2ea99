"""Crafted ECHO dataset files for the security tests (issue 24): a valid small dataset written by the
project's writer, then one array replaced or one link planted with h5py. A helper module, not a
test: tests/vtk/test_security_*.py and tests/paraview/test_security_*.py import it."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from reader_files import write_small_dataset


def replace_array(path: Path, name: str, data: np.ndarray) -> Path:
    """Replace one dataset of the file by `data`."""
    with h5py.File(path, "r+") as f:
        del f[name]
        f[name] = data
    return path


def bad_connectivity(path: Path, value: int = 10_000_000, trajectory: int = 0) -> Path:
    """A valid dataset whose trajectory's first connectivity entry is `value` (out of range)."""
    write_small_dataset(path, n_traj=2, n_frames=3)
    name = f"trajectories/{trajectory:06d}/cells/connectivity"
    with h5py.File(path, "r") as f:
        conn = f[name][()]
    conn[0] = value
    return replace_array(path, name, conn)


def huge_last_offset(path: Path) -> Path:
    write_small_dataset(path, n_traj=1, n_frames=3)
    name = "trajectories/000000/cells/offsets"
    with h5py.File(path, "r") as f:
        off = f[name][()]
    off[-1] = 10**9
    return replace_array(path, name, off)


def bad_times(path: Path, times: list[float]) -> Path:
    """A 3-frame dataset whose trajectory 0 has these times."""
    write_small_dataset(path, n_traj=1, n_frames=3)
    return replace_array(path, "trajectories/000000/times", np.asarray(times, dtype=np.float64))


def external_field(path: Path, secret: Path) -> Path:
    """Trajectory 0's fields are an external link to `secret` (written here, values 42)."""
    write_small_dataset(path, n_traj=1, n_frames=3)
    with h5py.File(path, "r") as f:
        shape = f["trajectories/000000/fields"].shape
    with h5py.File(secret, "w") as f:
        f["values"] = np.full(shape, 42.0, np.float32)
    with h5py.File(path, "r+") as f:
        del f["trajectories/000000/fields"]
        f["trajectories/000000/fields"] = h5py.ExternalLink(str(secret), "/values")
    return path

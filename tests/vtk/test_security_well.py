"""Issue 24, groups 2 and 8 for WellReader: a Well file with an external link, a looping link or bad
times is refused with a message naming the file, before anything is read through the link."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
h5py = pytest.importorskip("h5py")

from echo_model.io_well import write_well  # noqa: E402
from echo_paraview.readers import WellReaderAlgorithm  # noqa: E402
from reader_files import grid_trajectory  # noqa: E402


def _well(tmp_path):
    return write_well(tmp_path / "w.hdf5", [grid_trajectory(0, n_frames=3, layout=(("p", 1),))])


def _read(path):
    r = WellReaderAlgorithm()
    r.SetFileName(str(path))
    r.Update()
    return r


def test_well_reader_refuses_an_external_link(tmp_path, errors):
    path = _well(tmp_path)
    secret = tmp_path / "secret.h5"
    with h5py.File(path, "r+") as f, h5py.File(secret, "w") as s:
        s["p"] = np.full(f["t0_fields/p"].shape, 42.0)
        del f["t0_fields/p"]
        f["t0_fields/p"] = h5py.ExternalLink(str(secret), "/p")
    r = _read(path)
    assert str(path) in r.last_error and "external link" in r.last_error and str(secret) in r.last_error
    assert "without links" in r.last_error
    assert r.GetTimestepValues() == []


def test_well_reader_refuses_a_soft_link_loop(tmp_path, errors):
    path = _well(tmp_path)
    with h5py.File(path, "r+") as f:
        f["t0_fields/loop"] = h5py.SoftLink("/t0_fields")
        f["dimensions/again"] = f["dimensions"]  # a hard-link loop must not hang the scan
    r = _read(path)
    assert "/t0_fields/loop" in r.last_error and "cycle" in r.last_error


@pytest.mark.parametrize("times, needle", [([0.0, np.nan, 1.0], "nan at frame 1"),
                                           ([0.0, 1.0, 0.5], "strictly increasing")])
def test_well_reader_refuses_bad_times(tmp_path, errors, times, needle):
    path = _well(tmp_path)
    with h5py.File(path, "r+") as f:
        f["dimensions/time"][...] = times
    r = _read(path)
    assert needle in r.last_error and "sample 0" in r.last_error and "dimensions/time" in r.last_error
    assert r.GetTimestepValues() == []


def test_well_reader_still_reads_a_good_file(tmp_path, errors):
    r = _read(_well(tmp_path))
    assert r.last_error is None and r.GetTimestepValues() == [0.0, 0.5, 1.0]

"""One atomic write (echo_model.atomic): the target is the old file or the whole new one, and a failed
write leaves no `.NAME.tmp-PID` behind, for each writer that uses it."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from echo_model import bundle, io_well
from echo_model.atomic import atomic_path, write_text_atomic
from echo_model.data.trajectory import Trajectory
from echo_model.train.layout import write_json_atomic


def _names(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "a.json"
    write_text_atomic(target, "old")
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name == f".a.json.tmp-{os.getpid()}"
            tmp.write_text("half")
            1 / 0
    assert target.read_text() == "old" and _names(tmp_path) == ["a.json"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the block ends
    assert target.read_text() == "new" and _names(tmp_path) == ["a.json"]


def test_failed_rename_removes_the_temporary_file(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("a folder that is not empty cannot be replaced by a file")
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "x", "text")
    assert _names(tmp_path) == ["x"]


def test_run_status_json_is_written_whole(tmp_path):
    write_json_atomic(tmp_path / "pipeline.json", {"state": "running", "loss": float("nan")})
    assert (tmp_path / "pipeline.json").read_text() == '{\n "state": "running",\n "loss": null\n}'
    assert _names(tmp_path) == ["pipeline.json"]


def test_model_file_survives_a_failed_save(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    bundle.save_tensors(path, {"w": torch.ones(3)}, {"kind": "test"})
    import safetensors.torch

    def broken(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"\x00" * 10)
        raise RuntimeError("writer crashed")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(RuntimeError, match="writer crashed"):
        bundle.save_tensors(path, {"w": torch.zeros(3)}, {"kind": "test"})
    assert _names(tmp_path) == ["model.safetensors"]
    assert torch.equal(bundle.load_tensors(path)[0]["w"], torch.ones(3))


def test_well_file_is_not_left_half_written(tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    x = (np.arange(4) + 0.5) / 4
    pts = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    traj = Trajectory(pts, np.zeros((3, 16, 1), np.float32), np.arange(3.0), [("u", 1)])

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(io_well, "_write_fields", crash)
    with pytest.raises(KeyboardInterrupt):
        io_well.write_well(tmp_path / "w.hdf5", [traj])
    assert _names(tmp_path) == []

"""Issue 24, group 12 (first half): a writer killed by SIGKILL leaves `.NAME.tmp-PID`; the next write of
NAME removes it (cache-latents, write_dataset), and nothing but the dead writers' own temporary files."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.stale_temps import remove_stale_temps, temp_path

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_dead_writers_temp_files_are_removed(tmp_path, dead_pid):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [f".latents.h5.tmp-{live.pid}", f".latents.h5.tmp-{os.getpid()}", ".latents.h5.tmp-12x",
                ".latents.h5.tmp-", f".other.h5.tmp-{dead_pid}", f"latents.h5.tmp-{dead_pid}", "latents.h5"]
        for name in keep + [f".latents.h5.tmp-{dead_pid}"]:
            (tmp_path / name).write_text("x")
        (tmp_path / ".latents.h5.tmp-999999998").mkdir()  # not a regular file: left alone
        victim = tmp_path / "victim"
        victim.write_text("keep")
        (tmp_path / ".latents.h5.tmp-999999997").symlink_to(victim)
        removed = remove_stale_temps(tmp_path / "latents.h5")
        assert [p.name for p in removed] == [f".latents.h5.tmp-{dead_pid}"]
        assert sorted(os.listdir(tmp_path)) == sorted(keep + [".latents.h5.tmp-999999998", ".latents.h5.tmp-999999997",
                                                              "victim"])
        assert victim.read_text() == "keep"
    finally:
        live.kill()
        live.wait()


def test_missing_folder_is_not_an_error(tmp_path):
    assert remove_stale_temps(tmp_path / "nope" / "x.h5") == []
    assert temp_path(tmp_path / "x.h5") == tmp_path / f".x.h5.tmp-{os.getpid()}"


def _traj(pts, s):
    f = np.stack([np.sin(2 * np.pi * (pts[:, 0] + 0.05 * t) + s) for t in range(11)])[..., None]
    return Trajectory(pts, f, 0.5 * np.arange(11), [("w", 1)], params={"nu": 1e-3 * (1 + s)})


def test_write_dataset_removes_a_killed_writers_temp(tmp_path, dead_pid):
    stale = tmp_path / f".d.h5.tmp-{dead_pid}"
    stale.write_bytes(b"half an HDF5 file")
    pts = np.random.default_rng(0).uniform(size=(20, 2))
    write_dataset(tmp_path / "d.h5", [_traj(pts, 0)], name="t")
    assert sorted(os.listdir(tmp_path)) == ["d.h5"]


def test_cache_latents_after_a_sigkill_leaves_no_temp(tmp_path, dead_pid):
    from echo_model.nn.autoencoder import save_autoencoder
    from echo_model.rollout import create_untrained
    from echo_model.train.cache_latents import LatentCache
    from echo_paraview.cli import main as echopv

    x = (np.arange(8) + 0.5) / 8
    pts = np.stack([a.ravel() for a in np.meshgrid(x, x)], 1)
    dom = Domain([0, 0], [1, 1], (True, True))
    data = tmp_path / "d.h5"
    write_dataset(data, (_traj(pts, s) for s in range(2)), name="t", domain=dom, split={"train": [0], "test": [1]})
    sur = create_untrained([("w", 1)], 2, domain=dom)
    ae = tmp_path / "ae.safetensors"
    save_autoencoder(ae, sur.ae, meta={"field_layout": [["w", 1]], "stats": sur.stats.to_dict(),
                                       "domain": sur.domain.to_dict(), "dt": 0.5, "n_frames": 9})
    out = tmp_path / "cache" / "latents.h5"
    out.parent.mkdir()
    stale = out.with_name(f".latents.h5.tmp-{dead_pid}")
    stale.write_bytes(b"what a SIGKILL left")
    argv = ["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(out), "--threads", "1", "--no-progress"]
    assert echopv(argv) == 0
    assert os.listdir(out.parent) == ["latents.h5"]
    assert len(LatentCache(out)) == 3  # 1 training trajectory x starts 0, 1, 2 of 9 frames in 11

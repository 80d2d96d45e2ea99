"""`echopv train refine --init M` takes its data from the command line only: a path written inside M's
header (the stage-1 dataset, relative or with `../`) is never opened."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from echo_model.bundle import read_meta
from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_paraview.cli import main as echopv

SMALL = ["--batch-size", "1", "--n-query", "32", "--no-progress", "--threads", "1"]


def _dataset(path: Path) -> Path:
    x = np.linspace(0.0, 1.0, 8)
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    f = np.stack([np.sin(3 * pts[:, 0] + 0.3 * t) for t in range(3)])[..., None].astype(np.float32)
    write_dataset(path, [Trajectory(pts, f, 0.1 * np.arange(3), [("p", 1)])], name="t",
                  domain=Domain([0, 0], [1, 1]), split={"train": [0], "val": [], "test": []})
    return path


def test_train_refine_init_opens_no_path_named_in_the_model(tmp_path, monkeypatch):
    data = _dataset(tmp_path / "d.h5")
    assert echopv(["train", "ae", "--data", str(data), "--run", str(tmp_path / "ae"), "--steps", "1",
                   "--frames", "3", *SMALL]) == 0
    ae = tmp_path / "ae" / "autoencoder.safetensors"
    bait = tmp_path / "private.h5"  # what a hostile header points at: not data of this user's choosing
    bait.write_text("private, not an ECHO dataset")
    with safe_open(str(ae), framework="pt") as f:
        meta = json.loads(f.metadata()["echo"])
    hostile = tmp_path / "hostile.safetensors"
    for target in ("../private.h5", str(bait)):
        meta["dataset"] = {"name": "x", "path": target}
        save_file(load_file(str(ae)), str(hostile), metadata={"echo": json.dumps(meta)})
        run = tmp_path / f"refine_{len(target)}"
        monkeypatch.chdir(tmp_path / "ae")  # so that "../private.h5" resolves to the bait
        assert echopv(["train", "refine", "--init", str(hostile), "--data", str(data), "--run", str(run),
                       "--steps", "1", *SMALL]) == 0
        refined = read_meta(run / "autoencoder.safetensors")
        assert refined["refine_replay"] is None  # no replay data unless --replay names it
        assert refined["refine_dataset"]["path"] == str(data)
    # the replay data, when wanted, comes from the command line
    run = tmp_path / "refine_replay"
    assert echopv(["train", "refine", "--init", str(hostile), "--data", str(data), "--run", str(run),
                   "--replay", str(data), "--steps", "1", *SMALL]) == 0
    assert read_meta(run / "autoencoder.safetensors")["refine_replay"]["path"] == str(data)

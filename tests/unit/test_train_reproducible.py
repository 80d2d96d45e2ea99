"""Training is bit-reproducible on CPU, so a run killed at a random step and resumed ends with weights
IDENTICAL to an uninterrupted one; two trainers on one run directory; NaN data never trains a model."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from echo_model.bundle import read_meta
from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_paraview.cli import main as echopv

REPO = Path(__file__).resolve().parents[2]
STEPS = 12


def _dataset(path: Path, nan: bool = False) -> Path:
    x = np.linspace(0.0, 1.0, 10)
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    trajs = []
    for k in range(2):
        f = np.stack([np.sin(3 * pts[:, 0] + 0.3 * t + k) * np.cos(2 * pts[:, 1]) for t in range(5)])
        trajs.append(Trajectory(pts, f[..., None].astype(np.float32), 0.1 * np.arange(5), [("p", 1)]))
    write_dataset(path, trajs, name="t", domain=Domain([0, 0], [1, 1]), split={"train": [0, 1], "val": [], "test": []})
    if nan:  # an older or hand-made file: the NaN is inside, so are its statistics
        import h5py

        with h5py.File(path, "r+") as f:
            f["trajectories/000000/fields"][1, 3, 0] = np.nan
            f["stats/mean"][0] = np.nan
    return path


def _argv(data: Path, run: Path, steps: int = STEPS) -> list[str]:
    return ["train", "ae", "--data", str(data), "--run", str(run), "--steps", str(steps), "--batch-size", "2",
            "--frames", "3", "--n-query", "48", "--ckpt-every", "1", "--no-progress", "--threads", "1", "--seed", "7"]


def _child(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "echo_paraview.cli", *argv], cwd=str(REPO), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "autoencoder.safetensors"))


def test_seed_makes_training_bit_reproducible(tmp_path):
    data = _dataset(tmp_path / "d.h5")
    for name in ("a", "b"):
        assert echopv(_argv(data, tmp_path / name, steps=3)) == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_killed_at_a_random_step_resumes_identical_to_uninterrupted(tmp_path):
    data = _dataset(tmp_path / "d.h5")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert echopv(_argv(data, whole)) == 0
    kill_at = random.Random().randint(2, STEPS - 2)  # a fresh random step each run: any step must work
    proc = _child(_argv(data, killed))
    deadline = time.time() + 240
    step = 0
    while time.time() < deadline and proc.poll() is None and step < kill_at:
        try:
            step = read_meta(killed / "checkpoint.safetensors")["checkpoint"]["step"]
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    assert proc.poll() is None, f"training ended before step {kill_at}: {proc.stdout.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "autoencoder.safetensors").exists()
    assert echopv(_argv(data, killed)) == 0  # the same command again resumes
    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"killed at step >= {kill_at} (checkpoint {step}): {different[:3]} differ"


def test_two_trainers_on_the_same_run(tmp_path, capsys):
    data = _dataset(tmp_path / "d.h5")
    run = tmp_path / "run"
    first = _child(_argv(data, run, steps=100000))
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run / "checkpoint.safetensors").exists():
            time.sleep(0.1)
        ckpt_before = (run / "checkpoint.safetensors").stat().st_mtime_ns
        assert echopv(_argv(data, run, steps=2)) == 2
        err = capsys.readouterr().err
        assert f"pid {first.pid}" in err and "in use by another training process" in err, err
        assert not (run / "autoencoder.safetensors").exists()  # the refused run wrote nothing
        assert first.poll() is None  # and did not disturb the first one
        assert (run / "checkpoint.safetensors").stat().st_mtime_ns >= ckpt_before
    finally:
        first.send_signal(signal.SIGTERM)  # a stop request: the first trainer checkpoints and exits
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 130 and "interrupted" in out, out  # stopped cleanly at a step boundary
    assert echopv(_argv(data, run, steps=read_meta(run / "checkpoint.safetensors")["checkpoint"]["step"] + 1)) == 0


def test_a_dataset_containing_nan_is_refused_at_train_start(tmp_path, capsys):
    data = _dataset(tmp_path / "nan.h5", nan=True)
    run = tmp_path / "run"
    assert echopv(_argv(data, run, steps=2)) == 2
    err = capsys.readouterr().err
    assert str(data) in err and "NaN or Inf" in err and "echopv import" in err, err
    assert not (run / "autoencoder.safetensors").exists()
    assert echopv(["train", "all", "--data", str(data), "--run", str(tmp_path / "all"), "--ae-steps", "2",
                   "--dit-steps", "2", "--refine-steps", "0", "--threads", "1", "--no-progress"]) == 2
    assert "NaN or Inf" in capsys.readouterr().err
    assert not (tmp_path / "all" / "model.safetensors").exists()


def test_loss_nan_at_every_step_writes_no_model(tmp_path):
    from echo_model.errors import EchoUserError
    from echo_model.train.trainer import TrainConfig, Trainer

    model = torch.nn.Linear(2, 1)
    trainer = Trainer(model, tmp_path / "run", TrainConfig(steps=5, device="cpu", progress_bar=False))
    with pytest.raises(EchoUserError, match="NaN/Inf at every step"):
        trainer.fit(lambda m, b: m(b).sum() * float("nan"), lambda step: torch.ones(1, 2))
    assert not (tmp_path / "run" / "model.safetensors").exists()

"""The training guide's multi-GPU command (docs/training.md) through the real `torchrun`: 2 gloo ranks on CPU.

Tolerance: the 2-rank run averages two per-rank gradients where one process averages one batch, so
float sums happen in another order; Adam divides by sqrt(v), which magnifies that noise on weights
whose gradient is near zero. Measured here: |w_2ranks - w_1process| / |w_1process - w_init| = 1e-4
after 4 steps; the test allows 1e-3.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from echo_model.bundle import read_meta
from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.nn.autoencoder import AutoencoderConfig, EchoAutoencoder

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).parent / "torchrun"
TOLERANCE = 1e-3


def _dataset(path: Path) -> Path:
    x = np.linspace(0.0, 1.0, 12)
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    trajs = [Trajectory(pts, np.stack([np.sin(3 * pts[:, 0] + 0.2 * t + k) * np.cos(2 * pts[:, 1])
                                       for t in range(5)])[..., None].astype(np.float32), 0.1 * np.arange(5), [("p", 1)])
             for k in range(3)]
    write_dataset(path, trajs, name="t", domain=Domain([0, 0], [1, 1]), split={"train": [0, 1, 2], "val": [], "test": []})
    return path


def _run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return res.stdout + res.stderr


def test_readme_torchrun_command_trains_on_2_gloo_ranks(tmp_path):
    readme = (REPO / "docs" / "training.md").read_text()
    documented = re.search(r"torchrun --nproc_per_node \d+ -m echo_paraview\.cli train ae .*", readme)
    assert documented and " --run-dir " in documented.group(0), "docs/training.md must show the torchrun spelling --run-dir"
    _dataset(tmp_path / "d.h5")
    common = ["--data", "d.h5", "--steps", "4", "--frames", "3", "--n-query", "64", "--no-progress",
              "--threads", "1", "--seed", "3"]
    _run([str(TORCHRUN), "--nproc_per_node", "2", "-m", "echo_paraview.cli", "train", "ae", *common,
          "--batch-size", "1", "--run-dir", "ddp"], tmp_path)
    _run([sys.executable, "-m", "echo_paraview.cli", "train", "ae", *common, "--batch-size", "2", "--run", "one"],
         tmp_path)

    ddp_file = tmp_path / "ddp" / "autoencoder.safetensors"
    meta = read_meta(ddp_file)
    # every rank ended with the weights rank 0 wrote, bit for bit
    assert meta["data_parallel"] == {"world_size": 2, "max_weight_diff_between_ranks": 0.0}
    ddp, one = load_file(str(ddp_file)), load_file(str(tmp_path / "one" / "autoencoder.safetensors"))
    torch.manual_seed(3)  # the initial weights both runs started from (the seed is set before building)
    init = {f"autoencoder.{k}": v for k, v in
            EchoAutoencoder(AutoencoderConfig.from_dict(meta["autoencoder"])).state_dict().items()}
    assert ddp.keys() == one.keys()
    diff = sum(float((ddp[k] - one[k]).square().sum()) for k in one) ** 0.5
    moved = sum(float((one[k] - init[k]).square().sum()) for k in one) ** 0.5
    assert moved > 0.1  # training did change the weights
    assert diff <= TOLERANCE * moved, (diff, moved)

"""FNO-3d peer (neuraloperator 2.0) for the 3D benchmark (benchmarks/ns3d.py): trained to a CPU budget,
rolled out autoregressively. Benchmark-only: neuraloperator is an optional extra, never a plugin dependency.

    pip install -e '.[benchmark]' && pip install --no-deps neuraloperator==2.0.0   # plus its small deps

Set-up (fixed before any ECHO number was seen): FNO(n_modes=(12, 12, 12), hidden_channels=24, n_layers=4),
one step = one frame of the dataset, input (u, v, w, log nu) z-scored with training-split statistics, output
the change u_{t+1} - u_t (z-scored), MSE loss, AdamW 1e-3, cosine schedule to the step count the CPU budget
allows, batch 4. The fields of an ns3d dataset are in VTK order: `frame.reshape(n, n, n, 3)` is [z, y, x, c].
Spectral convolutions make the same weights apply to a 64^3 grid (the resolution-transfer rows).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FNO3D_ARGS = dict(n_modes=(12, 12, 12), hidden_channels=24, in_channels=4, out_channels=3, n_layers=4)
_SCALARS = ("u_std", "d_std", "lognu_mean", "lognu_std", "cpu_s", "steps")


def cube_side(n_points: int) -> int:
    n = round(n_points ** (1 / 3))
    if n**3 != n_points:
        raise ValueError(f"{n_points} points are not a cube grid")
    return n


@dataclass
class FNO3DPeer:
    model: torch.nn.Module
    u_std: float
    d_std: float
    lognu_mean: float
    lognu_std: float
    cpu_s: float = 0.0
    steps: int = 0

    def _inputs(self, u: np.ndarray, nu: np.ndarray) -> torch.Tensor:
        """(B, N, 3) values in dataset order -> (B, 4, n, n, n) network input."""
        n = cube_side(u.shape[1])
        x = np.moveaxis(u.reshape(u.shape[0], n, n, n, 3), -1, 1) / self.u_std
        c = ((np.log(nu) - self.lognu_mean) / self.lognu_std)[:, None, None, None, None]
        c = np.broadcast_to(c, (u.shape[0], 1, n, n, n))
        return torch.as_tensor(np.concatenate([x, c], axis=1), dtype=torch.float32)

    def _delta(self, u: np.ndarray, nu: np.ndarray) -> np.ndarray:
        d = self.model(self._inputs(u, nu)).numpy() * self.d_std  # (B, 3, n, n, n)
        return np.moveaxis(d, 1, -1).reshape(u.shape)

    @torch.inference_mode()
    def rollout(self, u0: np.ndarray, nu: float, n_frames: int) -> np.ndarray:
        """u0 (N, 3) -> (n_frames, N, 3)."""
        self.model.eval()
        u, out = u0[None].astype(np.float32), []
        for _ in range(n_frames):
            u = u + self._delta(u, np.array([nu]))
            out.append(u[0].copy())
        return np.stack(out)


def save_fno3d(peer: FNO3DPeer, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in peer.model.state_dict().items() if torch.is_tensor(v)},
              str(path.with_suffix(".safetensors")))
    path.with_suffix(".json").write_text(json.dumps({k: getattr(peer, k) for k in _SCALARS}))


def load_fno3d(path: Path) -> FNO3DPeer:
    from neuralop.models import FNO
    from safetensors.torch import load_file

    model = FNO(**FNO3D_ARGS)
    missing, unexpected = model.load_state_dict(load_file(str(path.with_suffix(".safetensors"))), strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not this FNO's weights (missing {missing}, unexpected {unexpected})")
    return FNO3DPeer(model=model, **json.loads(path.with_suffix(".json").read_text()))


def train_fno3d(store, train_idx, budget_cpu_s: float, seed: int = 0, batch: int = 4, log=print) -> FNO3DPeer:
    """Train to `budget_cpu_s` seconds of this process's CPU time."""
    from bench_common import cosine_step, train_to_budget
    from neuralop.models import FNO

    u = np.stack([store.read_fields(int(i)) for i in train_idx]).astype(np.float32)  # (B, T, N, 3)
    nu = np.asarray([store.params(int(i))["nu"] for i in train_idx])
    d = np.diff(u, axis=1)
    lognu = np.log(nu)
    peer = FNO3DPeer(model=None, u_std=float(u.std()), d_std=float(d.std()), lognu_mean=float(lognu.mean()),
                     lognu_std=float(lognu.std() or 1.0))
    torch.manual_seed(seed)
    peer.model = model = FNO(**FNO3D_ARGS)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    n = cube_side(u.shape[2])

    def step(total: int, k: int) -> float:
        ti, tt = rng.integers(0, u.shape[0], batch), rng.integers(0, d.shape[1], batch)
        inp = peer._inputs(u[ti, tt], nu[ti])
        y = torch.as_tensor(np.moveaxis((d[ti, tt] / peer.d_std).reshape(batch, n, n, n, 3), -1, 1))
        return cosine_step(opt, torch.nn.functional.mse_loss(model(inp), y), 1e-3, k, total)

    model.train()
    run = train_to_budget(step, budget_cpu_s, lambda msg: log("fno3d: " + msg), log_every=100)
    peer.cpu_s, peer.steps = run.cpu_s, run.steps
    return peer


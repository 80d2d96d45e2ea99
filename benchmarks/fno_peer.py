"""FNO-2d peer (neuraloperator 2.0) for the vorticity benchmark: trained to a CPU budget, rolled out
autoregressively. Benchmark-only: neuraloperator is an optional extra, never a plugin dependency.

    pip install -e '.[benchmark]' && pip install --no-deps neuraloperator==2.0.0

Set-up (fixed in advance, the configuration the accuracy issue measured): FNO(n_modes=(24, 24),
hidden_channels=32, n_layers=4), one step = one frame of the dataset, input (omega_t, log nu)
z-scored with training-split statistics, output the change omega_{t+1} - omega_t (z-scored), MSE
loss, AdamW 1e-3, cosine schedule to the step count that the CPU budget allows (estimated from a
timing probe, then stopped when the budget is spent), batch 16.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class FNOPeer:
    model: torch.nn.Module
    order: np.ndarray  # dataset point order -> row-major (H, W) grid
    shape: tuple[int, int]
    w_mean: float
    w_std: float
    d_std: float
    lognu_mean: float
    lognu_std: float
    cpu_s: float = 0.0
    steps: int = 0

    def _inputs(self, w: np.ndarray, nu: float) -> torch.Tensor:
        """(B, N) values in dataset order -> (B, 2, H, W) network input."""
        g = w[:, self.order].reshape(-1, 1, *self.shape)
        x = (g - self.w_mean) / self.w_std
        c = np.full_like(x, (math.log(nu) - self.lognu_mean) / self.lognu_std)
        return torch.as_tensor(np.concatenate([x, c], axis=1), dtype=torch.float32)

    @torch.inference_mode()
    def rollout(self, w0: np.ndarray, nu: float, n_frames: int) -> np.ndarray:
        """w0 (N,) -> (n_frames, N) in dataset point order."""
        self.model.eval()
        inv = np.argsort(self.order)
        w, out = w0[None].astype(np.float32), []
        for _ in range(n_frames):
            d = self.model(self._inputs(w, nu)).numpy().reshape(1, -1) * self.d_std
            w_grid = w[:, self.order] + d
            w = w_grid[:, inv]
            out.append(w[0].copy())
        return np.stack(out)


FNO_ARGS = dict(n_modes=(24, 24), hidden_channels=32, in_channels=2, out_channels=1, n_layers=4)
_SCALARS = ("w_mean", "w_std", "d_std", "lognu_mean", "lognu_std", "cpu_s", "steps")


def save_fno(peer: FNOPeer, path) -> None:
    """Weights as safetensors, normalisation and point order as JSON next to them (a later part of the
    benchmark, e.g. the 4H forecasts, reuses the trained peer)."""
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.contiguous() for k, v in peer.model.state_dict().items() if torch.is_tensor(v)}  # not its metadata
    save_file(tensors, str(path.with_suffix(".safetensors")))
    meta = {k: getattr(peer, k) for k in _SCALARS}
    path.with_suffix(".json").write_text(json.dumps({**meta, "shape": list(peer.shape), "order": peer.order.tolist()}))


def load_fno(path) -> FNOPeer:
    import json
    from pathlib import Path

    from neuralop.models import FNO
    from safetensors.torch import load_file

    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    model = FNO(**FNO_ARGS)
    missing, unexpected = model.load_state_dict(load_file(str(path.with_suffix(".safetensors"))), strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not this FNO's weights (missing {missing}, unexpected {unexpected})")
    return FNOPeer(model=model, order=np.asarray(meta["order"]), shape=tuple(meta["shape"]),
                   **{k: meta[k] for k in _SCALARS})


def _load_pairs(store, indices, order):
    w, nu = [], []
    for i in indices:
        f = store.read_fields(int(i))[..., 0]  # (T, N)
        w.append(f[:, order])
        nu.append(store.params(int(i))["nu"])
    return np.stack(w).astype(np.float32), np.asarray(nu, np.float64)


def train_fno(store, train_idx, budget_cpu_s: float, seed: int = 0, batch: int = 16, log=print) -> FNOPeer:
    """Train to `budget_cpu_s` seconds of this process's CPU time."""
    from bench_common import cosine_step, train_to_budget
    from neuralop.models import FNO

    from echo_model.metrics import grid_shape

    h, wdt, order = grid_shape(store.points(int(train_idx[0])))
    w, nu = _load_pairs(store, train_idx, order)  # (B, T, N)
    d = np.diff(w, axis=1)
    lognu = np.log(nu)
    peer = FNOPeer(model=None, order=order, shape=(h, wdt), w_mean=float(w.mean()), w_std=float(w.std()),
                   d_std=float(d.std()), lognu_mean=float(lognu.mean()), lognu_std=float(lognu.std() or 1.0))
    torch.manual_seed(seed)
    model = FNO(**FNO_ARGS)
    peer.model = model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    n_traj, n_t = w.shape[0], w.shape[1] - 1

    def step(total: int, k: int) -> float:
        ti, tt = rng.integers(0, n_traj, batch), rng.integers(0, n_t, batch)
        x = torch.as_tensor((w[ti, tt] - peer.w_mean) / peer.w_std, dtype=torch.float32).reshape(batch, 1, h, wdt)
        c = torch.as_tensor((lognu[ti] - peer.lognu_mean) / peer.lognu_std, dtype=torch.float32)
        inp = torch.cat([x, c[:, None, None, None].expand(-1, 1, h, wdt)], dim=1)
        y = torch.as_tensor(d[ti, tt] / peer.d_std, dtype=torch.float32).reshape(batch, 1, h, wdt)
        return cosine_step(opt, torch.nn.functional.mse_loss(model(inp), y), 1e-3, k, total)

    run = train_to_budget(step, budget_cpu_s, lambda msg: log("fno: " + msg), log_every=500)
    peer.cpu_s, peer.steps = run.cpu_s, run.steps
    return peer

"""GINO peer for the cylinder benchmark (`benchmarks/cylinder.py --peers gino`): neuraloperator 2.0's
geometry-informed neural operator reads each case's own cell centres and writes them back, so unlike the
FNO peer it needs no resampling. Benchmark-only (neuraloperator is an optional extra).

On CPU, stock neuraloperator 2.0 has no open3d (its neighbour search falls back to torch.cdist, fine
at this size) and no torch_scatter (no wheel for this torch): its fallback `segment_csr` reduces each
neighbourhood in a Python loop over the output points, ~30x slower than the rest of a training step.
`use_vectorised_reduction` swaps in a scatter-add (`index_add`) with the same result (checked against
the stock function when it is installed); `stock_step_cpu_s` measures a step without it for the report.

Protocol (fixed in advance):
  geometry  cell centres and a latent grid of 64 x 12 nodes over the channel (walls included),
            coordinates divided by the channel length; GNO radius 0.06 m in and out (every latent node
            has cell centres within it on these meshes), NeRF positional embedding with 8 frequencies
  inputs    at the cell centres U_x, U_y, p z-scored with the family's training-split statistics and Re
            z-scored over the training cases; on the latent grid the fluid mask, the signed distance to
            the cylinder / channel height and Re
  target    the change of (U_x, U_y, p) over one frame at the cell centres, divided by its per-channel
            std over the training cases' cell centres; MSE
  network   GINO(fno_n_modes=(12, 32), fno_hidden_channels=32, fno_n_layers=4, in-GNO MLP [32, 32],
            out-GNO MLP [64, 64]), AdamW 1e-3, cosine schedule to the step count the CPU budget allows,
            batch 8 frames of one case (GINO batches only over a shared geometry)
  rollout   from the first frame, one network step per frame
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench_common import cosine_lr
from cylinder_fno import LX, Grid, PeerTraining, obstacle_of, peer_dir, train_to_budget
from echo_model.cases.cylinder_mesh import Obstacle

LABEL = "GINO peer (latent 64 x 12)"


def _segment_csr(src: torch.Tensor, indptr: torch.Tensor, reduction: str, use_scatter: bool = False) -> torch.Tensor:
    """neuralop's segment_csr (sum or mean of each CSR row's entries of `src`) as one index_add."""
    ptr = indptr[0] if indptr.ndim == 2 else indptr  # batched: the same splits repeated per batch member
    counts = ptr[1:] - ptr[:-1]
    seg = torch.repeat_interleave(torch.arange(counts.numel(), device=src.device), counts)
    dim = src.ndim - 2
    shape = list(src.shape)
    shape[dim] = counts.numel()
    out = torch.zeros(shape, dtype=src.dtype, device=src.device).index_add(dim, seg, src)
    if reduction == "mean":
        out = out / counts.clamp(min=1).to(src.dtype)[:, None]
    return out


def use_vectorised_reduction() -> None:
    """Replace neuralop's looped reduction in its integral transform, after checking both agree."""
    import neuralop.layers.integral_transform as it
    from neuralop.layers.segment_csr import segment_csr as stock

    g = torch.Generator().manual_seed(0)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.randint(0, 4, (30,), generator=g).cumsum(0)])
    src = torch.randn(2, int(ptr[-1]), 5, generator=g)
    for red in ("sum", "mean"):
        want = stock(src, ptr[None].repeat(2, 1), red, use_scatter=False)
        if not torch.allclose(_segment_csr(src, ptr[None].repeat(2, 1), red), want, atol=1e-6):
            raise RuntimeError(f"vectorised segment_csr ({red}) disagrees with neuralop's")
    it.segment_csr = _segment_csr


@dataclass
class GINOConfig(PeerTraining):
    latent: tuple[int, int] = (64, 12)  # (nx, ny)
    radius: float = 0.06
    n_modes: tuple[int, int] = (12, 32)  # (y, x): x is the last, real-FFT, dimension
    hidden: int = 32
    layers: int = 4
    embed: int = 8
    batch: int = 8
    stock_step_cpu_s: float = float("nan")  # one training step with neuralop's own looped reduction


def build_gino(cfg: GINOConfig):
    from neuralop.models import GINO

    return GINO(in_channels=4, out_channels=3, gno_coord_dim=2, in_gno_radius=cfg.radius / LX,
                out_gno_radius=cfg.radius / LX, fno_in_channels=4, latent_feature_channels=3,
                fno_n_modes=tuple(cfg.n_modes), fno_hidden_channels=cfg.hidden, fno_n_layers=cfg.layers,
                in_gno_pos_embed_type="nerf", out_gno_pos_embed_type="nerf", gno_embed_channels=cfg.embed,
                in_gno_channel_mlp_hidden_layers=[32, 32], out_gno_channel_mlp_hidden_layers=[64, 64],
                projection_channel_ratio=2, gno_use_open3d=False, gno_use_torch_scatter=False)


@dataclass
class CaseGeometry:
    """One case's tensors: its cell centres and the latent grid's geometry channels (Re left to fill)."""

    points: torch.Tensor  # (1, N, 2) / LX
    latent: torch.Tensor  # (1, ny, nx, 2) / LX
    geo: torch.Tensor  # (1, ny, nx, 2): fluid mask, signed distance / channel height


class GINOPeer:
    def __init__(self, cfg: GINOConfig, model) -> None:
        self.cfg, self.model = cfg, model
        self.grid = Grid(*cfg.latent)

    def geometry(self, points: np.ndarray, cx: float, cy: float, obstacle: Obstacle = Obstacle()) -> CaseGeometry:
        g = self.grid
        sd = g.signed_distance(cx, cy, obstacle)
        geo = np.stack([(sd > 0).astype(np.float64), sd / 0.41], 1).reshape(1, g.ny, g.nx, 2)
        return CaseGeometry(torch.as_tensor(points / LX, dtype=torch.float32)[None],
                            torch.as_tensor(g.nodes().reshape(1, g.ny, g.nx, 2) / LX, dtype=torch.float32),
                            torch.as_tensor(geo, dtype=torch.float32))

    def forward(self, f: np.ndarray, cg: CaseGeometry, re: float) -> torch.Tensor:
        """f (B, N, 3) physical -> the normalised change (B, N, 3)."""
        c = self.cfg
        b = f.shape[0]
        r = (re - c.re_mean) / c.re_std
        x = np.concatenate([(f - np.asarray(c.mean)) / np.asarray(c.std), np.full((*f.shape[:2], 1), r)], -1)
        lat = torch.cat([cg.geo, torch.full_like(cg.geo[..., :1], r)], -1).expand(b, -1, -1, -1)
        return self.model(input_geom=cg.points, latent_queries=cg.latent, output_queries=cg.points,
                           x=torch.as_tensor(x, dtype=torch.float32), latent_features=lat)

    def rollout(self, points: np.ndarray, f0: np.ndarray, params: dict, n_frames: int) -> np.ndarray:
        """f0 (N, 3) at the cell centres -> (n_frames, N, 3)."""
        self.model.eval()
        cg = self.geometry(points, params["cx"], params["cy"], params.get("obstacle", Obstacle()))
        f, out = f0[None].astype(np.float64), []
        with torch.inference_mode():
            for _ in range(n_frames):
                f = f + self.forward(f, cg, params["Re"]).numpy() * np.asarray(self.cfg.d_std)
                out.append(f[0].copy())
        return np.stack(out).astype(np.float32)

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        sd = {k: v.contiguous() for k, v in self.model.state_dict().items() if torch.is_tensor(v)}
        save_file(sd, str(path), metadata={"config": json.dumps(asdict(self.cfg))})
        path.with_suffix(".json").write_text(json.dumps(asdict(self.cfg), indent=1))

    @classmethod
    def load(cls, path: Path) -> "GINOPeer":
        from safetensors.torch import load_file

        raw = json.loads(path.with_suffix(".json").read_text())
        cfg = GINOConfig(**(raw | {k: tuple(raw[k]) for k in ("latent", "n_modes")}))
        model = build_gino(cfg)
        model.load_state_dict(load_file(str(path)), strict=False)  # strict=False: neuralop's `_metadata` entry
        return cls(cfg, model)


def train_gino(store, idx, budget_cpu_s: float, cfg: GINOConfig | None = None,
               log: Callable[[str], None] = print) -> GINOPeer:
    """Train on the cases `idx` of `store` until `budget_cpu_s` seconds of this process's CPU time."""
    cfg = cfg or GINOConfig()
    cfg.budget_cpu_s = float(budget_cpu_s)
    fields = [store.read_fields(int(i)).astype(np.float64) for i in idx]
    prm = [store.params(int(i)) for i in idx]
    deltas = np.concatenate([np.diff(f, axis=0).reshape(-1, 3) for f in fields])
    re = np.asarray([p["Re"] for p in prm])
    cfg.mean, cfg.std = [float(v) for v in store.info.stats.mean], [float(v) for v in store.info.stats.std]
    cfg.d_std = [float(v) for v in np.sqrt((deltas ** 2).mean(0))]
    cfg.re_mean, cfg.re_std = float(re.mean()), float(re.std() or 1.0)
    torch.manual_seed(cfg.seed)
    peer = GINOPeer(cfg, build_gino(cfg))
    geos = [peer.geometry(store.points(int(i)), p["cx"], p["cy"], obstacle_of(store, int(i))) for i, p in zip(idx, prm)]
    opt = torch.optim.AdamW(peer.model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)

    def step(total: int, k: int) -> float:
        c = int(rng.integers(0, len(idx)))
        t = rng.integers(0, len(fields[c]) - 1, cfg.batch)
        y = torch.as_tensor((fields[c][t + 1] - fields[c][t]) / np.asarray(cfg.d_std), dtype=torch.float32)
        for grp in opt.param_groups:
            grp["lr"] = cosine_lr(cfg.lr, k, total)
        loss = torch.nn.functional.mse_loss(peer.forward(fields[c][t], geos[c], re[c]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    cfg.stock_step_cpu_s = stock_step_cpu_s(GINOPeer(cfg, build_gino(cfg)), fields[0][:cfg.batch], geos[0], re[0])
    use_vectorised_reduction()
    return train_to_budget(step, cfg, budget_cpu_s, peer, log)


def pass_cpu_s(probe: GINOPeer, f: np.ndarray, cg: CaseGeometry, re: float, n: int = 2) -> float:
    """CPU-s of one forward + backward pass of `probe` on the frames `f` (mean of `n`)."""
    c0 = time.process_time()
    for _ in range(n):
        probe.forward(f, cg, re).square().mean().backward()
    return (time.process_time() - c0) / n


def stock_step_cpu_s(probe: GINOPeer, f: np.ndarray, cg: CaseGeometry, re: float, n: int = 2) -> float:
    """`pass_cpu_s` with neuralop's own (looped) reduction, as installed."""
    import neuralop.layers.integral_transform as it
    from neuralop.layers.segment_csr import segment_csr as stock

    it.segment_csr = stock
    return pass_cpu_s(probe, f, cg, re, n)


def fit_or_load(store, idx, work: Path, budget_cpu_s: float, seed: int = 0, log: Callable[[str], None] = print) -> GINOPeer:
    """The peer trained on `idx` of `store` (family training split) with `seed`, cached in `work/gino/` (seed 0)
    or `work/gino_seed<N>/`."""
    use_vectorised_reduction()
    path = work / peer_dir("gino", seed) / "gino.safetensors"
    if path.exists():
        peer = GINOPeer.load(path)
        if abs(peer.cfg.budget_cpu_s - budget_cpu_s) > 1:
            raise SystemExit(f"{path} was trained to {peer.cfg.budget_cpu_s:.0f} CPU-s, not {budget_cpu_s:.0f}: "
                             "remove it or choose another --peer-work")
        return peer
    path.parent.mkdir(parents=True, exist_ok=True)
    peer = train_gino(store, idx, budget_cpu_s, cfg=GINOConfig(seed=seed), log=lambda m: log("gino: " + m))
    peer.save(path)
    return peer


def main() -> int:
    """What one GINO forward + backward pass costs on this CPU, neuralop as installed vs the vectorised
    reduction; writes benchmarks/results/cylinder_gino.md."""
    import argparse
    import importlib.util
    import sys

    import neuralop

    from bench_common import portable
    from cylinder import ROOT, dataset
    from echo_model.data.store import TrajectoryStore

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--mesh", default="ci", choices=("ci", "coarse", "fine"))
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--budget", type=float, default=998.0, help="CPU-s of the peers' training budget")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    store = TrajectoryStore(dataset("family", args.mesh))
    i = int(store.split_indices("train")[0])
    prm, cfg = store.params(i), GINOConfig()
    f = store.read_fields(i, slice(0, cfg.batch)).astype(np.float64)
    cfg.mean, cfg.std = [float(v) for v in store.info.stats.mean], [float(v) for v in store.info.stats.std]
    cfg.d_std, cfg.re_mean = [1.0, 1.0, 1.0], prm["Re"]
    peer = GINOPeer(cfg, build_gino(cfg))
    cg = peer.geometry(store.points(i), prm["cx"], prm["cy"], obstacle_of(store, i))
    stock = stock_step_cpu_s(peer, f, cg, prm["Re"], args.passes)
    use_vectorised_reduction()
    fast = pass_cpu_s(peer, f, cg, prm["Re"], args.passes)
    has = {m: importlib.util.find_spec(m) is not None for m in ("open3d", "torch_scatter")}
    lines = ["# GINO (neuraloperator) on CPU: the cost of a training pass", "",
             f"`benchmarks/cylinder_gino.py {portable(sys.argv[1:])}`", "",
             f"neuraloperator {neuralop.__version__}, torch {torch.__version__}, one thread; open3d installed: "
             f"{has['open3d']} (the neighbour search falls back to torch.cdist), torch_scatter installed: "
             f"{has['torch_scatter']}. The peer's network ({LABEL}, `GINOConfig`) on one training case "
             f"({f.shape[1]} cells), a batch of {cfg.batch} frames, forward + backward, mean of {args.passes}:", "",
             f"| reduction in the integral transform | CPU-s per pass | passes in {args.budget:.0f} CPU-s |", "|---|---|---|",
             f"| neuralop's `segment_csr` fallback (a Python loop over the output points) | {stock:.2f} | "
             f"{args.budget / stock:.0f} |",
             f"| one `index_add` (`cylinder_gino._segment_csr`, checked equal to the stock one) | {fast:.3f} | "
             f"{args.budget / fast:.0f} |", "",
             "Stock, the budget buys too few steps to train; with the vectorised reduction GINO is a CPU peer "
             "(`benchmarks/cylinder.py --peers gino`).", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cylinder_gino.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""FNO-2d peer for the cylinder benchmark (`benchmarks/cylinder.py --peers fno`): the cylinder family
resampled onto a regular grid, trained to a CPU budget, rolled out autoregressively and scored back on
each case's own cell centres. Benchmark-only: neuraloperator is an optional extra, imported only where
the network is built; the resampling below needs numpy and matplotlib only.

Protocol (fixed in advance):
  grid        128 x 24 nodes covering the channel 2.2 x 0.41 including its walls (spacing 0.0173 x
              0.0178, cells nearly square; the cylinder's diameter spans ~6 nodes)
  to the grid linear (barycentric) interpolation on the Delaunay triangulation of the case's cell
              centres (matplotlib.tri); grid nodes outside their convex hull (the walls, the inlet and
              outlet lines) take the nearest cell centre's value; nodes inside the cylinder are solid
              and hold zero
  back        bilinear from the 4 grid nodes around each cell centre, solid nodes left out and the
              weights of the others renormalised (exact for linear fields away from the cylinder)
  inputs      U_x, U_y, p z-scored with the family's training-split statistics (the dataset's, which
              ECHO uses too), the fluid mask, the signed distance to the cylinder / channel height, and
              Re z-scored over the training cases; FNO adds its own x, y grid channels
  target      the change of (U_x, U_y, p) over one frame (0.025 s), divided by its per-channel std over
              the fluid nodes of the training cases; MSE over fluid nodes
  network     FNO(n_modes=(12, 40), hidden_channels=32, n_layers=4, domain_padding=0.125: the channel
              is not periodic), AdamW 1e-3, cosine schedule to the step count that the CPU budget allows
              (from a 20-step timing probe), stopped when the budget of process CPU time is spent, batch 16
  rollout     from the first frame on the grid, one network step per frame, each frame interpolated
              back to the cell centres
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

import bench_common
from echo_model.cases.cylinder_mesh import Obstacle

LX, LY, RADIUS = 2.2, 0.41, 0.05  # DFG 2D-2 channel (echo_model.cases.cylinder_mesh)


def obstacle_of(store, i: int) -> Obstacle:
    """The body of case i, from the generator's metadata (the DFG families hold cylinders only)."""
    meta = store.metadata(int(i))
    return Obstacle(meta.get("shape", "circle"), float(meta.get("aspect", 1.0)), float(meta.get("angle", 0.0)))
LABEL = "FNO-2d peer (grid 128 x 24)"
P = TypeVar("P")


@dataclass(frozen=True)
class Grid:
    """A node-centred regular grid over the channel, walls included; row-major (ny, nx)."""

    nx: int = 128
    ny: int = 24

    def nodes(self) -> np.ndarray:
        """(ny * nx, 2) node coordinates, x fastest."""
        gx, gy = np.meshgrid(np.linspace(0, LX, self.nx), np.linspace(0, LY, self.ny))
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def signed_distance(self, cx: float, cy: float, obstacle: Obstacle = Obstacle()) -> np.ndarray:
        """(ny * nx,) distance to the obstacle's surface, negative inside."""
        return obstacle.signed_distance(self.nodes(), cx, cy)


@dataclass
class Stencil:
    """A linear map from source values to targets: target k = sum_j w[k, j] * source[idx[k, j]]."""

    idx: np.ndarray  # (M, K) int
    w: np.ndarray  # (M, K) float

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """values (..., N, C) on the sources -> (..., M, C) on the targets."""
        return np.einsum("...mkc,mk->...mc", values[..., self.idx, :], self.w)


def _nearest(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Index of the nearest source point of each target (brute force, in chunks: a few thousand points)."""
    out = np.empty(len(dst), np.int64)
    for s in range(0, len(dst), 512):
        d = ((dst[s:s + 512, None, :] - src[None]) ** 2).sum(-1)
        out[s:s + 512] = d.argmin(1)
    return out


def scattered_to_points(src: np.ndarray, dst: np.ndarray) -> Stencil:
    """Barycentric interpolation on the Delaunay triangulation of `src`; nearest source outside its hull."""
    import matplotlib.tri as mtri

    tri = mtri.Triangulation(src[:, 0], src[:, 1])
    t = tri.get_trifinder()(dst[:, 0], dst[:, 1])
    idx = np.repeat(_nearest(src, dst)[:, None], 3, axis=1)
    w = np.zeros((len(dst), 3))
    w[:, 0] = 1.0
    inside = t >= 0
    v = tri.triangles[t[inside]]  # (m, 3)
    a, b, c = src[v[:, 0]], src[v[:, 1]], src[v[:, 2]]
    q = dst[inside]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    l1 = ((q[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (q[:, 1] - a[:, 1])) / det
    l2 = ((b[:, 0] - a[:, 0]) * (q[:, 1] - a[:, 1]) - (q[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
    idx[inside], w[inside] = v, np.stack([1 - l1 - l2, l1, l2], axis=1)
    return Stencil(idx, w)


def grid_to_points(grid: Grid, fluid: np.ndarray, dst: np.ndarray) -> Stencil:
    """Bilinear from the grid's 4 surrounding nodes, solid nodes dropped and the rest renormalised."""
    fx = np.clip(dst[:, 0] / LX * (grid.nx - 1), 0, grid.nx - 1 - 1e-9)
    fy = np.clip(dst[:, 1] / LY * (grid.ny - 1), 0, grid.ny - 1 - 1e-9)
    i, j = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    ax, ay = fx - i, fy - j
    idx = np.stack([j * grid.nx + i, j * grid.nx + i + 1, (j + 1) * grid.nx + i, (j + 1) * grid.nx + i + 1], 1)
    w = np.stack([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay], 1) * fluid[idx]
    # a point outside the (convex) cylinder always has a fluid corner, so the sum is positive
    return Stencil(idx, w / w.sum(1, keepdims=True))


@dataclass
class CaseGrid:
    """One case's resampling: its cell centres <-> the grid, and the geometry channels."""

    to_grid: Stencil
    to_points: Stencil
    fluid: np.ndarray  # (ny * nx,) 1 in the fluid, 0 in the cylinder
    sdf: np.ndarray  # (ny * nx,) signed distance / channel height

    @classmethod
    def build(cls, grid: Grid, points: np.ndarray, cx: float, cy: float, obstacle: Obstacle = Obstacle()) -> "CaseGrid":
        sd = grid.signed_distance(cx, cy, obstacle)
        fluid = (sd > 0).astype(np.float64)
        return cls(scattered_to_points(points, grid.nodes()), grid_to_points(grid, fluid, points), fluid, sd / LY)

    def fields_to_grid(self, f: np.ndarray) -> np.ndarray:
        """(..., N, C) at the cell centres -> (..., M, C) on the grid, zero in the cylinder."""
        return self.to_grid(f) * self.fluid[:, None]


def round_trip(grid: Grid, points: np.ndarray, fields: np.ndarray, cx: float, cy: float,
               obstacle: Obstacle = Obstacle()) -> np.ndarray:
    """Cell centres -> grid -> cell centres: the resampling error that bounds any grid model from below."""
    cg = CaseGrid.build(grid, points, cx, cy, obstacle)
    return cg.to_points(cg.fields_to_grid(fields))


@dataclass
class PeerTraining:
    """What every cylinder peer records: its optimiser settings, the normalisation (from the family's training
    split, filled in by its `train_*`) and the CPU budget it was trained to."""

    lr: float = 1e-3  # AdamW peak, cosine schedule to the planned steps
    seed: int = 0
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    d_std: list[float] = field(default_factory=list)
    re_mean: float = 0.0
    re_std: float = 1.0
    budget_cpu_s: float = 0.0
    cpu_s: float = 0.0
    steps: int = 0
    planned_steps: int = 0
    loss_tail: float = float("nan")


@dataclass
class FNOConfig(PeerTraining):
    nx: int = 128
    ny: int = 24
    n_modes: tuple[int, int] = (12, 40)
    hidden: int = 32
    layers: int = 4
    padding: float = 0.125
    batch: int = 16


def build_fno(cfg: FNOConfig):
    from neuralop.models import FNO

    return FNO(n_modes=tuple(cfg.n_modes), hidden_channels=cfg.hidden, in_channels=6, out_channels=3,
               n_layers=cfg.layers, domain_padding=cfg.padding or None)


class FNOPeer:
    """A trained FNO-2d on the grid with its normalisation; rolls out a case from its first frame."""

    def __init__(self, cfg: FNOConfig, model) -> None:
        self.cfg, self.model, self.grid = cfg, model, Grid(cfg.nx, cfg.ny)

    def _inputs(self, g: np.ndarray, cg: CaseGrid, re: float):
        """g (B, M, 3) physical values on the grid -> (B, 6, ny, nx) network input."""
        import torch

        c = self.cfg
        b, shape = g.shape[0], (c.ny, c.nx)
        x = (g - np.asarray(c.mean)) / np.asarray(c.std) * cg.fluid[:, None]
        geo = np.broadcast_to(np.stack([cg.fluid, cg.sdf, np.full_like(cg.sdf, (re - c.re_mean) / c.re_std)], 1),
                              (b, *cg.sdf.shape, 3))
        inp = np.concatenate([x, geo], axis=-1).transpose(0, 2, 1).reshape(b, 6, *shape)
        return torch.as_tensor(inp, dtype=torch.float32)

    def step(self, g: np.ndarray, cg: CaseGrid, re: float) -> np.ndarray:
        """One frame forward on the grid (physical values, (B, M, 3))."""
        d = self.model(self._inputs(g, cg, re)).detach().numpy().reshape(g.shape[0], 3, -1).transpose(0, 2, 1)
        return g + d * np.asarray(self.cfg.d_std) * cg.fluid[:, None]

    def rollout(self, points: np.ndarray, f0: np.ndarray, params: dict, n_frames: int) -> np.ndarray:
        """f0 (N, 3) at the cell centres -> (n_frames, N, 3) at the cell centres."""
        import torch

        self.model.eval()
        cg = CaseGrid.build(self.grid, points, params["cx"], params["cy"], params.get("obstacle", Obstacle()))
        g, out = cg.fields_to_grid(f0.astype(np.float64))[None], []
        with torch.inference_mode():
            for _ in range(n_frames):
                g = self.step(g, cg, params["Re"])
                out.append(cg.to_points(g[0]))
        return np.stack(out).astype(np.float32)

    def save(self, path: Path) -> None:
        """Weights as safetensors (complex spectral weights included), the configuration as JSON beside it."""
        import torch
        from safetensors.torch import save_file

        sd = {k: v.contiguous() for k, v in self.model.state_dict().items() if torch.is_tensor(v)}
        save_file(sd, str(path), metadata={"config": json.dumps(asdict(self.cfg))})
        path.with_suffix(".json").write_text(json.dumps(asdict(self.cfg), indent=1))

    @classmethod
    def load(cls, path: Path) -> "FNOPeer":
        from safetensors.torch import load_file

        raw = json.loads(path.with_suffix(".json").read_text())
        cfg = FNOConfig(**(raw | {"n_modes": tuple(raw["n_modes"])}))
        model = build_fno(cfg)
        model.load_state_dict(load_file(str(path)), strict=False)  # strict=False: neuralop's `_metadata` entry
        return cls(cfg, model)


def _training_grids(store, idx, grid: Grid) -> tuple[list[np.ndarray], list[CaseGrid], np.ndarray]:
    """All frames of the training cases on the grid: per case (T_i, M, 3), their CaseGrids, Re."""
    g, cgs, re = [], [], []
    for i in idx:
        prm = store.params(int(i))
        cg = CaseGrid.build(grid, store.points(int(i)), prm["cx"], prm["cy"], obstacle_of(store, int(i)))
        g.append(cg.fields_to_grid(store.read_fields(int(i)).astype(np.float64)))
        cgs.append(cg)
        re.append(prm["Re"])
    return g, cgs, np.asarray(re)


def train_fno(store, idx, budget_cpu_s: float, cfg: FNOConfig | None = None,
              log: Callable[[str], None] = print) -> FNOPeer:
    """Train on the cases `idx` of `store` until `budget_cpu_s` seconds of this process's CPU time."""
    import torch

    cfg = cfg or FNOConfig()
    cfg.budget_cpu_s = float(budget_cpu_s)
    grid = Grid(cfg.nx, cfg.ny)
    g, cgs, re = _training_grids(store, idx, grid)
    d = [np.diff(x, axis=0) for x in g]  # per case (T_i - 1, M, 3): cases may differ in length
    cfg.mean, cfg.std = [float(v) for v in store.info.stats.mean], [float(v) for v in store.info.stats.std]
    sq = sum((di ** 2 * c.fluid[None, :, None]).sum((0, 1)) for di, c in zip(d, cgs))
    cfg.d_std = [float(v) for v in np.sqrt(sq / sum(c.fluid.sum() * len(di) for di, c in zip(d, cgs)))]
    cfg.re_mean, cfg.re_std = float(re.mean()), float(re.std() or 1.0)
    torch.manual_seed(cfg.seed)
    peer = FNOPeer(cfg, build_fno(cfg))
    opt = torch.optim.AdamW(peer.model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    fl = torch.as_tensor(np.stack([c.fluid for c in cgs]).reshape(-1, 1, cfg.ny, cfg.nx), dtype=torch.float32)

    def step(total: int, k: int) -> float:
        ci = rng.integers(0, len(cgs), cfg.batch)
        ti = [int(rng.integers(0, len(d[c]))) for c in ci]
        inp = torch.cat([peer._inputs(g[c][t][None], cgs[c], re[c]) for c, t in zip(ci, ti)])
        y = np.stack([d[c][t] for c, t in zip(ci, ti)]) / np.asarray(cfg.d_std)  # (B, M, 3)
        y = torch.as_tensor(y.transpose(0, 2, 1).reshape(cfg.batch, 3, cfg.ny, cfg.nx), dtype=torch.float32)
        for grp in opt.param_groups:
            grp["lr"] = bench_common.cosine_lr(cfg.lr, k, total)
        m = fl[ci]
        loss = (((peer.model(inp) - y) * m) ** 2).sum() / (3 * m.sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return train_to_budget(step, cfg, budget_cpu_s, peer, log)


def train_to_budget(step: Callable[[int, int], float], cfg: "PeerTraining", budget_cpu_s: float, peer: P,
                    log: Callable[[str], None]) -> P:
    """bench_common.train_to_budget, its figures recorded in the peer's config."""
    run = bench_common.train_to_budget(step, budget_cpu_s, log)
    cfg.cpu_s, cfg.steps, cfg.planned_steps, cfg.loss_tail = run.cpu_s, run.steps, run.planned_steps, run.loss_tail
    return peer


def peer_dir(name: str, seed: int) -> str:
    """Where a peer trained with `seed` is cached under --peer-work: `fno`, `fno_seed1`, ..."""
    return name if seed == 0 else f"{name}_seed{seed}"


def fit_or_load(store, idx, work: Path, budget_cpu_s: float, seed: int = 0, log: Callable[[str], None] = print) -> FNOPeer:
    """The peer trained on `idx` of `store` (family training split) with `seed`, cached in `work/fno/` (seed 0)
    or `work/fno_seed<N>/`."""
    path = work / peer_dir("fno", seed) / "fno.safetensors"
    if path.exists():
        peer = FNOPeer.load(path)
        if abs(peer.cfg.budget_cpu_s - budget_cpu_s) > 1:
            raise SystemExit(f"{path} was trained to {peer.cfg.budget_cpu_s:.0f} CPU-s, not {budget_cpu_s:.0f}: "
                             "remove it or choose another --peer-work")
        return peer
    path.parent.mkdir(parents=True, exist_ok=True)
    peer = train_fno(store, idx, budget_cpu_s, cfg=FNOConfig(seed=seed), log=lambda m: log("fno: " + m))
    peer.save(path)
    return peer

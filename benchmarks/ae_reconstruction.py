"""Autoencoder reconstruction figures (issue 4): rel-MSE at 100/50/20 % input points and 2x super-resolution.

    .venv/bin/python benchmarks/ae_reconstruction.py --model RUN/model.safetensors [--model RUN2/model.safetensors] \
        --data sample_cases/ns2d_vorticity/ns2d_64.h5 --superres sample_cases/ns2d_vorticity/ns2d_128_superres.h5

Metric: relative MSE ||u_hat - u||^2 / ||u||^2 over (frames, points) of one window, in physical units,
averaged over the windows of the split's trajectories (windows of the model's n_frames starting
every `--window-stride` frames). Input: a random subset of the points (seeded); the reconstruction is
always scored on ALL points of the frame. Super-resolution: encode the 64^2 trajectory (all points),
decode at the 128^2 nodes, score against the 128^2 twin; reference: periodic bicubic interpolation
of the 64^2 input (and of the AE's own 64^2 reconstruction) to 128^2.
Writes a markdown table (benchmarks/results/autoencoder.md, section "reconstruction") and a PNG.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from echo_model.data.normalize import ChannelStats, Domain
from echo_model.data.store import TrajectoryStore
from echo_model.nn.autoencoder import load_autoencoder

RESULTS = Path(__file__).resolve().parent / "results"


def rel_mse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(((pred - true) ** 2).sum() / (true**2).sum())


@torch.no_grad()
def reconstruct(model, points_unit: np.ndarray, frames_norm: np.ndarray, keep: float, seed: int,
                query_unit: np.ndarray | None = None) -> np.ndarray:
    """Encode a random `keep` fraction of the points, decode at query (default all points). Normalised."""
    n = points_unit.shape[0]
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(n, int(round(keep * n)), replace=False)) if keep < 1 else np.arange(n)
    p = torch.from_numpy(points_unit[ids])[None]
    v = torch.from_numpy(frames_norm[:, ids])[None]
    q = torch.from_numpy(points_unit if query_unit is None else query_unit)[None]
    z = model.encode(p, v, chunk_size=1 << 20)
    return model.decode(z, q, chunk_size=1 << 20)[0].numpy()


def grid_image(values: np.ndarray, res: int) -> np.ndarray:
    """(N,) in VTK order (x fastest) -> (res, res) indexed [y, x]."""
    return values.reshape(res, res)


def bicubic_up(frames: np.ndarray, res: int, factor: int = 2) -> np.ndarray:
    """(T, res*res) periodic field -> (T, (factor res)^2) by periodic bicubic interpolation on node values."""
    img = torch.from_numpy(frames.reshape(-1, 1, res, res).astype(np.float32))
    pad = 2
    img = F.pad(img, (pad, pad, pad, pad), mode="circular")
    # nodes at i/res; output nodes at j/(factor res): sample the padded image at those positions
    out_res = factor * res
    coords = torch.arange(out_res) / factor + pad  # position in padded-pixel units
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    size = res + 2 * pad
    grid = torch.stack([(gx + 0.5) / size * 2 - 1, (gy + 0.5) / size * 2 - 1], -1)[None].expand(img.shape[0], -1, -1, -1)
    up = F.grid_sample(img, grid, mode="bicubic", align_corners=False)
    return up.reshape(frames.shape[0], -1).numpy()


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="model file(s); the label is its run dir")
    ap.add_argument("--label", action="append", default=None)
    ap.add_argument("--data", default="sample_cases/ns2d_vorticity/ns2d_64.h5")
    ap.add_argument("--superres", default="sample_cases/ns2d_vorticity/ns2d_128_superres.h5")
    ap.add_argument("--split", default="test")
    ap.add_argument("--keep", type=float, nargs="+", default=[1.0, 0.5, 0.2])
    ap.add_argument("--window-stride", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=2, help="random input subsets per window")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "autoencoder_reconstruction.json"))
    ap.add_argument("--png", default=str(RESULTS / "autoencoder_reconstruction.png"))
    return ap.parse_args()


def score_point_subsets(args, label, model, stats, domain, store, T, res, row, examples) -> None:
    """rel-MSE on all points from each --keep fraction of input points, over the split's windows."""
    split_ids = store.split_indices(args.split)
    first = int(split_ids[0]) if len(split_ids) else -1
    for keep in args.keep:
        errs = []
        for i in store.split_indices(args.split):
            pts = domain.to_unit(store.points(int(i)))
            raw = store.read_fields(int(i))
            for s in range(0, raw.shape[0] - T + 1, args.window_stride):
                w = raw[s : s + T]
                for seed in range(args.seeds if keep < 1 else 1):
                    pred = stats.denormalize(reconstruct(model, pts, stats.normalize(w), keep, seed))
                    errs.append(rel_mse(pred, w))
                    if keep == 1.0 and int(i) == first and s == 0 and res * res == pts.shape[0]:
                        examples[label] = (w[-1, :, 0], pred[-1, :, 0], res)  # images only for square grids
        row[f"rel_mse_{int(keep * 100)}"] = float(np.mean(errs))
        row[f"rel_mse_{int(keep * 100)}_n"] = len(errs)


def score_superres(args, label, model, stats, domain, store, T, res, row, examples) -> None:
    """Encode the low-resolution windows, decode at the --superres twins' nodes; bicubic references."""
    hi = TrajectoryStore(args.superres)
    test = set(int(k) for k in store.split_indices("test"))
    scores: dict[str, list[tuple[str, float]]] = {"superres": [], "bicubic_input": [], "bicubic_recon": [],
                                                  "same_res": []}
    for j in range(len(hi)):
        idx = int(hi[j].metadata.get("index", j))
        split = "test" if idx in test else "train"
        pts_lo, pts_hi = domain.to_unit(store.points(idx)), domain.to_unit(hi.points(j))
        lo_raw, hi_raw = store.read_fields(idx), hi.read_fields(j)
        hres = int(round(np.sqrt(hi.n_points(j))))
        for s in range(0, lo_raw.shape[0] - T + 1, args.window_stride):
            w_lo, w_hi = lo_raw[s : s + T], hi_raw[s : s + T]
            pred_hi = stats.denormalize(reconstruct(model, pts_lo, stats.normalize(w_lo), 1.0, 0, pts_hi))
            pred_lo = stats.denormalize(reconstruct(model, pts_lo, stats.normalize(w_lo), 1.0, 0))
            scores["superres"].append((split, rel_mse(pred_hi, w_hi)))
            scores["bicubic_input"].append((split, rel_mse(bicubic_up(w_lo[..., 0], res)[..., None], w_hi)))
            scores["bicubic_recon"].append((split, rel_mse(bicubic_up(pred_lo[..., 0], res)[..., None], w_hi)))
            scores["same_res"].append((split, rel_mse(pred_lo, w_lo)))
            if split == "test" and s == 0:
                examples[label + " 128^2"] = (w_hi[-1, :, 0], pred_hi[-1, :, 0], hres)
    for name, vals in scores.items():
        for split in ("test", "train"):
            v = [e for sp, e in vals if sp == split]
            if v:
                row[f"{name}_{split}"] = float(np.mean(v))
    hi.close()


def evaluate_model(args, label: str, path: str, store: TrajectoryStore, examples: dict) -> dict:
    model, meta = load_autoencoder(path)
    stats, domain = ChannelStats.from_dict(meta["stats"]), Domain.from_dict(meta["domain"])
    T = int(meta.get("n_frames", 1 + 4 * model.time_factor))
    res = int(round(np.sqrt(store.n_points(0))))
    row = {"model": label, "path": str(path), "n_frames": T, "latent": list(model.latent_shape(T)),
           "compression": model.compression_ratio(store.n_points(0), T), "stage": meta.get("stage"),
           "train_steps": meta.get("training", {}).get("step")}
    t0 = time.time()
    score_point_subsets(args, label, model, stats, domain, store, T, res, row, examples)
    if args.superres and Path(args.superres).exists():  # "none" skips
        score_superres(args, label, model, stats, domain, store, T, res, row, examples)
    row["eval_wall_s"] = round(time.time() - t0, 1)
    return row


def print_table(rows: list[dict], keeps: list[float]) -> None:
    cols = ["model", "compression"] + [f"rel_mse_{int(k * 100)}" for k in keeps] + [
        "superres_test", "bicubic_input_test", "superres_train", "bicubic_input_train"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r.get(c):.3e}" if isinstance(r.get(c), float) else str(r.get(c)) for c in cols) + " |")


def plot_examples(examples: dict, png: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(examples)
        if n == 0:
            raise ImportError("no square-grid example to draw")
        fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
        for ax_row, (name, (true, pred, r)) in zip(axes, examples.items()):
            vmax = float(np.abs(true).max())
            for ax, img, title in zip(ax_row, (true, pred, pred - true), ("truth", "reconstruction", "error")):
                ax.imshow(grid_image(img, r), origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
                ax.set_title(f"{name}: {title}", fontsize=8)
                ax.axis("off")
        fig.tight_layout()
        fig.savefig(png, dpi=90)
        print(f"wrote {png}")
    except ImportError:
        print("no PNG (matplotlib missing, or no square-grid example to draw)")


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    labels = args.label or [Path(m).parent.name for m in args.model]
    store = TrajectoryStore(args.data)
    rows = []
    examples: dict = {}
    for label, path in zip(labels, args.model):
        row = evaluate_model(args, label, path, store, examples)
        rows.append(row)
        print(json.dumps(row, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print_table(rows, args.keep)
    plot_examples(examples, args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

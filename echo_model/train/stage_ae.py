"""Stage 1: train the ECHO autoencoder on low-resolution trajectory windows.

Windows of T = 1 + f k frames, random input-point dropout (keep ~ U[keep-min, keep-max] of the
points per sample), relative-MSE reconstruction loss on a random query subset (or all points).
Resumable: run again with the same --run to continue from its last checkpoint.
Writes RUN/model.safetensors (inference), RUN/checkpoint.safetensors, RUN/progress.json.

example (measured: 514 s on one shared CPU core, benchmarks/results/autoencoder.md):
    echopv train ae --data sample_cases/ns2d_vorticity/ns2d_64.h5 --run runs/ae_tiny --preset tiny \
        --steps 1200 --batch-size 4 --n-query 2048 --threads 1
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bundle import read_meta
from ..data.store import TrajectoryStore
from ..data.windows import WindowSampler
from ..nn.autoencoder import MODEL_KEY, AutoencoderConfig, EchoAutoencoder, load_autoencoder
from ..presets import AE_PRESETS, DEFAULT_FRAMES, autoencoder_config
from .trainer import CHECKPOINT, TrainConfig, Trainer, add_schedule_arguments, schedule_config


def relative_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                 eps: float = 1e-8) -> torch.Tensor:
    """Mean over samples of ||pred - target||^2 / ||target||^2 over (frames, points, channels).

    pred/target (B, T, M, C); mask (B, M) bool selects real query points. Float32 reduction.
    """
    diff = (pred.float() - target.float()) ** 2
    ref = target.float() ** 2
    if mask is not None:
        m = mask[:, None, :, None].to(diff.dtype)
        diff, ref = diff * m, ref * m
    num = diff.flatten(1).sum(1)
    den = ref.flatten(1).sum(1)
    return (num / (den + eps)).mean()


def ae_step(model: EchoAutoencoder, batch: dict[str, torch.Tensor], chunk_size: int | None = None) -> Any:
    """One reconstruction step: encode the kept points, decode at the query points, relative MSE."""
    z = model.encode(batch["points"], batch["values"], batch["point_mask"], chunk_size=chunk_size, cache=False)
    pred = model.decode(z, batch["query_points"], chunk_size=chunk_size, query_mask=batch["query_mask"], cache=False)
    return relative_mse(pred, batch["target"], batch["query_mask"])


def dataset_meta(store: TrajectoryStore, path: str) -> dict[str, Any]:
    info = store.info
    t = store.times(int(store.split_indices("train")[0]) if len(info.split.get("train", [])) else 0)
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    return {"stats": info.stats.to_dict(), "domain": info.domain.to_dict(),
            "field_layout": [list(x) for x in info.field_layout], "dt": dt,
            "dataset": {"name": info.name, "path": str(path)}}


def add_common_arguments(p: argparse.ArgumentParser, steps: int, lr: float, batch: int) -> None:
    p.add_argument("--data", required=True, help="ECHO dataset (.h5)")
    p.add_argument("--run", required=True, help="run directory (checkpoints, model.safetensors, progress.json)")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch-size", type=int, default=batch)
    p.add_argument("--lr", type=float, default=lr)
    add_schedule_arguments(p)
    p.add_argument("--n-query", type=int, default=None, help="loss points per sample (default: all points)")
    p.add_argument("--keep-min", type=float, default=0.5, help="min fraction of input points kept")
    p.add_argument("--keep-max", type=float, default=1.0)
    p.add_argument("--chunk-size", type=int, default=None,
                   help="max (neighbour pair x frame) per continuous-conv chunk (bounds memory)")
    p.add_argument("--shift", type=float, default=1.0,
                   help="random translation of each sample by up to +-shift/2 latent-grid spacings (0 = off); "
                        "teaches the continuous kernels all point-node offsets, for decoding at other resolutions")
    p.add_argument("--split", default="train")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (use 1 on a loaded shared machine: spin-waiting threads cost 5-20x there)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --run")
    p.add_argument("--no-progress", action="store_true")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, steps=1200, lr=2e-3, batch=4)
    p.add_argument("--preset", default="tiny", choices=sorted(AE_PRESETS))
    p.add_argument("--frames", type=int, default=None, help="window length 1 + f k (default per preset)")
    p.add_argument("--frame-stride", type=int, default=1)
    p.add_argument("--init", default=None, help="start from this model file instead of random weights")
    p.add_argument("--grid", type=int, nargs="+", default=None,
                   help="latent grid nodes per axis, overriding the preset (e.g. 64 16 for a 4:1 channel); "
                        "each must be divisible by 2^(number of compress_space blocks)")
    p.add_argument("--latent-dim", type=int, default=None, help="latent channels D, overriding the preset")


def train_config(args: argparse.Namespace, stage: str) -> TrainConfig:
    return schedule_config(args, stage)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    store = TrajectoryStore(args.data)
    info = store.info
    run_dir = Path(args.run)
    ckpt = run_dir / CHECKPOINT
    resume = ckpt.exists() and not args.no_resume
    if resume:  # the checkpoint's own config wins: a resumed run is the same model
        cfg = AutoencoderConfig.from_dict(read_meta(ckpt)[MODEL_KEY])
        model = EchoAutoencoder(cfg)
    elif args.init:
        model, _ = load_autoencoder(args.init)
        cfg = model.config
    else:
        overrides = {}
        if args.grid:
            overrides["grid"] = tuple(args.grid) if len(args.grid) > 1 else (args.grid[0],) * info.dim
        if args.latent_dim:
            overrides["latent_dim"] = args.latent_dim
        cfg = autoencoder_config(args.preset, dim=info.dim, in_channels=info.n_channels,
                                 periodic=info.domain.periodic, **overrides)
        model = EchoAutoencoder(cfg)
    if cfg.in_channels != info.n_channels or cfg.dim != info.dim:
        raise ValueError(f"model expects {cfg.dim}-D data with {cfg.in_channels} channels, dataset {args.data} has "
                         f"{info.dim}-D with {info.n_channels}: use another --run or --init")
    frames = args.frames or DEFAULT_FRAMES.get(args.preset, 1 + 4 * cfg.time_factor)
    cfg.latent_shape(frames)  # validates 1 + f k
    sampler = WindowSampler(store, split=args.split, n_frames=frames, frame_stride=args.frame_stride,
                            keep=(args.keep_min, args.keep_max), n_query=args.n_query, seed=args.seed,
                            shift=args.shift / max(cfg.grid))
    n_pts = store.n_points(sampler.usable[0])
    meta = {"kind": "autoencoder", MODEL_KEY: cfg.to_dict(), **dataset_meta(store, args.data),
            "stage": "ae", "n_frames": frames, "frame_stride": args.frame_stride,
            "compression_ratio": cfg.compression_ratio(n_pts, frames)}
    tcfg = train_config(args, "ae")
    trainer = Trainer(model, run_dir, tcfg, model_prefix=MODEL_KEY, meta=meta, resume=not args.no_resume)
    print(f"autoencoder: {sum(p.numel() for p in model.parameters()):,} parameters, latent "
          f"{cfg.latent_shape(frames)} for {frames} x {n_pts} x {cfg.in_channels} -> compression "
          f"x{cfg.compression_ratio(n_pts, frames):.1f}; device {trainer.device}"
          + (f"; resuming at step {trainer.step}" if trainer.step else ""))
    result = trainer.fit(lambda m, b: ae_step(m, b, args.chunk_size),
                         lambda step: sampler.batch(step, args.batch_size, trainer.rank))
    print(f"done: step {result['step']}, loss {result['loss']:.4e} (avg {result['loss_avg'] or float('nan'):.4e}), "
          f"{result['wall_s']:.1f} s -> {run_dir / 'model.safetensors'}")
    store.close()
    return 0

"""Stage 1: train the ECHO autoencoder on low-resolution trajectory windows.

Windows of T = 1 + f k frames, random input-point dropout (keep ~ U[keep-min, keep-max] of the
points per sample), relative-MSE reconstruction loss on a random query subset (or all points).
Resumable: run again with the same --run to continue from its last checkpoint.
Writes RUN/autoencoder.safetensors (inference), RUN/checkpoint.safetensors, RUN/progress.json
(names in layout.py). Options: `runs.AutoencoderRun`; the function: `train_autoencoder(cfg)`.

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
from ..nn.dit import DIT_PRESETS
from ..nn.autoencoder import MODEL_KEY, AutoencoderConfig, EchoAutoencoder, load_autoencoder
from ..errors import EchoUserError
from ..presets import DEFAULT_FRAMES, autoencoder_config, grid_for_domain
from .batch_check import check_batch_memory
from .layout import AUTOENCODER, CHECKPOINT
from .resume_check import check_preset
from .runs import AutoencoderRun, add_arguments_from, apply_threads, from_namespace
from .trainer import Trainer


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, AutoencoderRun)


def build_autoencoder(cfg: AutoencoderRun, info) -> EchoAutoencoder:
    """The model to train: the checkpoint's config when resuming, --init's weights, or a preset."""
    ckpt = Path(cfg.run) / CHECKPOINT
    if ckpt.exists() and cfg.resume:  # the checkpoint's own config wins: a resumed run is the same model
        if not cfg.init:  # refine's checkpoint records no preset of its own: --init decides its network
            check_preset(ckpt, cfg.preset, cfg.run)
        return EchoAutoencoder(AutoencoderConfig.from_dict(read_meta(ckpt)[MODEL_KEY]))
    if cfg.init:
        return load_autoencoder(cfg.init)[0]
    overrides: dict[str, Any] = {"quadrature": cfg.quadrature}
    if cfg.grid:
        overrides["grid"] = tuple(cfg.grid) if len(cfg.grid) > 1 else (cfg.grid[0],) * info.dim
    else:  # latent cells roughly square on elongated domains (a channel flow gets 64 x 16, not 32 x 32)
        base = autoencoder_config(cfg.preset, dim=info.dim, in_channels=info.n_channels)
        extent = np.asarray(info.domain.hi) - np.asarray(info.domain.lo)
        # latent axes also divisible by every DiT preset's space patch, or stage 3 refuses the latent
        patch = max(d.patch_space for d in DIT_PRESETS.values())
        overrides["grid"] = grid_for_domain(base.grid, extent, base.space_factor * patch)
        if overrides["grid"] != base.grid:
            print(f"latent grid {' x '.join(map(str, overrides['grid']))} from the domain's extent "
                  f"{' x '.join(f'{e:.3g}' for e in extent)} (override with --grid)")
    if cfg.latent_dim:
        overrides["latent_dim"] = cfg.latent_dim
    return EchoAutoencoder(autoencoder_config(cfg.preset, dim=info.dim, in_channels=info.n_channels,
                                              periodic=info.domain.periodic, **overrides))


def _training_subset(store: TrajectoryStore, cfg: AutoencoderRun) -> list[int] | None:
    """The split's first `max_traj` trajectories (None: the whole split, WindowSampler's default)."""
    if cfg.max_traj is None:
        return None
    split = [int(i) for i in store.split_indices(cfg.split)]
    if not 1 <= cfg.max_traj <= len(split):
        raise EchoUserError(f"--max-traj {cfg.max_traj}: the '{cfg.split}' split of {cfg.data} has {len(split)} "
                            f"trajectories; use 1 to {len(split)}")
    return split[: cfg.max_traj]


def train_autoencoder(cfg: AutoencoderRun) -> dict[str, Any]:
    """Stage 1. Returns the Trainer's result (step, loss, wall_s) plus the model file path."""
    apply_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # before the model is built: equal seeds give equal initial weights
    with TrajectoryStore(cfg.data) as store:
        info = store.info
        model = build_autoencoder(cfg, info)
        mcfg = model.config
        if mcfg.in_channels != info.n_channels or mcfg.dim != info.dim:
            raise EchoUserError(f"model expects {mcfg.dim}-D data with {mcfg.in_channels} channels, dataset "
                                f"{cfg.data} has {info.dim}-D with {info.n_channels}: use another run directory "
                                "or --init")
        frames = cfg.frames or DEFAULT_FRAMES.get(cfg.preset, 1 + 4 * mcfg.time_factor)
        mcfg.latent_shape(frames)  # validates 1 + f k
        sampler = WindowSampler(store, split=cfg.split, n_frames=frames, frame_stride=cfg.frame_stride,
                                indices=_training_subset(store, cfg),
                                keep=(cfg.keep_min, cfg.keep_max), n_query=cfg.n_query, seed=cfg.seed,
                                shift=cfg.shift / max(mcfg.grid))
        n_pts = store.n_points(sampler.usable[0])
        n_max = max(store.n_points(int(i)) for i in sampler.usable)
        check_batch_memory("--batch-size", cfg.batch_size, n_max, min(cfg.n_query or n_max, n_max), frames,
                           info.n_channels, info.dim)  # before the first sample: a huge batch never ends its step
        meta = {"kind": "autoencoder", MODEL_KEY: mcfg.to_dict(), **dataset_meta(store, cfg.data),
                # the preset, checked on resume (resume_check.py); with --init that file decides the network
                "stage": "ae", "preset": None if cfg.init else cfg.preset, "n_frames": frames,
                "frame_stride": cfg.frame_stride,
                "compression_ratio": mcfg.compression_ratio(n_pts, frames)}
        trainer = Trainer(model, cfg.run, cfg.train_config("ae"), model_prefix=MODEL_KEY, meta=meta,
                          resume=cfg.resume, output=AUTOENCODER)
        print(f"autoencoder: {sum(p.numel() for p in model.parameters()):,} parameters, latent "
              f"{mcfg.latent_shape(frames)} for {frames} x {n_pts} x {mcfg.in_channels} -> compression "
              f"x{mcfg.compression_ratio(n_pts, frames):.1f}; device {trainer.device}"
              + (f"; resuming at step {trainer.step}" if trainer.step else ""))
        result = trainer.fit(lambda m, b: ae_step(m, b, cfg.chunk_size),
                             lambda step: sampler.batch(step, cfg.batch_size, trainer.rank))
    print(f"done: step {result['step']}, loss {result['loss']:.4e} (avg {result['loss_avg'] or float('nan'):.4e}), "
          f"{result['wall_s']:.1f} s -> {trainer.output}")
    return {**result, "model": trainer.output}


def run(args: argparse.Namespace) -> int:
    train_autoencoder(from_namespace(AutoencoderRun, args))
    return 0

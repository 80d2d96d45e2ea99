"""Stage 2: refine a stage-1 autoencoder on single high-resolution frames.

Single frames (T = 1: thanks to causality no temporal compression is active, so this adapts the
continuous convolutions and the spatial blocks to dense inputs), chunked encode/decode (bounded
memory, gradient checkpointing per chunk) and a random query subset for the loss, so
million-point frames fit. The model keeps its stage-1 normalisation (stats, domain).
Replay (--replay DATASET): every step also adds the loss of a few low-resolution WINDOWS of the stage-1
data (measured: single-frame refinement alone raised the 9-frame window error of the tiny model from
3.6e-3 to 6.1e-3, because the temporal layers drift when they only ever see T = 1). Data comes only
from the command line: nothing named inside a model file is ever opened.
Resumable: run again with the same --run.

example (measured: 117 s on one shared CPU core, benchmarks/results/autoencoder.md):
    echopv train refine --init runs/ae_tiny/autoencoder.safetensors --split train --lr 2e-4 --steps 300 \\
        --data sample_cases/ns2d_vorticity/ns2d_128_superres.h5 --run runs/ae_tiny_refined --threads 1 \\
        --replay sample_cases/ns2d_vorticity/ns2d_64.h5
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ..bundle import read_meta
from ..data.normalize import ChannelStats, Domain
from ..data.store import TrajectoryStore
from ..data.windows import WindowSampler
from ..errors import EchoUserError
from ..nn.autoencoder import MODEL_KEY, AutoencoderConfig, EchoAutoencoder, load_autoencoder
from .batch_check import check_batch_memory
from .layout import AUTOENCODER, CHECKPOINT
from .runs import RefineRun, add_arguments_from, apply_threads, from_namespace
from .stage_ae import ae_step
from .trainer import Trainer


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, RefineRun)


def load_start(cfg: RefineRun) -> tuple[EchoAutoencoder, dict]:
    """The model to refine and its header: the run's checkpoint when resuming, else --init."""
    ckpt = Path(cfg.run) / CHECKPOINT
    if ckpt.exists() and cfg.resume:
        meta = read_meta(ckpt)
        meta.pop("checkpoint", None)
        return EchoAutoencoder(AutoencoderConfig.from_dict(meta[MODEL_KEY])), meta
    if cfg.init:
        model, meta = load_autoencoder(cfg.init)
        meta.pop("training", None)
        return model, meta
    raise EchoUserError(f"no checkpoint in {cfg.run} to resume and no --init: pass the stage-1 autoencoder file, "
                        f"e.g. --init runs/ae/{AUTOENCODER}")


def replay_sampler(cfg: RefineRun, meta: dict, stats, domain, grid: tuple[int, ...]) -> WindowSampler | None:
    """Stage-1-like windows mixed into every step; only from a path given on the command line."""
    if not cfg.replay or cfg.replay == "none":
        return None
    if not Path(cfg.replay).is_file():
        raise EchoUserError(f"replay dataset {cfg.replay} not found: pass --replay PATH (the stage-1 data) or "
                            "leave it out")
    f = 2 ** AutoencoderConfig.from_dict(meta[MODEL_KEY]).layout.count("ct")
    return WindowSampler(cfg.replay, split="train", n_frames=int(meta.get("n_frames", 1 + 4 * f)),
                         frame_stride=int(meta.get("frame_stride", 1)), keep=(cfg.keep_min, cfg.keep_max),
                         n_query=cfg.replay_query, seed=cfg.seed + 1, stats=stats, domain=domain,
                         shift=cfg.shift / max(grid))


def refine(cfg: RefineRun) -> dict[str, Any]:
    """Stage 2. Returns the Trainer's result plus the model file path."""
    apply_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model, meta = load_start(cfg)
    mcfg = model.config
    store = TrajectoryStore(cfg.data)
    if store.info.n_channels != mcfg.in_channels or store.info.dim != mcfg.dim:
        raise EchoUserError(f"{cfg.data} has {store.info.dim}-D data with {store.info.n_channels} channels but the "
                            f"model expects {mcfg.dim}-D with {mcfg.in_channels}: refine on the same kind of data")
    stats = ChannelStats.from_dict(meta["stats"]) if "stats" in meta else None
    domain = Domain.from_dict(meta["domain"]) if "domain" in meta else None
    sampler = WindowSampler(store, split=cfg.split, n_frames=1, keep=(cfg.keep_min, cfg.keep_max),
                            n_query=cfg.n_query, seed=cfg.seed, stats=stats, domain=domain,
                            shift=cfg.shift / max(mcfg.grid))
    n_max = max(store.n_points(int(i)) for i in sampler.usable)
    check_batch_memory("--batch-size", cfg.batch_size, n_max, min(cfg.n_query or n_max, n_max), 1,
                       store.info.n_channels, store.info.dim)
    replay = replay_sampler(cfg, meta, stats, domain, mcfg.grid)
    meta = {**meta, "stage": "refine", "refine_dataset": {"name": store.info.name, "path": str(cfg.data)},
            "refine_replay": None if replay is None else {"path": str(cfg.replay), "weight": cfg.replay_weight}}
    trainer = Trainer(model, cfg.run, cfg.train_config("refine"), model_prefix=MODEL_KEY, meta=meta,
                      resume=cfg.resume, output=AUTOENCODER)
    n_pts = store.n_points(sampler.usable[0])
    print(f"refining on single frames of {n_pts} points, {cfg.n_query or 'all'} loss points, chunk "
          f"{cfg.chunk_size}; device {trainer.device}" + (f"; resuming at step {trainer.step}" if trainer.step else ""))

    def step_fn(model, batch):
        loss = ae_step(model, batch["frames"], cfg.chunk_size)
        if "replay" not in batch:
            return loss
        lo = ae_step(model, batch["replay"])
        return loss + cfg.replay_weight * lo, {"hi": loss.detach(), "lo": lo.detach()}

    def get_batch(step):
        out = {"frames": sampler.batch(step, cfg.batch_size, trainer.rank)}
        if replay is not None:
            out["replay"] = replay.batch(step, cfg.replay_batch, trainer.rank)
        return out

    try:
        result = trainer.fit(step_fn, get_batch)
    finally:
        store.close()
    print(f"done: step {result['step']}, loss {result['loss']:.4e}, {result['wall_s']:.1f} s -> {trainer.output}")
    return {**result, "model": trainer.output}


def run(args: argparse.Namespace) -> int:
    refine(from_namespace(RefineRun, args))
    return 0

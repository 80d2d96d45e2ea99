"""Stage 2: refine a stage-1 autoencoder on single high-resolution frames.

Single frames (T = 1: thanks to causality no temporal compression is active, so this adapts the
continuous convolutions and the spatial blocks to dense inputs), chunked encode/decode (bounded
memory, gradient checkpointing per chunk) and a random query subset for the loss, so
million-point frames fit. The model keeps its stage-1 normalisation (stats, domain).
Replay: every step also adds the loss of a few low-resolution WINDOWS of the stage-1 data (measured
here: single-frame refinement alone raised the 9-frame window error of the tiny model from 3.6e-3 to
6.1e-3, because the temporal layers drift when they only ever see T = 1; --replay none turns it off).
Resumable: run again with the same --run.

example (measured: 117 s on one shared CPU core, benchmarks/results/autoencoder.md):
    echopv train refine --init runs/ae_tiny/model.safetensors --split train --lr 2e-4 --steps 300 \\
        --data sample_cases/ns2d_vorticity/ns2d_128_superres.h5 --run runs/ae_tiny_refined --threads 1
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..bundle import read_meta
from ..data.normalize import ChannelStats, Domain
from ..data.store import TrajectoryStore
from ..data.windows import WindowSampler
from ..nn.autoencoder import MODEL_KEY, AutoencoderConfig, EchoAutoencoder, load_autoencoder
from .stage_ae import add_common_arguments, ae_step, train_config
from .trainer import CHECKPOINT, Trainer


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, steps=300, lr=2e-4, batch=2)
    p.add_argument("--init", default=None, help="stage-1 model file (not needed when resuming --run)")
    p.add_argument("--replay", default=None,
                   help="low-resolution window dataset mixed into every step so the temporal layers keep their "
                        "stage-1 behaviour (default: the stage-1 dataset named in the model file; 'none' = off)")
    p.add_argument("--replay-weight", type=float, default=1.0)
    p.add_argument("--replay-batch", type=int, default=2)
    p.add_argument("--replay-query", type=int, default=1024, help="loss points per replay window")
    p.set_defaults(n_query=4096, chunk_size=1 << 18)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = Path(args.run)
    ckpt = run_dir / CHECKPOINT
    if ckpt.exists() and not args.no_resume:
        meta = read_meta(ckpt)
        meta.pop("checkpoint", None)
        model = EchoAutoencoder(AutoencoderConfig.from_dict(meta[MODEL_KEY]))
    elif args.init:
        model, meta = load_autoencoder(args.init)
        meta.pop("training", None)
    else:
        raise ValueError(f"no checkpoint in {run_dir} to resume and no --init: pass the stage-1 model file, "
                         "e.g. --init runs/ae/model.safetensors")
    cfg = model.config
    store = TrajectoryStore(args.data)
    if store.info.n_channels != cfg.in_channels or store.info.dim != cfg.dim:
        raise ValueError(f"{args.data} has {store.info.dim}-D data with {store.info.n_channels} channels but the "
                         f"model expects {cfg.dim}-D with {cfg.in_channels}: refine on the same kind of data")
    stats = ChannelStats.from_dict(meta["stats"]) if "stats" in meta else None
    domain = Domain.from_dict(meta["domain"]) if "domain" in meta else None
    sampler = WindowSampler(store, split=args.split, n_frames=1, keep=(args.keep_min, args.keep_max),
                            n_query=args.n_query, seed=args.seed, stats=stats, domain=domain,
                            shift=args.shift / max(cfg.grid))
    replay = None
    replay_path = args.replay or meta.get("dataset", {}).get("path")
    if replay_path and replay_path != "none":
        if not Path(replay_path).exists():
            raise FileNotFoundError(f"replay dataset {replay_path} not found: pass --replay PATH (the stage-1 data) "
                                    "or --replay none")
        replay = WindowSampler(replay_path, split="train", n_frames=int(meta.get("n_frames", 1 + 4 * cfg.time_factor)),
                               frame_stride=int(meta.get("frame_stride", 1)), keep=(args.keep_min, args.keep_max),
                               n_query=args.replay_query, seed=args.seed + 1, stats=stats, domain=domain,
                               shift=args.shift / max(cfg.grid))
    meta = {**meta, "stage": "refine", "refine_dataset": {"name": store.info.name, "path": str(args.data)},
            "refine_replay": None if replay is None else {"path": str(replay_path), "weight": args.replay_weight}}
    trainer = Trainer(model, run_dir, train_config(args, "refine"), model_prefix=MODEL_KEY, meta=meta,
                      resume=not args.no_resume)
    n_pts = store.n_points(sampler.usable[0])
    print(f"refining on single frames of {n_pts} points, {args.n_query or 'all'} loss points, chunk "
          f"{args.chunk_size}; device {trainer.device}" + (f"; resuming at step {trainer.step}" if trainer.step else ""))
    def step_fn(model, batch):
        loss = ae_step(model, batch["frames"], args.chunk_size)
        if "replay" not in batch:
            return loss
        lo = ae_step(model, batch["replay"])
        return loss + args.replay_weight * lo, {"hi": loss.detach(), "lo": lo.detach()}

    def get_batch(step):
        out = {"frames": sampler.batch(step, args.batch_size, trainer.rank)}
        if replay is not None:
            out["replay"] = replay.batch(step, args.replay_batch, trainer.rank)
        return out

    result = trainer.fit(step_fn, get_batch)
    print(f"done: step {result['step']}, loss {result['loss']:.4e}, {result['wall_s']:.1f} s "
          f"-> {run_dir / 'model.safetensors'}")
    store.close()
    return 0

"""Stage 3: train the latent DiT with rectified flow on cached latents, then write the model file.

Reads a latent cache (`echopv cache-latents`), normalises latents per channel (statistics of the
cache, stored in the model file), draws per sample a task mask (forward / inverse /
interpolation / unconditional), a flow time (logit-normal) and noise, and trains with the one
generic Trainer (resumable from --run/checkpoint.safetensors, CUDA + bf16 autocast when present).
At the end the complete model file (autoencoder + DiT + normalisation + domain...) is written to
--out (default RUN/echo_model.safetensors) and opens with `Surrogate.load`.

Example:
  echopv train dit --cache runs/latents.h5 --run runs/dit --steps 2000 --out model.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import flow
from .trainer import add_schedule_arguments, schedule_config


def add_common_arguments(p: argparse.ArgumentParser, steps: int, lr: float) -> None:
    p.add_argument("--cache", required=True, type=Path, help="latent cache from `echopv cache-latents`")
    p.add_argument("--ae", type=Path, default=None, help="autoencoder model file (default: the one the cache names)")
    p.add_argument("--run", required=True, type=Path, help="run directory (checkpoint, progress.json)")
    p.add_argument("--out", type=Path, default=None, help="model file to write (default RUN/echo_model.safetensors)")
    p.add_argument("--preset", default="tiny", help="DiT preset: tiny | small | paper")
    p.add_argument("--patch-space", type=int, default=None, help="override the preset's spatial patch")
    p.add_argument("--known-latent-frames", type=int, default=1,
                   help="latent frames the forecast conditions on (1 = initial-value problem)")
    p.add_argument("--no-params", action="store_true", help="ignore PDE parameters")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=lr)
    add_schedule_arguments(p)
    p.add_argument("--sampler", default="heun", choices=flow.SAMPLERS, help="default sampler stored in the model")
    p.add_argument("--sample-steps", type=int, default=10, help="default sampler steps stored in the model")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, steps=2000, lr=3e-4)
    p.add_argument("--tau", default="logit_normal", choices=("logit_normal", "uniform"), help="flow-time sampling")
    p.add_argument("--p-forward", type=float, default=0.5)
    p.add_argument("--p-inverse", type=float, default=0.15)
    p.add_argument("--p-interp", type=float, default=0.25)
    p.add_argument("--p-uncond", type=float, default=0.1)


def make_batch_fn(latents: torch.Tensor, params: torch.Tensor | None, batch_size: int, seed: int, kind: str,
                  known: int, probs: flow.TaskProbs | None = None, tau_kind: str = "logit_normal", rank: int = 0):
    """get_batch(step): a function of (seed, step, rank) only, so resumed runs see the same data."""
    n, tl = latents.shape[0], latents.shape[2]

    def get_batch(step: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step) * 131 + rank)
        idx = torch.randint(0, n, (batch_size,), generator=g)
        z = latents[idx]
        if kind == "baseline":
            mask = flow.forward_mask(batch_size, tl, known)
        else:
            mask = flow.sample_task_masks(batch_size, tl, g, probs)
        batch = {"z": z, "mask": mask}
        if kind != "baseline":
            batch["tau"] = flow.sample_tau(batch_size, g, tau_kind)
            batch["noise"] = torch.randn(z.shape, generator=g)
        if params is not None:
            batch["params"] = params[idx]
        return batch

    return get_batch


def flow_step(model, batch):
    return flow.flow_loss(model, batch["z"], batch["mask"], batch.get("params"), tau=batch["tau"], noise=batch["noise"])


def regression_step(model, batch):
    return flow.regression_loss(model, batch["z"], batch["mask"], batch.get("params"))


def train_generator(args: argparse.Namespace, kind: str) -> int:
    """Shared by `train dit` (kind="flow") and `train baseline` (kind="baseline")."""
    from ..nn.dit import DiT, DiTConfig, dit_config
    from ..rollout import GEN_KEY, export_bundle
    from .cache_latents import LatentCache
    from .trainer import CHECKPOINT, MODEL, Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    cache = LatentCache(args.cache)
    ae_path = Path(args.ae or cache.attrs["autoencoder"])
    if not ae_path.exists():
        raise FileNotFoundError(f"autoencoder {ae_path} (named by the cache) is missing: pass --ae")
    tl = cache.latent_frames
    known = int(args.known_latent_frames)
    if not 1 <= known < tl:
        raise ValueError(f"--known-latent-frames must be in [1, {tl - 1}] for {tl}-frame latent windows")
    mean, std = cache.channel_stats()
    shape = (1, -1) + (1,) * (cache.latents.dim() - 2)
    latents = ((cache.latents - torch.as_tensor(mean, dtype=torch.float32).reshape(shape))
               / torch.as_tensor(std, dtype=torch.float32).reshape(shape))
    names = [] if args.no_params else list(cache.param_names)
    params = p_mean = p_std = None
    if names:
        raw = cache.params.double()
        p_mean = raw.mean(0).numpy()
        p_std = raw.std(0).numpy() if len(cache) > 1 else np.ones(len(names))
        p_std = np.where(p_std > 1e-12, p_std, 1.0)
        params = ((raw - torch.as_tensor(p_mean)) / torch.as_tensor(p_std)).float()
    run_dir = Path(args.run)
    overrides = {"latent_dim": int(latents.shape[1]), "spatial_dims": latents.dim() - 3, "param_dim": len(names)}
    if args.patch_space:
        overrides["patch_space"] = args.patch_space
    if (run_dir / CHECKPOINT).exists() and not args.no_resume:
        from ..bundle import read_meta

        cfg = DiTConfig.from_dict(read_meta(run_dir / CHECKPOINT)["dit"])
    else:
        cfg = dit_config(args.preset, **overrides)
    model = DiT(cfg)
    meta = {
        "kind": "dit-checkpoint", "dit": cfg.to_dict(), "generator_kind": kind,
        "latent_frames": tl, "known_latent_frames": known, "latent_mean": mean.tolist(),
        "latent_std": std.tolist(), "param_names": names,
        "param_mean": None if p_mean is None else p_mean.tolist(),
        "param_std": None if p_std is None else p_std.tolist(),
        "sampler": args.sampler, "steps": args.sample_steps, "dt": cache.dt,
        "provenance": {"cache": str(args.cache), "dataset": cache.attrs.get("dataset"), "preset": args.preset,
                       "n_windows": len(cache), "stage": "dit" if kind == "flow" else "baseline"},
    }
    tcfg = schedule_config(args, "dit" if kind == "flow" else "baseline", beta2=0.95)
    trainer = Trainer(model, run_dir, tcfg, model_prefix=GEN_KEY, meta=meta, resume=not args.no_resume)
    probs = None
    if kind == "flow":
        probs = flow.TaskProbs(args.p_forward, args.p_inverse, args.p_interp, args.p_uncond)
    get_batch = make_batch_fn(latents, params, args.batch_size, args.seed, kind, known, probs,
                              getattr(args, "tau", "logit_normal"), trainer.rank)
    n_par = sum(p.numel() for p in model.parameters())
    print(f"{'DiT (flow matching)' if kind == 'flow' else 'baseline (regression)'}: {n_par:,} parameters, "
          f"{len(cache)} cached windows of latents {tuple(latents.shape[1:])}, device {trainer.device}"
          + (f"; resuming at step {trainer.step}" if trainer.step else ""))
    result = trainer.fit(flow_step if kind == "flow" else regression_step, get_batch)
    out = Path(args.out or run_dir / "echo_model.safetensors")
    if trainer.is_main:
        export_bundle(ae_path, run_dir / MODEL, out)
    print(f"done: step {result['step']}, loss {result['loss']:.4e}, {result['wall_s']:.1f} s -> {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    return train_generator(args, "flow")

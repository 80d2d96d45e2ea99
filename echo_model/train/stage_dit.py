"""Stage 3: train the latent DiT with rectified flow on cached latents, then write the model file.

Reads a latent cache (`echopv cache-latents`), normalises latents per channel (statistics of the
cache, stored in the model file), draws per sample a task mask (forward / inverse /
interpolation / unconditional), a flow time (logit-normal) and noise, and trains with the one
generic Trainer (resumable from --run/checkpoint.safetensors, CUDA + bf16 autocast when present).
At the end the complete model file (autoencoder + DiT + normalisation + domain...) is written to
--out (default RUN/model.safetensors; the generator alone is RUN/generator.safetensors) and opens
with `Surrogate.load`. Options: `runs.GeneratorRun`; the function: `train_generator(cfg)`.

Example:
  echopv train dit --cache runs/latents.h5 --run runs/dit --steps 2000 --out runs/model.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import flow
from ..errors import EchoUserError
from .layout import CHECKPOINT, GENERATOR, MODEL
from .resume_check import check_preset
from .runs import GeneratorRun, add_arguments_from, apply_threads, from_namespace
from .trainer import Trainer


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, GeneratorRun)


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


def normalised_latents(cache) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The cache's latents z-scored per channel, with the statistics stored in the model file."""
    mean, std = cache.channel_stats()
    shape = (1, -1) + (1,) * (cache.latents.dim() - 2)
    latents = ((cache.latents - torch.as_tensor(mean, dtype=torch.float32).reshape(shape))
               / torch.as_tensor(std, dtype=torch.float32).reshape(shape))
    return latents, mean, std


def normalised_params(cache, use: bool) -> tuple[list[str], torch.Tensor | None, np.ndarray | None, np.ndarray | None]:
    """PDE parameters z-scored over the cached windows (names, values, mean, std)."""
    names = list(cache.param_names) if use else []
    if not names:
        return [], None, None, None
    raw = cache.params.double()
    p_mean = raw.mean(0).numpy()
    p_std = raw.std(0).numpy() if len(cache) > 1 else np.ones(len(names))
    p_std = np.where(p_std > 1e-12, p_std, 1.0)
    return names, ((raw - torch.as_tensor(p_mean)) / torch.as_tensor(p_std)).float(), p_mean, p_std


def build_generator(cfg: GeneratorRun, latents: torch.Tensor, n_params: int):
    """The DiT: the checkpoint's config when resuming, else the preset adapted to the latents."""
    from ..bundle import read_meta
    from ..nn.dit import DiT, DiTConfig, dit_config

    ckpt = Path(cfg.run) / CHECKPOINT
    if ckpt.exists() and cfg.resume:
        check_preset(ckpt, cfg.preset, cfg.run)
        return DiT(DiTConfig.from_dict(read_meta(ckpt)["dit"]))
    overrides = {"latent_dim": int(latents.shape[1]), "spatial_dims": latents.dim() - 3, "param_dim": n_params}
    if cfg.patch_space:
        overrides["patch_space"] = cfg.patch_space
    return DiT(dit_config(cfg.preset, **overrides))


def train_generator(cfg: GeneratorRun) -> dict[str, Any]:
    """Stage 3 (`kind` "flow": ECHO's DiT; "baseline": deterministic regression). Writes the complete model."""
    from ..model_file import GEN_KEY, export_bundle
    from .cache_latents import LatentCache, check_cache_autoencoder

    apply_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    cache = LatentCache(cfg.cache)
    ae_path = Path(cfg.ae or cache.attrs["autoencoder"])
    if not ae_path.exists():
        raise EchoUserError(f"autoencoder {ae_path} (named by the cache) is missing: pass --ae")
    if not check_cache_autoencoder(cfg.cache, ae_path):
        print(f"warning: the latent cache {cfg.cache} does not record which autoencoder encoded it (written by an "
              f"older echo-paraview); make sure it was {ae_path}, or encode it again with `echopv cache-latents`",
              flush=True)
    tl = cache.latent_frames
    known = int(cfg.known_latent_frames)
    if not 1 <= known < tl:
        raise EchoUserError(f"--known-latent-frames must be in [1, {tl - 1}] for {tl}-frame latent windows")
    latents, mean, std = normalised_latents(cache)
    names, params, p_mean, p_std = normalised_params(cache, cfg.params)
    model = build_generator(cfg, latents, len(names))
    meta = {
        "kind": "dit-checkpoint", "dit": model.cfg.to_dict(), "generator_kind": cfg.kind,
        "latent_frames": tl, "known_latent_frames": known, "latent_mean": mean.tolist(),
        "latent_std": std.tolist(), "param_names": names,
        "param_mean": None if p_mean is None else p_mean.tolist(),
        "param_std": None if p_std is None else p_std.tolist(),
        "param_min": cache.params.min(0).values.tolist() if names else None,  # the training range, for fit checks
        "param_max": cache.params.max(0).values.tolist() if names else None,
        "sampler": cfg.sampler, "steps": cfg.sample_steps, "dt": cache.dt,
        "train_horizon_frames": cache.horizon_frames,
        "provenance": {"cache": str(cfg.cache), "dataset": cache.attrs.get("dataset"), "preset": cfg.preset,
                       "n_windows": len(cache), "stage": "dit" if cfg.kind == "flow" else "baseline"},
    }
    tcfg = cfg.train_config("dit" if cfg.kind == "flow" else "baseline", beta2=0.95)
    trainer = Trainer(model, cfg.run, tcfg, model_prefix=GEN_KEY, meta=meta, resume=cfg.resume, output=GENERATOR)
    probs = flow.TaskProbs(cfg.p_forward, cfg.p_inverse, cfg.p_interp, cfg.p_uncond) if cfg.kind == "flow" else None
    get_batch = make_batch_fn(latents, params, cfg.batch_size, cfg.seed, cfg.kind, known, probs, cfg.tau,
                              trainer.rank)
    n_par = sum(p.numel() for p in model.parameters())
    print(f"{'DiT (flow matching)' if cfg.kind == 'flow' else 'baseline (regression)'}: {n_par:,} parameters, "
          f"{len(cache)} cached windows of latents {tuple(latents.shape[1:])}, device {trainer.device}"
          + (f"; resuming at step {trainer.step}" if trainer.step else ""))
    result = trainer.fit(flow_step if cfg.kind == "flow" else regression_step, get_batch)
    out = Path(cfg.out or Path(cfg.run) / MODEL)
    if trainer.is_main:
        export_bundle(ae_path, trainer.output, out)
    print(f"done: step {result['step']}, loss {result['loss']:.4e}, {result['wall_s']:.1f} s -> {out}")
    return {**result, "model": out}


def run(args: argparse.Namespace) -> int:
    train_generator(from_namespace(GeneratorRun, args, kind="flow"))
    return 0

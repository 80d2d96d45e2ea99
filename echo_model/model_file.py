"""The ECHO model file: its header (`ModelMeta`, typed, with every default in one place) and its assembly.

A model file is one safetensors file: the autoencoder's tensors under "autoencoder.*", the generator's
under "generator.*", and a JSON header (`surrogate_meta` writes it, `ModelMeta.from_dict` reads it;
`rollout.Surrogate` runs it). `export_bundle` assembles one from the files the training stages write.
Never unpickled, never a path opened from inside it.

Example
-------
>>> from echo_model.data.normalize import ChannelStats, Domain
>>> from echo_model.nn.dit import dit_config
>>> meta = surrogate_meta(ae_config={}, dit_cfg=dit_config("tiny", latent_dim=8, spatial_dims=2), field_layout=[("p", 1)],
...                       dim=2, stats=ChannelStats([0.0], [1.0]), domain=Domain([0, 0], [1, 1]), dt=0.1,
...                       latent_frames=5, known_latent_frames=1, time_factor=2, latent_mean=[0.0] * 8,
...                       latent_std=[1.0] * 8, param_names=["nu"])
>>> m = ModelMeta.from_dict(meta, latent_dim=8, ae_time_factor=2)
>>> m.dt, m.field_layout, m.param_names, m.sampler, m.steps
(0.1, [('p', 1)], ['nu'], 'heun', 10)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .bundle import load_tensors, prefixed, save_tensors, unprefixed
from .data.normalize import ChannelStats, Domain
from .errors import EchoUserError
from .nn.dit import DiT, DiTConfig
from .samplers import DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS

KIND = "echo-surrogate"
AE_KEY = "autoencoder"  # tensor prefix and header key, as in nn.autoencoder
GEN_KEY = "generator"


# The autoencoder adapter: the only place that knows how the AE is built from its header.
def build_autoencoder(cfg: dict) -> torch.nn.Module:
    from .nn.autoencoder import AutoencoderConfig, EchoAutoencoder

    return EchoAutoencoder(AutoencoderConfig.from_dict(cfg))


def ae_time_factor(ae: torch.nn.Module) -> int:
    return int(ae.time_factor)


@dataclass(frozen=True)
class ModelMeta:
    """A model file's header, typed; an older file may lack a key, and its default is here only.

    Parameters
    ----------
    field_layout : list of (name, channels)
        The fields the model predicts, in channel order.
    dim : int
        2 or 3.
    stats, domain : ChannelStats, Domain
        The training data's per-channel normalisation and box (with its periodic axes).
    dt : float
        Time between two predicted frames.
    latent_frames, known_latent_frames, time_factor : int
        The generator's window in latent frames, how many of them condition it, frames per latent frame.
    generator_kind : str
        "flow" (the DiT, flow matching) or "baseline" (deterministic).
    latent_mean, latent_std : numpy arrays
        The latents' normalisation (zeros / ones when the file has none).
    param_names, param_mean, param_std
        The PDE parameters the model is conditioned on and their training mean and std.
    sampler, steps : str, int
        The sampler the model runs by default and its steps per segment.
    """

    field_layout: list[tuple[str, int]]
    dim: int
    stats: ChannelStats
    domain: Domain
    dt: float
    latent_frames: int
    known_latent_frames: int
    time_factor: int
    generator_kind: str
    latent_mean: np.ndarray
    latent_std: np.ndarray
    param_names: list[str]
    param_mean: np.ndarray
    param_std: np.ndarray
    sampler: str
    steps: int

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any], *, latent_dim: int, ae_time_factor: int) -> "ModelMeta":
        """Read a header; `latent_dim` and `ae_time_factor` come from the autoencoder it describes."""
        names = [str(n) for n in meta.get("param_names", [])]
        out = cls(
            field_layout=[(str(n), int(c)) for n, c in meta["field_layout"]],
            dim=int(meta["dim"]),
            stats=ChannelStats.from_dict(meta["stats"]),
            domain=Domain.from_dict(meta["domain"]),
            dt=float(meta.get("dt", 1.0)),
            latent_frames=int(meta["latent_frames"]),
            known_latent_frames=int(meta.get("known_latent_frames", 1)),
            time_factor=int(meta.get("time_factor", ae_time_factor)),
            generator_kind=str(meta.get("generator_kind", "flow")),
            latent_mean=np.asarray(meta.get("latent_mean", [0.0] * latent_dim), dtype=np.float32),
            latent_std=np.asarray(meta.get("latent_std", [1.0] * latent_dim), dtype=np.float32),
            param_names=names,
            param_mean=np.asarray(meta.get("param_mean", [0.0] * len(names)), dtype=np.float64),
            param_std=np.asarray(meta.get("param_std", [1.0] * len(names)), dtype=np.float64),
            sampler=str(meta.get("sampler", DEFAULT_SAMPLER)),
            steps=int(meta.get("steps", DEFAULT_SAMPLER_STEPS)),
        )
        if not 1 <= out.known_latent_frames < out.latent_frames:
            raise ValueError(
                f"model file: known_latent_frames={out.known_latent_frames} must be in [1, latent_frames="
                f"{out.latent_frames})"
            )
        return out


def surrogate_meta(
    *,
    ae_config: dict,
    dit_cfg: DiTConfig,
    field_layout: Sequence[tuple[str, int]],
    dim: int,
    stats: ChannelStats,
    domain: Domain,
    dt: float,
    latent_frames: int,
    known_latent_frames: int,
    time_factor: int,
    latent_mean: Sequence[float],
    latent_std: Sequence[float],
    generator_kind: str = "flow",
    param_names: Sequence[str] = (),
    param_mean: Sequence[float] | None = None,
    param_std: Sequence[float] | None = None,
    param_min: Sequence[float] | None = None,
    param_max: Sequence[float] | None = None,
    sampler: str = DEFAULT_SAMPLER,
    steps: int = DEFAULT_SAMPLER_STEPS,
    provenance: dict | None = None,
    train_horizon_frames: int | None = None,
    task_probs: dict | None = None,
) -> dict:
    """The header of a model file (JSON-safe): what `ModelMeta.from_dict` reads back."""
    return {
        "kind": KIND,
        "generator_kind": generator_kind,
        AE_KEY: ae_config,
        "dit": dit_cfg.to_dict(),
        "latent_mean": [float(x) for x in latent_mean],
        "latent_std": [float(x) for x in latent_std],
        "field_layout": [[n, int(c)] for n, c in field_layout],
        "dim": int(dim),
        "stats": stats.to_dict(),
        "domain": domain.to_dict(),
        "dt": float(dt),
        "latent_frames": int(latent_frames),
        "known_latent_frames": int(known_latent_frames),
        "time_factor": int(time_factor),
        "param_names": list(param_names),
        "param_mean": [float(x) for x in param_mean] if param_mean is not None else [0.0] * len(param_names),
        "param_std": [float(x) for x in param_std] if param_std is not None else [1.0] * len(param_names),
        **({"param_min": [float(x) for x in param_min], "param_max": [float(x) for x in param_max]}
           if param_min is not None and param_max is not None else {}),
        "sampler": sampler,
        "steps": int(steps),
        "provenance": provenance or {},
        **({"train_horizon_frames": int(train_horizon_frames)} if train_horizon_frames is not None else {}),
        # the training mask probabilities (flow.TaskProbs.to_dict()): echo_model.tasks refuses the others
        **({"task_probs": {k: float(v) for k, v in task_probs.items()}} if task_probs is not None else {}),
    }


def export_bundle(
    ae_path: str | os.PathLike,
    generator_ckpt: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    sampler: str | None = None,
    steps: int | None = None,
) -> Path:
    """Assemble the model file from an autoencoder model file and a DiT/baseline checkpoint.

    The generator checkpoint's header carries "dit" (DiTConfig), "latent_frames",
    "known_latent_frames", "generator_kind", "latent_mean/std", param names/stats and provenance;
    its tensors are "generator.*". The autoencoder file is what `echopv train ae|refine` write.
    """
    from .nn.autoencoder import load_autoencoder

    ae, ae_meta = load_autoencoder(ae_path)
    g_tensors, g_meta = load_tensors(generator_ckpt)
    gen_state = unprefixed(g_tensors, GEN_KEY)
    if not gen_state or "dit" not in g_meta:
        raise EchoUserError(f"{generator_ckpt} is not a DiT checkpoint (no 'generator.*' tensors / 'dit' header): "
                            "pass the file `echopv train dit` wrote")
    info = ae_file_info(ae_meta, ae_path)
    dcfg = DiTConfig.from_dict(g_meta["dit"])
    gen = DiT(dcfg)
    gen.load_state_dict(gen_state)  # validates before writing
    meta = surrogate_meta(
        ae_config=ae_meta[AE_KEY],
        dit_cfg=dcfg,
        field_layout=info["field_layout"],
        dim=info["dim"],
        stats=info["stats"],
        domain=info["domain"],
        dt=float(g_meta.get("dt") or info["dt"]),  # the cache knows the frame stride of the windows
        latent_frames=int(g_meta["latent_frames"]),
        known_latent_frames=int(g_meta.get("known_latent_frames", 1)),
        time_factor=ae_time_factor(ae),
        latent_mean=g_meta["latent_mean"],
        latent_std=g_meta["latent_std"],
        generator_kind=str(g_meta.get("generator_kind", "flow")),
        param_names=g_meta.get("param_names", []),
        param_mean=g_meta.get("param_mean"),
        param_std=g_meta.get("param_std"),
        param_min=g_meta.get("param_min"),
        param_max=g_meta.get("param_max"),
        sampler=sampler or g_meta.get("sampler", DEFAULT_SAMPLER),
        steps=steps or int(g_meta.get("steps", DEFAULT_SAMPLER_STEPS)),
        train_horizon_frames=g_meta.get("train_horizon_frames"),
        task_probs=g_meta.get("task_probs"),
        provenance={"autoencoder": {"path": str(ae_path), **dict(ae_meta.get("provenance", {}))},
                    "generator": {"path": str(generator_ckpt), **dict(g_meta.get("provenance", {}))}},
    )
    tensors = {**prefixed(ae.state_dict(), AE_KEY), **prefixed(gen.state_dict(), GEN_KEY)}
    return save_tensors(out_path, tensors, meta)


def ae_file_info(ae_meta: dict, path: Any = "") -> dict:
    """What an autoencoder model file's header tells us: layout, normalisation, domain, dt."""
    missing = [k for k in ("field_layout", "stats", "domain") if k not in ae_meta]
    if missing:
        raise EchoUserError(f"{path}: autoencoder file lacks {missing} in its header; re-run `echopv train ae`")
    dom = Domain.from_dict(ae_meta["domain"])
    return {
        "field_layout": [(str(n), int(c)) for n, c in ae_meta["field_layout"]],
        "dim": int(ae_meta.get("dim", dom.dim)),
        "stats": ChannelStats.from_dict(ae_meta["stats"]),
        "domain": dom,
        "dt": float(ae_meta.get("dt", 1.0)),
    }

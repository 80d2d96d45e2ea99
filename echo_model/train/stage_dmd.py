"""`echopv train dmd`: a DMD model (echo_model.dmd) fitted on a dataset's training trajectories.

Seconds of CPU on one run of ~10k cells: the rank, the gain of the unresolved part and whether
to subtract the mean field are chosen on the trailing `--holdout` of every training trajectory,
the model is refitted on all of it, and the skill report (held-out frames: model, persistence,
mean field, per field) goes into the model header and is printed.

Example:
  echopv train dmd --data runs/own/train.h5 --run runs/own/dmd
  echopv rollout runs/own/dmd/model.safetensors --input ... (or EchoRollout's Checkpoint)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..data.store import TrajectoryStore
from ..dmd import DMDConfig, DMDSurrogate, choose, fit, split_holdout
from ..errors import EchoUserError
from ..skill import SkillReport, skill_report
from ..state_check import training_reference
from .layout import MODEL
from .runs import DMDRun, add_arguments_from, from_namespace


def _training_frames(store: TrajectoryStore, split: str, path: str) -> tuple[list[np.ndarray], np.ndarray, float]:
    """The split's trajectories (frames (T, N, C) each), their shared points and dt."""
    idx = np.arange(len(store)) if split == "all" else store.split_indices(split)
    if len(idx) == 0:
        raise EchoUserError(f"{path} has no trajectory in its {split!r} split: fit on another split (--split) or "
                            "rewrite the dataset with trajectories in it")
    points = store.points(int(idx[0]))
    frames = []
    for i in idx:
        if store.n_points(int(i)) != points.shape[0] or not np.allclose(store.points(int(i)), points):
            raise EchoUserError(f"{path}: trajectory {int(i)} is on another mesh than trajectory {int(idx[0])}; a DMD "
                                "model lives on one mesh: fit one per mesh, or train an ECHO model (mesh-free)")
        frames.append(store.read_fields(int(i)))
    times = store.times(int(idx[0]))
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    return frames, points, dt


def holdout_skill(sur: DMDSurrogate, frames: list[np.ndarray], cfg: DMDConfig) -> SkillReport:
    """Skill of the chosen recipe on the held-out tail: fitted on the frames before it, forecast from
    the last of them (the same operator the rank was chosen with)."""
    stats = sur.stats
    flat = [stats.normalize(f).reshape(f.shape[0], -1).astype(np.float64) for f in frames]
    fit_part, held = split_holdout(flat, cfg.holdout_fraction)
    choice, _ = choose(flat, sur.field_layout, DMDConfig(rank=sur.op.rank, holdout_fraction=cfg.holdout_fraction,
                                                          stabilise=cfg.stabilise))
    op = fit(fit_part, choice, cfg.stabilise)
    f0, h0 = fit_part[0], held[0]
    shape = (h0.shape[0], -1, sur.n_channels)
    pred = stats.denormalize(op.forecast(f0[-1], h0.shape[0]).reshape(shape))
    truth = stats.denormalize(h0.reshape(shape))
    last = stats.denormalize(f0[-1].reshape(shape[1:]))
    mean = stats.denormalize(f0.reshape((f0.shape[0],) + shape[1:]).mean(axis=0))
    n_fit = f0.shape[0]
    return skill_report(pred, truth, last_known=last, mean_field=mean, field_layout=sur.field_layout, dt=sur.dt,
                        model_kind="dmd", source=f"held out: frames {n_fit}-{n_fit + h0.shape[0] - 1} of the first training "
                        f"trajectory, fitted on frames 0-{n_fit - 1}")


def train_dmd(cfg: DMDRun) -> Path:
    """Fit, score on held-out frames, write RUN/model.safetensors; returns its path."""
    dcfg = DMDConfig(rank=cfg.rank, holdout_fraction=cfg.holdout, stabilise=cfg.stabilise)
    with TrajectoryStore(cfg.data) as store:
        frames, points, dt = _training_frames(store, cfg.split, cfg.data)
        layout, stats = store.info.field_layout, store.info.stats
    sur = DMDSurrogate.fit_trajectories(frames, points, layout, dt, cfg=dcfg, stats=stats,
                                        provenance={"data": Path(cfg.data).name, "split": cfg.split})
    skill = holdout_skill(sur, frames, dcfg)
    sur.meta["skill"] = skill.to_dict()
    sur.meta["state_reference"] = training_reference(sur, points, frames[0])
    out = sur.save(Path(cfg.run) / MODEL)
    print(f"DMD: rank {sur.op.rank}, unresolved-part gain {sur.meta['residual_gain']:g}, mean field "
          f"{'subtracted' if sur.meta['center'] else 'kept'} (chosen on held-out frames); fit {sur.meta['fit_cpu_s']} CPU-s")
    print("\n".join(skill.lines()))
    print(f"wrote {out}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, DMDRun)


def run(args: argparse.Namespace) -> int:
    train_dmd(from_namespace(DMDRun, args))
    return 0

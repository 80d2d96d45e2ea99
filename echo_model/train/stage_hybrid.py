"""`echopv train hybrid`: DMD for the coherent part of a run, ECHO for what DMD gets wrong
(echo_model.hybrid). Stages, each skipped when its output is already there:

    RUN/dmd/model.safetensors    `echopv train dmd` on the dataset
    RUN/residual.h5              one residual window per window start of every training trajectory
    RUN/echo/model.safetensors   `echopv train all` on the residual windows
    RUN/model.safetensors        both in one file (kind "echo-hybrid"), with its skill report

Example:
  echopv train hybrid --data runs/own/train.h5 --run runs/own/hybrid --ae-steps 400 --dit-steps 3000
"""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..data.store import TrajectoryStore, write_dataset
from .runs import DMDRun, HybridRun, PipelineRun, add_arguments_from, from_namespace


def _residual_dataset(cfg: HybridRun, dmd, frames: int) -> Path:
    from ..hybrid import residual_windows

    out = Path(cfg.run) / "residual.h5"
    if out.exists() and out.stat().st_mtime >= Path(cfg.data).stat().st_mtime:
        return out
    with TrajectoryStore(cfg.data) as store:
        trajs = [store[int(i)] for i in store.split_indices("train")]
        domain = store.info.domain
    windows = [w for t in trajs for w in residual_windows(dmd, t, frames, cfg.window_stride)]
    write_dataset(out, windows, name=f"{Path(cfg.data).stem}-residual", domain=domain,
                  split={"train": list(range(len(windows))), "val": [], "test": []},
                  description=f"residuals of the DMD model {Path(cfg.run) / 'dmd'} on {Path(cfg.data).name}")
    print(f"wrote {out}: {len(windows)} residual windows of {frames} frames")
    return out


def train_hybrid(cfg: HybridRun) -> Path:
    """Every stage of `cfg` (see the module docstring); returns RUN/model.safetensors."""
    from ..dmd import DMDSurrogate
    from ..hybrid import HybridSurrogate
    from ..rollout import Surrogate
    from .held_out import report_skill
    from .pipeline import check_dataset, pick_frames, train_all
    from .stage_dmd import train_dmd

    run = Path(cfg.run)
    dmd_file = run / "dmd" / "model.safetensors"
    if not dmd_file.exists():
        train_dmd(DMDRun(data=cfg.data, run=str(run / "dmd"), rank=cfg.rank, holdout=cfg.holdout))
    dmd = DMDSurrogate.load(dmd_file)
    frames = pick_frames(cfg.preset, check_dataset(cfg.data), None)
    residual = _residual_dataset(cfg, dmd, frames)
    echo_file = train_all(PipelineRun(data=str(residual), run=str(run / "echo"), preset=cfg.preset,
                                      ae_steps=cfg.ae_steps, refine_steps=cfg.refine_steps, dit_steps=cfg.dit_steps,
                                      budget_minutes=cfg.budget_minutes,
                                      frames=frames, device=cfg.device, seed=cfg.seed, threads=cfg.threads,
                                      progress=cfg.progress))
    echo = Surrogate.load(echo_file, device="cpu", cache=False)
    meta = {k: v for k, v in echo.meta.items() if k not in ("skill", "state_reference")}
    meta["provenance"] = {**meta.get("provenance", {}), "hybrid": asdict(cfg)}
    out = HybridSurrogate(dmd, echo, meta).save(run / "model.safetensors")
    report_skill(out, cfg.data)
    print(f"model: {out}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, HybridRun)


def run(args: argparse.Namespace) -> int:
    train_hybrid(from_namespace(HybridRun, args))
    return 0

"""`echopv train hybrid`: DMD for the coherent part of a run, ECHO for what DMD gets wrong
(echo_model.hybrid). Stages, each skipped when its output is already there:

    RUN/dmd/model.safetensors    `echopv train dmd` on the dataset
    RUN/residual.h5              one residual window per window start of every training trajectory,
                                 before its held-out tail (the last --holdout of its frames)
    RUN/echo/model.safetensors   `echopv train all` on the residual windows
    RUN/model.safetensors        both in one file (kind "echo-hybrid"), with its skill report on the
                                 held-out tail (DMD refitted on the frames before it)

Example:
  echopv train hybrid --data runs/own/train.h5 --run runs/own/hybrid --ae-steps 400 --dit-steps 3000
"""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..data.store import TrajectoryStore, write_dataset
from ..errors import EchoUserError
from .layout import DMD_DIR, ECHO_DIR, MODEL, RESIDUALS
from .runs import DMDRun, HybridRun, PipelineRun, add_arguments_from, from_namespace


def _held_frames(n_frames: int, holdout: float) -> int:
    return max(1, int(round(holdout * n_frames)))


def _residual_dataset(cfg: HybridRun, dmd, frames: int) -> Path:
    """Residual windows of every training trajectory, from the frames before its held-out tail only."""
    from ..hybrid import residual_windows

    out = Path(cfg.run) / RESIDUALS
    if out.exists() and out.stat().st_mtime >= Path(cfg.data).stat().st_mtime:
        return out
    with TrajectoryStore(cfg.data) as store:
        trajs = [store[int(i)] for i in store.split_indices("train")]
        domain = store.info.domain
    fitted = [t.frames(slice(0, t.n_frames - _held_frames(t.n_frames, cfg.holdout))) for t in trajs]
    windows = [w for t in fitted for w in residual_windows(dmd, t, frames, cfg.window_stride)]
    if not windows:
        raise EchoUserError(f"{cfg.data}: no residual window of {frames} frames fits before the held-out tail; "
                            "import more time steps or lower --holdout")
    write_dataset(out, windows, name=f"{Path(cfg.data).stem}-residual", domain=domain,
                  split={"train": list(range(len(windows))), "val": [], "test": []},
                  description=f"residuals of the DMD model {Path(cfg.run) / 'dmd'} on {Path(cfg.data).name}")
    print(f"wrote {out}: {len(windows)} residual windows of {frames} frames")
    return out


def held_out_skill(cfg: HybridRun, dmd, echo):
    """The hybrid's skill on the first training trajectory's held-out tail: its DMD part refitted on the
    frames before the tail, its ECHO part trained on windows before it, forecast from the tail's eve."""
    from ..dmd import DMDConfig, DMDSurrogate
    from ..hybrid import HybridSurrogate
    from ..skill import skill_report

    with TrajectoryStore(cfg.data) as store:
        traj = store[int(store.split_indices("train")[0])]
    n_fit = traj.n_frames - _held_frames(traj.n_frames, cfg.holdout)
    fit_part = traj.fields[:n_fit]
    dmd_fit = DMDSurrogate.fit_trajectories([fit_part], traj.points, traj.field_layout, dmd.dt, stats=dmd.stats,
                                            cfg=DMDConfig(rank=dmd.op.rank, holdout_fraction=cfg.holdout))
    res = HybridSurrogate(dmd_fit, echo, {}).rollout(traj.points, fit_part[-1:], traj.n_frames - n_fit,
                                                     n_samples=2, keep_samples=False)
    return skill_report(res.mean, traj.fields[n_fit:], last_known=fit_part[-1], mean_field=fit_part.mean(axis=0),
                        field_layout=traj.field_layout, dt=dmd.dt, model_kind="hybrid",
                        source=f"held out: frames {n_fit}-{traj.n_frames - 1} of the first training trajectory "
                        f"(DMD refitted and ECHO trained on the frames before them; 2-member mean)")


def train_hybrid(cfg: HybridRun) -> Path:
    """Every stage of `cfg` (see the module docstring); returns RUN/model.safetensors."""
    from ..dmd import DMDSurrogate
    from ..hybrid import HybridSurrogate
    from ..rollout import Surrogate
    from .held_out import state_reference
    from .pipeline import check_dataset, pick_frames, train_all
    from .stage_dmd import train_dmd

    run = Path(cfg.run)
    dmd_file = run / DMD_DIR / MODEL
    if not dmd_file.exists():
        train_dmd(DMDRun(data=cfg.data, run=str(run / DMD_DIR), rank=cfg.rank, holdout=cfg.holdout))
    dmd = DMDSurrogate.load(dmd_file)
    frames = pick_frames(cfg.preset, check_dataset(cfg.data), None)
    residual = _residual_dataset(cfg, dmd, frames)
    echo_file = train_all(PipelineRun(data=str(residual), run=str(run / ECHO_DIR), preset=cfg.preset,
                                      ae_steps=cfg.ae_steps, refine_steps=cfg.refine_steps, dit_steps=cfg.dit_steps,
                                      budget_minutes=cfg.budget_minutes,
                                      frames=frames, device=cfg.device, seed=cfg.seed, threads=cfg.threads,
                                      progress=cfg.progress))
    echo = Surrogate.load(echo_file, device="cpu", cache=False)
    meta = {k: v for k, v in echo.meta.items() if k not in ("skill", "state_reference")}
    meta["provenance"] = {**meta.get("provenance", {}), "hybrid": asdict(cfg)}
    skill = held_out_skill(cfg, dmd, echo)
    hybrid = HybridSurrogate(dmd, echo, {**meta, "skill": skill.to_dict()})
    hybrid.meta["state_reference"] = state_reference(hybrid, cfg.data)
    out = hybrid.save(run / MODEL)
    print("\n".join(skill.lines()))
    print(f"model: {out}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, HybridRun)


def run(args: argparse.Namespace) -> int:
    train_hybrid(from_namespace(HybridRun, args))
    return 0

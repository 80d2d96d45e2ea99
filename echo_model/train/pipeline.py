"""`echopv train all`: every training stage in one process, from a dataset to a complete model file.

    RUN/ae/             stage 1 (train ae)        progress.json, checkpoint, autoencoder.safetensors
    RUN/refine/         stage 2 (train refine)    on single frames of the same dataset (--refine-steps 0 skips it)
    RUN/latents.h5      cache-latents             with the last autoencoder
    RUN/dit/            stage 3 (train dit)       progress.json, checkpoint
    RUN/model.safetensors                         the complete model (Surrogate.load, EchoRollout)
    RUN/pipeline.json   {stage, stage_index, n_stages, state: running|done|failed, error, model,
                         progress: the current stage's progress.json (null for cache-latents), stages}

Each stage is its stage function on its dataclass (runs.py: AutoencoderRun, RefineRun,
CacheLatentsRun, GeneratorRun), built from one PipelineRun; the log shows the equivalent command.
File names: layout.py. Resumable: run again with the same --run and finished stages are skipped,
an interrupted one continues from its checkpoint. When an earlier stage (or the dataset file) is
newer than what a later stage was built from, the later stage restarts from scratch (stale state).

example (the tiny preset on one shared core; see benchmarks/results/forecast.md for real step counts):
    echopv train all --data sample_cases/ns2d_vorticity/ns2d_64.h5 --run runs/all --preset tiny \\
        --ae-steps 1500 --refine-steps 100 --dit-steps 3000 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import EchoUserError
from ..stale_temps import temp_path
from .lock import RunLock
from .layout import (AE_DIR, AUTOENCODER, BUDGET, CHECKPOINT, DIT_DIR, LATENTS, MODEL, PIPELINE_CONFIG,
                     PIPELINE_STATUS, PROGRESS, REFINE_DIR, read_progress, read_status, write_json_atomic)
from .resume_check import check_pipeline_preset
from .runs import (MIN_FRAMES, AutoencoderRun, CacheLatentsRun, GeneratorRun, PipelineRun, RefineRun,
                   add_arguments_from, from_json, from_namespace, to_argv)



@dataclass
class Stage:
    name: str
    command: str  # the equivalent `echopv` command, for the log
    run: Callable[[Any], Any]  # the stage function, called with `config`
    config: Any  # the stage's dataclass (runs.py)
    output: Path  # what the stage produces (its freshness decides whether later stages rerun)
    run_dir: Path | None  # where its progress.json lives (None: no trainer)
    steps: int | None = None

    def command_line(self) -> str:
        return f"echopv {self.command} " + " ".join(to_argv(self.config))


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, PipelineRun, optional=("data", "run"))
    p.add_argument("--config", default=None,
                   help=f"read all options from a {PIPELINE_CONFIG} written by ParaView's EchoTrain "
                        "(the other options are then ignored)")


# ------------------------------------------------------------------------------------------
# status file
# ------------------------------------------------------------------------------------------
def write_status(run_dir: Path, **fields) -> dict:
    status = {**(read_status(run_dir) or {}), **fields, "time": time.time()}
    write_json_atomic(run_dir / PIPELINE_STATUS, status)
    return status


# ------------------------------------------------------------------------------------------
# checks and plan
# ------------------------------------------------------------------------------------------
def check_dataset(path: str | os.PathLike) -> int:
    """Open the dataset, check it can train a model; return the shortest training trajectory's frame count."""
    from ..data.store import TrajectoryStore

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset at {path}: create one with `echopv import` / `echopv generate`, "
                                "or let the ParaView EchoTrain filter export its input")
    try:
        store = TrajectoryStore(path)
    except (OSError, KeyError) as exc:
        raise EchoUserError(f"{path} is not a readable ECHO dataset ({exc}); create one with `echopv import`") from exc
    with store:
        store.require_finite()
        train = store.split_indices("train")
        if len(train) == 0:
            raise EchoUserError(f"{path} has no training trajectory; rewrite it with a 'train' split")
        shortest = min(store.n_frames(int(i)) for i in train)
    if shortest < MIN_FRAMES:
        raise EchoUserError(f"{path}: the shortest training trajectory has {shortest} frame(s); training needs at "
                         f"least {MIN_FRAMES} time steps per trajectory (export more time steps)")
    return shortest


def pick_frames(preset: str, shortest: int, requested: int | None) -> int:
    """The AE window length: as asked, else the preset's default shortened to 1 + 2k <= shortest."""
    from ..presets import DEFAULT_FRAMES

    if requested:
        if requested > shortest:
            raise EchoUserError(f"--frames {requested} is longer than the shortest training trajectory ({shortest} "
                             "frames); pass a smaller --frames")
        return requested
    from ..presets import AE_PRESETS

    f = AE_PRESETS[preset].time_factor if preset in AE_PRESETS else 2
    frames = 1 + f * ((min(DEFAULT_FRAMES.get(preset, 1 + 4 * f), shortest) - 1) // f)  # windows are 1 + f k
    if frames < 1 + f:
        raise EchoUserError(f"the {preset!r} preset needs windows of 1 + {f} k >= {1 + f} frames but the shortest "
                         f"training trajectory has {shortest}; export more time steps or use the tiny preset")
    return frames


def plan(cfg: PipelineRun, frames: int) -> list[Stage]:
    """The stages of `cfg`, each a dataclass for its stage function."""
    from .cache_latents import cache_latents_run
    from .stage_ae import train_autoencoder
    from .stage_dit import train_generator
    from .stage_refine import refine

    run = Path(cfg.run)
    trainer = dict(device=cfg.device, threads=cfg.threads, seed=cfg.seed, ckpt_every=cfg.ckpt_every,
                   progress=cfg.progress)
    ae = AutoencoderRun(data=cfg.data, run=str(run / AE_DIR), preset=cfg.preset, steps=cfg.ae_steps,
                        batch_size=cfg.ae_batch_size, n_query=cfg.n_query, frames=frames, grid=cfg.grid,
                        latent_dim=cfg.latent_dim, **trainer)
    stages = [Stage("ae", "train ae", train_autoencoder, ae, run / AE_DIR / AUTOENCODER, run / AE_DIR, cfg.ae_steps)]
    ae_model = run / AE_DIR / AUTOENCODER
    if cfg.refine_steps > 0:
        ref = RefineRun(init=str(ae_model), data=cfg.data, replay=cfg.data, run=str(run / REFINE_DIR),
                        steps=cfg.refine_steps, batch_size=cfg.ae_batch_size, n_query=max(cfg.n_query, 2048),
                        **trainer)
        stages.append(Stage("refine", "train refine", refine, ref, run / REFINE_DIR / AUTOENCODER, run / REFINE_DIR,
                            cfg.refine_steps))
        ae_model = run / REFINE_DIR / AUTOENCODER
    cache = run / LATENTS
    lat = CacheLatentsRun(ae=str(ae_model), data=cfg.data, out=str(cache), device=cfg.device, threads=cfg.threads,
                          progress=cfg.progress)
    stages.append(Stage("cache-latents", "cache-latents", cache_latents_run, lat, cache, None))
    dit = GeneratorRun(cache=str(cache), ae=str(ae_model), run=str(run / DIT_DIR), out=str(run / MODEL),
                       preset=cfg.preset, steps=cfg.dit_steps, batch_size=cfg.dit_batch_size, lr=cfg.dit_lr,
                       **trainer)
    stages.append(Stage("dit", "train dit", train_generator, dit, run / MODEL, run / DIT_DIR, cfg.dit_steps))
    return stages


def _stage_done(stage: Stage, upstream_mtime: float) -> bool:
    """Finished with the requested steps and newer than what it was built from."""
    if not stage.output.exists() or stage.output.stat().st_mtime < upstream_mtime:
        return False
    if stage.run_dir is None:
        return _cache_fits(stage)
    prog = read_progress(stage.run_dir) or {}
    return prog.get("status") == "done" and int(prog.get("step", -1)) == stage.steps


def _cache_fits(stage: Stage) -> bool:
    """A latent cache counts as done only when it records the autoencoder this run made (a cache copied from
    another run, or of an older echo-paraview, is encoded again rather than bundled silently)."""
    from .cache_latents import check_cache_autoencoder

    try:
        return check_cache_autoencoder(stage.output, stage.config.ae)
    except (EchoUserError, OSError):
        print(f"{stage.output} was encoded with another autoencoder: encoding it again", flush=True)
        return False


def _stale(stage: Stage, upstream_mtime: float) -> bool:
    """The stage holds state (checkpoint/output) older than its input: start it again."""
    paths = [stage.output] + ([stage.run_dir / CHECKPOINT] if stage.run_dir else [])
    return any(p.exists() and p.stat().st_mtime < upstream_mtime for p in paths)


def budgeted(cfg: PipelineRun, frames: int) -> PipelineRun:
    """`cfg` with the step counts of its CPU budget, measured once and kept in RUN/budget.json so a
    resumed run trains to the same counts."""
    import dataclasses
    import json

    path = Path(cfg.run) / BUDGET
    kept = json.loads(path.read_text()) if path.is_file() else {}
    if kept.get("minutes") != cfg.budget_minutes or kept.get("data") != str(cfg.data):
        from .budget import plan_budget

        plan = plan_budget(cfg, frames)
        kept = {"minutes": cfg.budget_minutes, "data": str(cfg.data), "ae_steps": plan.ae_steps,
                "dit_steps": plan.dit_steps, "text": plan.text()}
        write_json_atomic(path, kept)
    print(kept["text"], flush=True)
    return dataclasses.replace(cfg, ae_steps=int(kept["ae_steps"]), dit_steps=int(kept["dit_steps"]))


def run_stage(stage: Stage) -> Any:
    """The stage function on the stage's dataclass: exactly `stage.command_line()`."""
    return stage.run(stage.config)


def train_all(cfg: PipelineRun, runner: Callable[[Stage], Any] = run_stage) -> Path:
    """Every stage of `cfg`, skipping finished ones; returns the complete model file."""
    # taken before pipeline.json is touched: a second pipeline on RUN must not clobber the first's status
    with RunLock(cfg.run):
        return _train_stages(cfg, runner)


def _train_stages(cfg: PipelineRun, runner: Callable[[Stage], Any]) -> Path:
    run = Path(cfg.run)
    run.mkdir(parents=True, exist_ok=True)
    write_status(run, stage="check", stage_index=0, n_stages=0, state="running", error=None, model=None,
                 progress=None, pid=os.getpid())
    try:
        check_pipeline_preset(run, cfg.preset)  # a finished or half-trained run of another preset is not resumed
        frames = pick_frames(cfg.preset, check_dataset(cfg.data), cfg.frames)
        if cfg.budget_minutes is not None:
            cfg = budgeted(cfg, frames)
        stages = plan(cfg, frames)
        names = [s.name for s in stages]
        upstream = Path(cfg.data).stat().st_mtime  # a rewritten dataset retrains everything
        for i, stage in enumerate(stages):
            write_status(run, stage=stage.name, stage_index=i, n_stages=len(stages), stages=names,
                         progress=str(stage.run_dir / PROGRESS) if stage.run_dir else None)
            if _stage_done(stage, upstream):
                print(f"[{i + 1}/{len(stages)}] {stage.name}: already done, skipped")
            else:
                if _stale(stage, upstream):  # an earlier stage changed: this one starts again
                    if stage.run_dir is not None:
                        shutil.rmtree(stage.run_dir, ignore_errors=True)
                    stage.output.unlink(missing_ok=True)
                print(f"[{i + 1}/{len(stages)}] {stage.name}: {stage.command_line()}", flush=True)
                runner(stage)
            upstream = stage.output.stat().st_mtime if stage.output.exists() else time.time()
        model = run / MODEL
        from ..bundle import read_meta
        from .held_out import report_skill

        if "state_reference" not in read_meta(model):  # a resumed, finished run keeps its report
            write_status(run, stage="skill", progress=None)
            report_skill(model, cfg.data)
        write_status(run, state="done", model=str(model.resolve()), stage="done", stage_index=len(stages))
        print(f"model: {model}")
        return model
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, (EchoUserError, FileNotFoundError)) else \
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
        if isinstance(exc, KeyboardInterrupt):
            msg = "stopped (interrupted) - run the same command again to continue"
        _write_failed(run, msg)
        raise


def _write_failed(run: Path, msg: str) -> None:
    """pipeline.json says "failed", even on a full disk (where its atomic rewrite has no room for a copy)."""
    try:
        write_status(run, state="failed", error=msg)
    except OSError:
        temp_path(run / PIPELINE_STATUS).unlink(missing_ok=True)  # the half-written copy
        status = {**(read_status(run) or {}), "state": "failed", "error": msg, "time": time.time()}
        try:  # in place: truncating frees the old file's blocks first
            (run / PIPELINE_STATUS).write_text(json.dumps(status, indent=1, default=str))
        except OSError:
            pass  # nothing more can be written there; the error itself still reaches the user


def _sigterm(signum, frame):  # TrainingJob.stop(): unwind so pipeline.json says why it ended
    raise KeyboardInterrupt


def pipeline_config(args: argparse.Namespace) -> PipelineRun:
    """From --config FILE (EchoTrain) or from the options."""
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise EchoUserError(f"--config {path}: no such file")
        return from_json(PipelineRun, path.read_text(), source=str(path))
    if not args.data or not args.run:
        raise EchoUserError("train all needs --data DATASET and --run DIR (or --config FILE)")
    return from_namespace(PipelineRun, args)


def run(args: argparse.Namespace) -> int:
    import signal

    try:
        signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread (called from a test runner's worker): keep the default
        pass
    train_all(pipeline_config(args))
    return 0

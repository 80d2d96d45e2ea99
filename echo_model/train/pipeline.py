"""`echopv train all`: every training stage in one process, from a dataset to a complete model file.

    RUN/ae/             stage 1 (train ae)        progress.json, checkpoint, model.safetensors
    RUN/refine/         stage 2 (train refine)    on single frames of the same dataset (--refine-steps 0 skips it)
    RUN/latents.h5      cache-latents             with the last autoencoder
    RUN/dit/            stage 3 (train dit)       progress.json, checkpoint
    RUN/model.safetensors                         the complete model (Surrogate.load, EchoRollout)
    RUN/pipeline.json   {stage, stage_index, n_stages, state: running|done|failed, error, model,
                         progress: the current stage's progress.json (null for cache-latents), stages}

Each stage is the stage module's own `run(args)`, its arguments built by its own parser (no
duplicated logic). Resumable: run again with the same --run and finished stages are skipped,
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
from typing import Callable

PIPELINE_JSON = "pipeline.json"
MODEL_FILE = "model.safetensors"
MIN_FRAMES = 3  # the shortest window 1 + f k with k = 1 for the tiny/small presets (f = 2)


@dataclass
class Stage:
    name: str
    module: str  # the stage module (add_arguments/run)
    argv: list[str]
    output: Path  # what the stage produces (its freshness decides whether later stages rerun)
    run_dir: Path | None  # where its progress.json lives (None: no trainer)
    steps: int | None = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="ECHO dataset (.h5), e.g. from `echopv import` or the ParaView EchoTrain filter")
    p.add_argument("--run", required=True, help="run directory; the final model is RUN/model.safetensors")
    p.add_argument("--preset", default="tiny", help="autoencoder and DiT preset: tiny | small | paper")
    p.add_argument("--ae-steps", type=int, default=1500)
    p.add_argument("--refine-steps", type=int, default=100, help="0 skips stage 2")
    p.add_argument("--dit-steps", type=int, default=3000)
    p.add_argument("--ae-batch-size", type=int, default=2)
    p.add_argument("--dit-batch-size", type=int, default=16)
    p.add_argument("--n-query", type=int, default=1024, help="loss points per autoencoder sample")
    p.add_argument("--frames", type=int, default=None,
                   help="window length 1 + f k (default: the preset's, shortened to fit the shortest trajectory)")
    p.add_argument("--grid", type=int, nargs="+", default=None, help="latent grid override (train ae --grid)")
    p.add_argument("--latent-dim", type=int, default=None, help="latent channels override (train ae --latent-dim)")
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (progress.json is still written)")


# ------------------------------------------------------------------------------------------
# status file
# ------------------------------------------------------------------------------------------
def write_status(run_dir: Path, **fields) -> dict:
    path = run_dir / PIPELINE_JSON
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    status = {**old, **fields, "time": time.time()}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(status, indent=1, default=str))
    os.replace(tmp, path)
    return status


def read_status(run_dir: str | os.PathLike) -> dict | None:
    try:
        return json.loads((Path(run_dir) / PIPELINE_JSON).read_text())
    except (OSError, ValueError):
        return None


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
        raise ValueError(f"{path} is not a readable ECHO dataset ({exc}); create one with `echopv import`") from exc
    with store:
        train = store.split_indices("train")
        if len(train) == 0:
            raise ValueError(f"{path} has no training trajectory; rewrite it with a 'train' split")
        shortest = min(store.n_frames(int(i)) for i in train)
    if shortest < MIN_FRAMES:
        raise ValueError(f"{path}: the shortest training trajectory has {shortest} frame(s); training needs at "
                         f"least {MIN_FRAMES} time steps per trajectory (export more time steps)")
    return shortest


def pick_frames(preset: str, shortest: int, requested: int | None) -> int:
    """The AE window length: as asked, else the preset's default shortened to 1 + 2k <= shortest."""
    from ..presets import DEFAULT_FRAMES

    if requested:
        if requested > shortest:
            raise ValueError(f"--frames {requested} is longer than the shortest training trajectory ({shortest} "
                             "frames); pass a smaller --frames")
        return requested
    from ..presets import AE_PRESETS

    f = AE_PRESETS[preset].time_factor if preset in AE_PRESETS else 2
    frames = 1 + f * ((min(DEFAULT_FRAMES.get(preset, 1 + 4 * f), shortest) - 1) // f)  # windows are 1 + f k
    if frames < 1 + f:
        raise ValueError(f"the {preset!r} preset needs windows of 1 + {f} k >= {1 + f} frames but the shortest "
                         f"training trajectory has {shortest}; export more time steps or use the tiny preset")
    return frames


def plan(args: argparse.Namespace, frames: int) -> list[Stage]:
    run = Path(args.run)
    data = str(args.data)
    common = ["--device", args.device]
    if args.threads:
        common += ["--threads", str(args.threads)]
    trainer = common + ["--seed", str(args.seed), "--ckpt-every", str(args.ckpt_every)] + (["--no-progress"] if args.no_progress else [])
    ae = ["--data", data, "--run", str(run / "ae"), "--preset", args.preset, "--steps", str(args.ae_steps),
          "--batch-size", str(args.ae_batch_size), "--n-query", str(args.n_query), "--frames", str(frames), *trainer]
    if args.grid:
        ae += ["--grid", *map(str, args.grid)]
    if args.latent_dim:
        ae += ["--latent-dim", str(args.latent_dim)]
    stages = [Stage("ae", "echo_model.train.stage_ae", ae, run / "ae" / MODEL_FILE, run / "ae", args.ae_steps)]
    ae_model = run / "ae" / MODEL_FILE
    if args.refine_steps > 0:
        refine = ["--init", str(ae_model), "--data", data, "--run", str(run / "refine"),
                  "--steps", str(args.refine_steps), "--batch-size", str(args.ae_batch_size),
                  "--n-query", str(max(args.n_query, 2048)), *trainer]
        stages.append(Stage("refine", "echo_model.train.stage_refine", refine, run / "refine" / MODEL_FILE,
                            run / "refine", args.refine_steps))
        ae_model = run / "refine" / MODEL_FILE
    cache = run / "latents.h5"
    stages.append(Stage("cache-latents", "echo_model.train.cache_latents",
                        ["--ae", str(ae_model), "--data", data, "--out", str(cache), *common], cache, None))
    dit = ["--cache", str(cache), "--ae", str(ae_model), "--run", str(run / "dit"), "--out", str(run / MODEL_FILE),
           "--preset", args.preset, "--steps", str(args.dit_steps), "--batch-size", str(args.dit_batch_size),
           "--lr", "1e-3", *trainer]
    stages.append(Stage("dit", "echo_model.train.stage_dit", dit, run / MODEL_FILE, run / "dit", args.dit_steps))
    return stages


def _stage_done(stage: Stage, upstream_mtime: float) -> bool:
    """Finished with the requested steps and newer than what it was built from."""
    if not stage.output.exists() or stage.output.stat().st_mtime < upstream_mtime:
        return False
    if stage.run_dir is None:
        return True
    try:
        prog = json.loads((stage.run_dir / "progress.json").read_text())
    except (OSError, ValueError):
        return False
    return prog.get("status") == "done" and int(prog.get("step", -1)) == stage.steps


def _stale(stage: Stage, upstream_mtime: float) -> bool:
    """The stage holds state (checkpoint/output) older than its input: start it again."""
    paths = [stage.output] + ([stage.run_dir / "checkpoint.safetensors"] if stage.run_dir else [])
    return any(p.exists() and p.stat().st_mtime < upstream_mtime for p in paths)


def run_stage(stage: Stage) -> int:
    """The stage module's own parser and run(): exactly `echopv <stage> <argv>`."""
    import importlib

    module = importlib.import_module(stage.module)
    parser = argparse.ArgumentParser(prog=f"echopv {stage.name}")
    module.add_arguments(parser)
    try:
        ns = parser.parse_args(stage.argv)
    except SystemExit as exc:  # argparse already printed why; a bug in plan(), not a user error
        raise RuntimeError(f"stage {stage.name} rejected its arguments {stage.argv}") from exc
    rc = int(module.run(ns) or 0)
    if rc != 0:
        raise RuntimeError(f"stage {stage.name} exited with code {rc}")
    return rc


def train_all(args: argparse.Namespace, runner: Callable[[Stage], int] = run_stage) -> Path:
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    write_status(run, stage="check", stage_index=0, n_stages=0, state="running", error=None, model=None,
                 progress=None, pid=os.getpid())
    try:
        frames = pick_frames(args.preset, check_dataset(args.data), args.frames)
        stages = plan(args, frames)
        names = [s.name for s in stages]
        upstream = Path(args.data).stat().st_mtime  # a rewritten dataset retrains everything
        for i, stage in enumerate(stages):
            write_status(run, stage=stage.name, stage_index=i, n_stages=len(stages), stages=names,
                         progress=str(stage.run_dir / "progress.json") if stage.run_dir else None)
            if _stage_done(stage, upstream):
                print(f"[{i + 1}/{len(stages)}] {stage.name}: already done, skipped")
            else:
                if _stale(stage, upstream):  # an earlier stage changed: this one starts again
                    if stage.run_dir is not None:
                        shutil.rmtree(stage.run_dir, ignore_errors=True)
                    stage.output.unlink(missing_ok=True)
                print(f"[{i + 1}/{len(stages)}] {stage.name}: " + " ".join(stage.argv), flush=True)
                runner(stage)
            upstream = stage.output.stat().st_mtime if stage.output.exists() else time.time()
        model = run / MODEL_FILE
        write_status(run, state="done", model=str(model.resolve()), stage="done", stage_index=len(stages))
        print(f"model: {model}")
        return model
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, (ValueError, FileNotFoundError, ImportError)) else \
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
        if isinstance(exc, KeyboardInterrupt):
            msg = "stopped (interrupted) - run the same command again to continue"
        write_status(run, state="failed", error=msg)
        raise


def _sigterm(signum, frame):  # TrainingJob.stop(): unwind so pipeline.json says why it ended
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import signal

    try:
        signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread (called from a test runner's worker): keep the default
        pass
    train_all(args)
    return 0

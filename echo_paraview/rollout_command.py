"""Predict a trajectory with an ECHO model file and write it as a .pvd + .vtu series.

Input frames come from an ECHO dataset (--dataset D.h5 --traj i) or from VTK files
(--input run.pvd | frame.vtu | dir | *.series). The model needs `n_observed_frames` input frames
(`echopv info MODEL` shows the model's settings); they are taken from --start on. The
prediction is evaluated at the input points, or at the points of --query-mesh (a .vtu/.vtp/.vti...
file, or any mesh meshio reads: .msh, legacy .vtk, .inp, ...: super-resolution or another mesh).
With --samples K > 1 the ensemble mean is written under the field names and the ensemble standard
deviation as `<name>_std`.

--task picks what the model does with the input (echo_model/tasks.py):
  forecast     (default) the --frames frames after the observed ones
  interpolate  a frame every model dt between the input frames, which are saved a whole number of
               model steps apart (2..8 for the tiny preset; --gap, or from their times); input kept exact
  reconstruct  full fields from the values at sparse points: the input's points (or a random
               --probes fraction of them) are the probes, --query-mesh (default the input) the target
  inverse      the --frames frames before the first input frame
  sample       --frames frames for the input's parameters from its points alone (--samples members)
--stride S and --input-frames N pick every S-th input frame from --start on, N of them.

Examples:
  echopv rollout sample_cases/ns2d_vorticity/model_tiny.safetensors \\
      --dataset sample_cases/ns2d_vorticity/ns2d_64.h5 --traj 0 --frames 16 --out out/pred
  echopv rollout sample_cases/ns2d_vorticity/model_tiny.safetensors --task interpolate \\
      --dataset sample_cases/ns2d_vorticity/ns2d_64.h5 --stride 4 --input-frames 3 --out out/interp
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from echo_model.errors import EchoUserError



def add_arguments(parser: argparse.ArgumentParser) -> None:
    from echo_model.flow import SAMPLERS

    parser.add_argument("model", type=Path, help="ECHO model file (.safetensors)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", type=Path, help="ECHO dataset (.h5) holding the input trajectory")
    src.add_argument("--input", help="VTK input: .pvd, .vtu (one frame), *.series, a folder or a glob")
    parser.add_argument("--traj", type=int, default=0, help="trajectory index in --dataset (default 0)")
    parser.add_argument("--start", type=int, default=0, help="first observed frame (default 0)")
    parser.add_argument("--frames", type=int, default=None, help="frames to predict (default: one segment)")
    parser.add_argument("--query-mesh", type=Path, default=None, help="evaluate the prediction on this mesh's points (VTK XML, or any format meshio reads)")
    parser.add_argument("--samples", type=int, default=1, help="ensemble size (mean + std written when > 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--sampler", choices=SAMPLERS, default=None)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--max-memory", default="", metavar="SIZE",
                        help="most memory the rollout may use, e.g. 2GB (default: what is available); a rollout "
                             "that cannot fit is refused up front with its estimate")
    from echo_model.tasks import TASKS

    parser.add_argument("--task", choices=TASKS, default="forecast",
                        help="forecast (default) | interpolate | reconstruct | inverse | sample (see above)")
    parser.add_argument("--stride", type=int, default=1, help="use every S-th input frame (default 1)")
    parser.add_argument("--input-frames", type=int, default=None,
                        help="input frames to use from --start on (default: all; forecast: what the model needs)")
    parser.add_argument("--gap", type=int, default=None,
                        help="interpolate: model steps between input frames (default: from their times)")
    parser.add_argument("--probes", type=float, default=None, metavar="FRACTION",
                        help="reconstruct: use a random fraction (0..1] of the input points as probes (seed --seed)")
    parser.add_argument("--name", default="prediction", help="stem of the written .pvd (default prediction)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")


def _load_input(args, sur):
    """-> (points, fields (T, N, C), times, cells, params, source description)."""
    names = [n for n, _ in sur.field_layout]
    if args.dataset is not None:
        from echo_model.data.store import TrajectoryStore

        with TrajectoryStore(args.dataset) as store:
            if store.info.field_layout != sur.field_layout:
                raise EchoUserError(
                    f"--dataset {args.dataset} has fields {store.info.field_layout} but the model predicts "
                    f"{sur.field_layout}: give a dataset with the model's fields, or a model trained on these"
                )
            if not 0 <= args.traj < len(store):
                raise EchoUserError(f"--traj {args.traj} out of range: {args.dataset} has {len(store)} trajectories; "
                                    f"give 0 to {len(store) - 1}")
            traj = store[args.traj]
        return traj, f"{args.dataset}#{args.traj}"
    from .io.pvd import read_series

    traj = read_series(args.input, fields=names, dim=sur.dim)
    return traj, str(args.input)


def _fit_warnings(sur, traj, n_frames: int, observed=None, points=None) -> None:
    """echo_model.fitcheck.prepare_rollout on the input (its mesh, or --query's points, its parameters,
    its time steps): a refusal raises, the warnings go to stderr."""
    from echo_model.fitcheck import ParamUse, prepare_rollout

    names = set(getattr(sur, "param_names", []) or [])  # a dataset may record more than the model uses
    given = {n: ParamUse(float(v), "input's parameters") for n, v in (traj.params or {}).items() if n in names}
    check = prepare_rollout(sur, traj.points if points is None else points, n_frames, params=given,
                            observed=observed, times=traj.times)
    for w in check.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _progress_bar():
    """A tqdm bar in percent and the progress(fraction) callback that moves it."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc="rollout", unit="%")
    last = [0]

    def progress(f: float) -> None:
        pct = int(100 * f)
        if pct > last[0]:
            bar.update(pct - last[0])
            last[0] = pct

    return bar, progress


def run(args: argparse.Namespace) -> int:
    from echo_model.memory import MemoryBudget
    from echo_model.rollout import Surrogate
    from echo_model.threads import set_threads

    _check_counts(args)
    budget = MemoryBudget.parse(args.max_memory, where="--max-memory")  # bad values fail before loading anything
    set_threads(args.threads)
    sur = Surrogate.load(args.model, device=args.device)
    traj, source = _load_input(args, sur)
    if args.task != "forecast" or args.stride != 1 or args.input_frames is not None:
        return _run_task(args, sur, traj, source, budget)
    return _run_forecast(args, sur, traj, source, budget)


def _check_counts(args) -> None:
    """--frames and --samples are positive (checked before anything is loaded)."""
    if args.frames is not None and args.frames < 1:
        raise EchoUserError(f"--frames {args.frames}: give the number of frames to predict (>= 1), or leave it out "
                            "for one segment")
    if args.samples < 1:
        raise EchoUserError(f"--samples {args.samples}: the ensemble needs at least 1 member")


def _run_forecast(args, sur, traj, source: str, budget) -> int:
    """The plain forecast from the model's observed frames at --start; the output written to --out."""
    from echo_model.data.trajectory import Trajectory

    observed, t_last = _observed_frames(args, sur, traj)
    n_frames = args.frames or sur.segment_frames
    out_points, out_cells, query = _output_mesh(args, sur, traj)
    _fit_warnings(sur, traj, n_frames, observed, out_points)
    _require_output_space(args, n_frames, out_points.shape[0], sur.field_layout)  # before the rollout's work
    bar, progress = _progress_bar()

    t0 = time.perf_counter()
    res = sur.rollout(
        traj.points, observed, n_frames, query_points=query, params=traj.params or None,
        n_samples=args.samples, seed=args.seed, steps=args.steps, sampler=args.sampler, progress=progress,
        keep_samples=False, memory=budget,
    )
    bar.close()
    wall = time.perf_counter() - t0
    fields, layout = _mean_and_std(res)
    pred = Trajectory(
        points=out_points,
        fields=fields,
        times=t_last + res.times,
        field_layout=layout,
        params=traj.params,
        cells=out_cells,
        metadata={"is_prediction": True, "model_id": Path(args.model).name, "source": source,
                  "start_frame": args.start, "n_samples": res.info["n_samples"],
                  "sampler": res.info["sampler"], "steps": res.info["steps"], "seed": args.seed},
    )
    path = _save(args, pred, {"model": str(args.model), "source": source, "n_frames": n_frames,
                              "n_points": int(out_points.shape[0]), "wall_s": wall, **res.info})
    print(f"wrote {path} ({n_frames} frames, {out_points.shape[0]} points, {res.info['n_samples']} sample(s), {wall:.2f} s)")
    return 0


def _observed_frames(args, sur, traj) -> tuple[np.ndarray, float]:
    """The model's n_observed_frames input frames from --start on, and the time of the last one."""
    n_obs = sur.n_observed_frames
    if args.start < 0 or args.start + n_obs > traj.n_frames:
        raise EchoUserError(
            f"the model needs {n_obs} observed frame(s) from --start {args.start}, but the input has "
            f"{traj.n_frames} frame(s): lower --start"
        )
    return traj.fields[args.start : args.start + n_obs], float(traj.times[args.start + n_obs - 1])


def _output_mesh(args, sur, traj):
    """(points, cells, query points) of the output: --query-mesh's when given (query = its points), else the input's
    (query None)."""
    if args.query_mesh is None:
        return traj.points, traj.cells, None
    from .io.meshio_points import load_query_mesh

    out_points, out_cells = load_query_mesh(args.query_mesh, dim=sur.dim)
    return out_points, out_cells, out_points


def _mean_and_std(res) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The fields to write and their layout: the ensemble mean, and its standard deviation as `<name>_std`."""
    fields, layout = res.mean, list(res.field_layout)
    if res.std is not None:
        fields = np.concatenate([res.mean, res.std], axis=2)
        layout += [(f"{n}_std", c) for n, c in res.field_layout]
    return fields, layout


def _require_output_space(args, n_frames: int, n_points: int, field_layout) -> None:
    """Refuse a rollout whose series would not fit on --out's disk, before computing it."""
    from echo_model.disk_space import require_space

    from .io.pvd import series_bytes

    channels = sum(c for _, c in field_layout) * (2 if args.samples > 1 else 1)  # mean (+ std)
    require_space(args.out, series_bytes(n_frames, n_points, channels), f"writing the rollout into --out {args.out}")


def _save(args, pred, info: dict) -> Path:
    """The series and its .json side file in --out, both or neither (a full disk leaves no partial output)."""
    from echo_model.disk_space import disk_full_error, is_disk_full, remove_tree

    from .io.pvd import write_pvd

    args.out.mkdir(parents=True, exist_ok=True)
    path = write_pvd(pred, args.out / f"{args.name}.pvd", provenance={"is_prediction": True})
    side = args.out / f"{args.name}.json"
    tmp = side.with_name(f".{side.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(info, indent=2, default=str))
        os.replace(tmp, side)
    except BaseException as exc:
        for leftover in (tmp, path, path.with_suffix("")):
            remove_tree(leftover)
        if is_disk_full(exc):
            raise disk_full_error(args.out, f"writing {side}") from None
        raise
    return path


def _task_input(args, sur, traj):
    """The input frames the task takes: every --stride-th from --start, --input-frames of them."""
    if args.stride < 1 or (args.input_frames is not None and args.input_frames < 1):
        raise EchoUserError(f"--stride {args.stride} / --input-frames {args.input_frames}: give positive numbers")
    rows = list(range(args.start, traj.n_frames, args.stride))[: args.input_frames]
    need = sur.n_observed_frames if args.task == "forecast" else (2 if args.task == "interpolate" else 1)
    if args.start < 0 or len(rows) < need:
        raise EchoUserError(f"--task {args.task} needs {need} input frame(s) from --start {args.start} with --stride "
                            f"{args.stride}, but the input has {traj.n_frames} frame(s): lower --start or --stride")
    probes = None
    if args.probes is not None:
        if not 0 < args.probes <= 1 or args.task != "reconstruct":
            raise EchoUserError(f"--probes {args.probes}: a fraction in (0, 1], for --task reconstruct only")
        n = traj.points.shape[0]
        probes = np.sort(np.random.default_rng(args.seed).choice(n, max(1, round(args.probes * n)), replace=False))
    return traj.fields[rows], traj.times[rows], probes


def _run_task(args, sur, traj, source, budget) -> int:
    """Any --task through echo_model.tasks.run_task; the output written as for the forecast."""
    from echo_model.data.trajectory import Trajectory
    from echo_model.tasks import run_task

    frames, times, probes = _task_input(args, sur, traj)
    out_points, out_cells, query = _output_mesh(args, sur, traj)
    horizon = (args.frames or sur.segment_frames) if args.task in ("inverse", "sample") else 1  # frames made up
    _fit_warnings(sur, traj, horizon, points=out_points)
    bar, progress = _progress_bar()
    t0 = time.perf_counter()
    res, out_times = run_task(sur, args.task, traj.points, frames, times, n_frames=args.frames, gap=args.gap,
                              query_points=query, probes=probes, params=traj.params or None, n_samples=args.samples,
                              seed=args.seed, steps=args.steps, sampler=args.sampler, progress=progress,
                              keep_samples=False, memory=budget)
    bar.close()
    wall = time.perf_counter() - t0
    fields, layout = _mean_and_std(res)
    pred = Trajectory(points=out_points, fields=fields, times=out_times, field_layout=layout, params=traj.params,
                      cells=out_cells,
                      metadata={"is_prediction": True, "task": args.task, "model_id": Path(args.model).name,
                                "source": source, "start_frame": args.start, "stride": args.stride,
                                "n_samples": res.info.get("n_samples", 1), "seed": args.seed})
    path = _save(args, pred, {"model": str(args.model), "source": source, "task": args.task,
                              "n_frames": int(fields.shape[0]), "n_points": int(out_points.shape[0]),
                              "n_probes": None if probes is None else int(probes.size), "wall_s": wall, **res.info})
    print(f"wrote {path} (task {args.task}: {fields.shape[0]} frames, {out_points.shape[0]} points, {wall:.2f} s)")
    return 0

"""`echopv demo ns3d`: a 3D ECHO forecast of decaying Taylor-Green turbulence, through the real ParaView.

1. solves one fresh trajectory with the project's spectral solver (echo_model.cases.ns3d: the
   `ns3d-32-tg` training preset's physics, another seed; 32^3, periodic unit cube) with frames
   the model's dt apart, and writes it as a ParaView user has it: solver.pvd of `.vti` image data,
   point data `velocity`, field data `param_nu`;
2. pvbatch through the launcher: EchoRollout on solver.pvd predicts --frames frames from the first
   (chained model segments when they exceed one window) and compares them with the solver's; at the
   last frame ParaView renders solver | ECHO | |error| as volume renderings of the velocity
   magnitude and as slices z = 0.5, and a Q-criterion contour (Gradient filter) of ECHO's velocity
   next to the solver's;
3. scores the prediction against the solver and against persistence (relative MSE per frame).

Everything lands in --out (default runs/demo_ns3d): solver.pvd, prediction.pvd, volume.png,
slices.png, qcriterion.png, error.png, demo_ns3d.png (all of them on one sheet), metrics.json.
The default model is sample_cases/ns3d_taylor_green/model.safetensors; any 3D model of a
3-component `velocity` field on the unit cube works (its dt sets the frame spacing).

Example: echopv demo ns3d --frames 16 --out runs/demo_ns3d
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from echo_model.errors import EchoUserError

from .resources import CHECKOUT

DEFAULT_MODEL = CHECKOUT / "sample_cases" / "ns3d_taylor_green" / "model.safetensors"
FIELD = "velocity"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The 3D demo's options (`echopv demo ns3d --help`)."""
    parser.add_argument("--model", type=Path, default=None,
                        help="3D model of `velocity` (default: sample_cases/ns3d_taylor_green/model.safetensors)")
    parser.add_argument("--frames", type=int, default=16, help="frames to predict after the first (default 16)")
    parser.add_argument("--samples", type=int, default=1, help="ensemble members; the mean is shown (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed of the model (default 0)")
    parser.add_argument("--solver-seed", type=int, default=17,
                        help="seed of the solver's initial perturbation and viscosity (default 17; training used 3)")
    parser.add_argument("--nu", type=float, default=None,
                        help="viscosity (default: drawn from --solver-seed in the training range 2e-3 .. 1e-2)")
    parser.add_argument("--resolution", type=int, default=32, help="solver grid points per side (default 32)")
    parser.add_argument("--q-fraction", type=float, default=0.1,
                        help="Q-criterion contour level as a fraction of the solver's largest Q (default 0.1)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads for the rollout (0: torch's default)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo_ns3d"),
                        help="output folder (default runs/demo_ns3d)")


def run_raw(words: tuple[str, ...], argv: list[str]) -> int:
    """`echopv demo ns3d ...` with this module's docstring as its --help."""
    parser = argparse.ArgumentParser(prog="echopv " + " ".join(words), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    from .demo_ns3d_figures import error_plot, sheets
    from .demo_ns3d_series import SolverRun, solve, write_image_series

    _check_options(args)
    model = _model(Path(args.model or DEFAULT_MODEL))
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    n_obs = model["n_observed_frames"]
    solver_run = SolverRun(frames=n_obs + args.frames, dt_frame=model["dt"], resolution=args.resolution,
                           seed=args.solver_seed, nu=args.nu)
    truth = solve(solver_run)
    write_image_series(truth, out / "solver.pvd", args.resolution)
    print(f"[1/3] solver: {args.resolution}^3 Taylor-Green, nu = {truth.params['nu']:.3g}, {truth.n_frames} frames "
          f"{model['dt']:g} apart ({time.perf_counter() - t_start:.0f} s) -> {out / 'solver.pvd'}", flush=True)
    t_pv = _rollout_in_pvbatch(args, out, model, float(truth.times[n_obs - 1]))
    metrics = _score(args, out, truth, model, t_pv)
    error_plot(out / "error.png", metrics)
    sheets(out)
    _report(out, metrics, time.perf_counter() - t_start)
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Refuse what cannot make a demo before anything is solved or rendered."""
    if args.frames < 1:
        raise EchoUserError(f"--frames {args.frames}: predict at least 1 frame "
                            "(16 = two segments of the shipped model)")
    if args.samples < 1:
        raise EchoUserError(f"--samples {args.samples}: give at least 1 ensemble member")
    if not 0 < args.q_fraction < 1:
        raise EchoUserError(f"--q-fraction {args.q_fraction}: give a fraction of the largest Q between 0 and 1 "
                            "(e.g. 0.1)")


def _model(path: Path) -> dict:
    """What the demo needs of the model file: dt, observed frames, a 3D `velocity` field."""
    from echo_model.rollout import Surrogate

    if not path.is_file():
        raise EchoUserError(
            f"the 3D demo's model {path} is missing; pass --model with a 3D model of `velocity` (e.g. "
            f"`echopv train all --data sample_cases/ns3d_taylor_green/ns3d_32.h5 --run runs/ns3d --frames 5` "
            f"then --model runs/ns3d/model.safetensors)")
    sur = Surrogate.load(path, device="cpu")
    layout = dict(sur.field_layout)
    if sur.dim != 3 or layout.get(FIELD) != 3:
        raise EchoUserError(
            f"{path} predicts {sur.field_layout} in {sur.dim}D; the 3D demo needs a 3D model of the 3-component "
            f"field `{FIELD}` (trained on `echopv generate ns3d` data); pass such a model with --model")
    return {"path": path.resolve(), "dt": float(sur.dt), "n_observed_frames": int(sur.n_observed_frames),
            "provenance": dict(getattr(sur, "meta", {}).get("provenance", {}))}


def _rollout_in_pvbatch(args: argparse.Namespace, out: Path, model: dict, t0: float) -> float:
    """[2/3] EchoRollout and the pictures in pvbatch (demo_ns3d_pvbatch.py); returns its wall seconds."""
    from . import demo_ns3d_pvbatch
    from .pvbatch_job import run_pvbatch

    settings = {
        "truth": str(out / "solver.pvd"), "model": str(model["path"]), "field": FIELD, "frames": args.frames,
        "samples": args.samples, "seed": args.seed, "threads": args.threads, "t_start": t0, "dt": model["dt"],
        "q_fraction": args.q_fraction, "resolution": args.resolution,
        "prediction": str(out / "prediction.pvd"), "outdir": str(out),
    }
    # an earlier run's files (a longer forecast leaves more frames)
    for stale in [out / "pvbatch-attempt1.log", *(out / "prediction").glob("prediction_*.vti")]:
        stale.unlink(missing_ok=True)
    args_file = out / "pv_demo_args.json"
    args_file.write_text(json.dumps(settings, indent=1))
    print(f"[2/3] pvbatch: EchoRollout with {model['path'].name}, {args.frames} frames of dt {model['dt']:g}, "
          "then volume, slice and Q-criterion pictures ...", flush=True)
    t = time.perf_counter()
    run_pvbatch(args_file, out / "pvbatch.log", script=Path(demo_ns3d_pvbatch.__file__))
    return time.perf_counter() - t


def _log_json(log: Path, tag: str) -> dict:
    for line in log.read_text().splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    return {}


def _score(args: argparse.Namespace, out: Path, truth, model: dict, t_pv: float) -> dict:
    """[3/3] The prediction (read back from prediction.pvd) against the solver and persistence."""
    from echo_model.metrics import rel_mse_per_step

    from .io.pvd import read_series

    n_obs = model["n_observed_frames"]
    pred = read_series(out / "prediction.pvd", fields=[FIELD + "_pred"], dim=3)
    p = pred.fields[n_obs:]  # the frames before are the given ones
    ref = truth.fields[n_obs : n_obs + p.shape[0]]
    if p.shape != ref.shape:
        raise RuntimeError(f"prediction.pvd holds {p.shape} predicted values, the solver {ref.shape}")
    echo = rel_mse_per_step(p[None], ref[None]).reshape(-1)
    still = rel_mse_per_step(np.repeat(truth.fields[n_obs - 1 : n_obs], p.shape[0], 0)[None], ref[None]).reshape(-1)
    log = out / "pvbatch.log"
    metrics = {
        "model": str(model["path"]), "model_provenance": model["provenance"], "dt": model["dt"],
        "frames": int(p.shape[0]), "samples": args.samples, "resolution": args.resolution,
        "nu": float(truth.params["nu"]), "times": [float(t) for t in truth.times[n_obs:]],
        "rel_mse_per_step": echo.tolist(), "persistence_rel_mse_per_step": still.tolist(),
        "parameters": _log_json(log, "PARAMETERS"), "scales": _log_json(log, "SCALES"), "pvbatch_seconds": t_pv,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def _report(out: Path, metrics: dict, seconds: float) -> None:
    print("[3/3] scored against the solver (relative MSE of the velocity):")
    print("      frame   t      ECHO rel-MSE   persistence")
    rows = zip(metrics["times"], metrics["rel_mse_per_step"], metrics["persistence_rel_mse_per_step"])
    for k, (t, e, p) in enumerate(rows):
        print(f"      {k + 1:5d}  {t:5.2f}   {e:12.4g}   {p:11.4g}")
    print(f"done in {seconds:.0f} s (pvbatch {metrics['pvbatch_seconds']:.0f} s). Pictures: {out / 'demo_ns3d.png'} "
          f"(volume.png, slices.png, qcriterion.png, error.png). Open it in ParaView:\n"
          f"  echopv paraview --data={out / 'solver.pvd'}   (then Filters > ECHO > EchoRollout)")

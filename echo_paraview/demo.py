"""`echopv demo`: the main job on the embedded sample case, end to end through the real ParaView.

1. takes a held-out trajectory of the committed 2D vorticity dataset and writes it as the
   solver's `.pvd` series (what an analyst would open);
2. runs `pvbatch` through the launcher: the EchoRollout filter predicts the time series from the
   first frame with the committed tiny model, saves it with "write all time steps" and renders
   solver / ECHO / ensemble spread side by side;
3. reads the prediction back, scores it against the solver (relative MSE per frame) and saves a
   picture of the error curve.

Everything lands in --out (default runs/demo): solver.pvd, prediction.pvd, demo.png, error.png,
metrics.json. The other demos have their own options: `echopv demo cylinder --help` (the OpenFOAM
cylinder wake), `echopv demo ns3d --help` (3D Taylor-Green turbulence, volume renderings).

Example: echopv demo --frames 8 --samples 4 --out runs/demo
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .resources import CHECKOUT
from .pvbatch_job import run_pvbatch as _pvbatch

SAMPLE = CHECKOUT / "sample_cases" / "ns2d_vorticity"  # the repository's: not in the wheel


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="ECHO model file (default: the sample case's committed model)")
    parser.add_argument("--frames", type=int, default=None, help="frames to predict (default: all the solver has)")
    parser.add_argument("--samples", type=int, default=4, help="ensemble members (mean and std are shown)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/demo[_cylinder])")


def run_raw(words: tuple[str, ...], argv: list[str]) -> int:
    """`echopv demo [vorticity] ...` or `echopv demo cylinder ...`: each case has its own options
    and its own --help (the cylinder's describes the OpenFOAM demo, not the generic one)."""
    from . import demo_cylinder

    case = argv[0] if argv and argv[0] in ("vorticity", "cylinder") else "vorticity"
    rest = argv[1:] if argv and argv[0] == case else argv
    doc = demo_cylinder.__doc__ if case == "cylinder" else __doc__
    parser = argparse.ArgumentParser(prog=f"echopv {' '.join(words)} {case}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser)
    if case == "cylinder":
        demo_cylinder.add_arguments(parser)
    else:
        parser.add_argument("--dataset", type=Path, default=SAMPLE / "ns2d_64.h5", help="ECHO dataset")
        parser.add_argument("--traj", type=int, default=None, help="trajectory index (default: first of the test split)")
    args = parser.parse_args(rest)
    args.case = case
    return run(args)


def _check_options(args: argparse.Namespace) -> None:
    """--frames and --samples (both demos) are positive, checked before anything runs."""
    from echo_model.errors import EchoUserError

    if args.frames is not None and args.frames < 1:
        raise EchoUserError(f"--frames {args.frames}: give the number of frames to predict (>= 1), or leave it out")
    if args.samples < 1:
        raise EchoUserError(f"--samples {args.samples}: the ensemble needs at least 1 member")


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    args.model_given = args.model is not None
    if args.out is None:
        args.out = Path("runs/demo_cylinder" if args.case == "cylinder" else "runs/demo")
    if args.case == "cylinder":
        from . import demo_cylinder

        return demo_cylinder.run(args)
    if args.model is None:
        args.model = SAMPLE / "model_tiny.safetensors"
    from echo_model.bundle import read_meta

    for path, what in ((args.model, "model file"), (args.dataset, "dataset")):
        if not path.exists():
            raise FileNotFoundError(f"the demo's {what} {path} is missing (it is committed in sample_cases/; pass --model/--dataset)")
    meta = read_meta(args.model)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    truth, index = _solver_series(args, out)
    dt = float(meta.get("dt", truth.times[1] - truth.times[0]))
    n_frames = truth.n_frames - 1
    snaps = sorted({0, n_frames // 2, n_frames})
    t_pv = _rollout_in_pvbatch(args, out, truth, snaps, dt)
    metrics = _score(args, out, truth, index, meta, t_pv)
    per_step = np.asarray(metrics["rel_mse_per_step"])
    persistence = np.asarray(metrics["persistence_rel_mse_per_step"])
    _pictures(out, snaps, args.samples > 1, per_step, persistence, dt)
    print(f"[3/3] scored against the solver (relative MSE, mean over frames {metrics['rel_mse']:.3g}):")
    print("      frame   t      ECHO rel-MSE   persistence")
    for k in range(len(per_step)):
        print(f"      {k + 1:5d}  {(k + 1) * dt:5.2f}   {per_step[k]:12.4g}   {persistence[k]:11.4g}")
    print(f"done in {time.perf_counter() - t_start:.0f} s (pvbatch {t_pv:.0f} s). Open it in ParaView:\n"
          f"  echopv paraview --data={out / 'prediction.pvd'}\n  pictures: {out / 'demo.png'}, {out / 'error.png'}")
    return 0


def _solver_series(args: argparse.Namespace, out: Path):
    """[1/3] The demo's solver trajectory (the first test trajectory unless --traj), cut to --frames,
    written as solver.pvd; returns it and its index."""
    from echo_model.data.store import TrajectoryStore

    from .io.pvd import write_pvd

    with TrajectoryStore(args.dataset) as store:
        test = store.split_indices("test")
        index = int(test[0]) if args.traj is None and len(test) else int(args.traj or 0)
        if not 0 <= index < len(store):
            from echo_model.errors import EchoUserError

            raise EchoUserError(f"--traj {index} out of range: {args.dataset} has {len(store)} trajectories; "
                                f"give 0 to {len(store) - 1}")
        truth = store[index]
    n_frames = min(args.frames or truth.n_frames - 1, truth.n_frames - 1)
    truth = truth.frames(slice(0, n_frames + 1))
    write_pvd(truth, out / "solver.pvd")
    print(f"[1/3] solver trajectory #{index} of {args.dataset.name}: {truth.n_points} points, "
          f"{truth.n_frames} frames, nu={truth.params.get('nu', float('nan')):.2e} -> {out / 'solver.pvd'}")
    return truth, index


def _rollout_in_pvbatch(args: argparse.Namespace, out: Path, truth, snaps: list[int], dt: float) -> float:
    """[2/3] EchoRollout in pvbatch (scripts/pv_demo.py) on solver.pvd; returns pvbatch's wall seconds."""
    n_frames = truth.n_frames - 1
    settings = {
        "truth": str(out / "solver.pvd"), "model": str(args.model.resolve()), "field": truth.field_layout[0][0],
        "frames": n_frames, "samples": args.samples, "seed": args.seed, "vmax": float(np.abs(truth.fields).max()),
        "prediction": str(out / "prediction.pvd"), "outdir": str(out),
        "snapshot_index": snaps, "snapshot_times": [float(truth.times[0] + k * dt) for k in snaps],
    }
    args_file = out / "pv_demo_args.json"
    args_file.write_text(json.dumps(settings, indent=1))
    print(f"[2/3] pvbatch: EchoRollout with {args.model.name}, {n_frames} frames, {args.samples} samples ...", flush=True)
    t0 = time.perf_counter()
    _pvbatch(args_file, out / "pvbatch.log")
    return time.perf_counter() - t0


def _score(args: argparse.Namespace, out: Path, truth, index: int, meta: dict, t_pv: float) -> dict:
    """The prediction against the solver and persistence, per frame; written to metrics.json."""
    from echo_model.metrics import rel_mse, rel_mse_per_step

    from .io.pvd import read_series

    used: dict = {}
    for line in (out / "pvbatch.log").read_text().splitlines():
        if line.startswith("PARAMETERS "):
            used = json.loads(line[len("PARAMETERS "):])
            print("      conditioned on " + (", ".join(f"{k}={v:.3g} ({src})" for k, (v, src) in used.items()) or "no parameters"))
    field = truth.field_layout[0][0]
    pred = read_series(out / "prediction.pvd", fields=[field + "_pred"], dim=truth.dim)
    p = pred.fields[1:]  # step 0 is the initial condition itself
    ref = truth.fields[1 : 1 + p.shape[0]]
    per_step = rel_mse_per_step(p[None], ref[None]).reshape(-1)
    persistence = rel_mse_per_step(np.repeat(truth.fields[:1], p.shape[0], 0)[None], ref[None]).reshape(-1)
    metrics = {
        "trajectory": index, "frames": int(p.shape[0]), "samples": args.samples,
        "rel_mse": rel_mse(p[None], ref[None]), "rel_mse_per_step": per_step.tolist(),
        "persistence_rel_mse_per_step": persistence.tolist(), "pvbatch_seconds": t_pv,
        "model": str(args.model), "model_provenance": meta.get("provenance", {}), "parameters": used,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def _pictures(out: Path, snaps: list[int], with_std: bool, per_step, persistence, dt: float) -> None:
    """Stitch ParaView's panels into demo.png (rows = times) and plot the error curve."""
    from .demo_plots import error_curve_png, stitch_panels

    kinds = ["solver", "echo"] + (["std"] if with_std else [])
    stitch_panels(out / "demo.png", [[out / f"panel_t{k:02d}_{kind}.png" for kind in kinds] for k in snaps])
    for f in out.glob("panel_t*.png"):
        f.unlink()
    t = (np.arange(len(per_step)) + 1) * dt
    error_curve_png(out / "error.png", t, {"ECHO (ensemble mean)": per_step, "persistence (initial frame)": persistence},
                    xlabel="time after the initial condition", ylabel="relative MSE")

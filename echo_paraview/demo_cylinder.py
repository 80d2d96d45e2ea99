"""`echopv demo cylinder`: an OpenFOAM case as an analyst opens it, through ParaView's own reader.

1. the case: an existing OpenFOAM case folder (--case), else the DFG 2D-2 cylinder (Re 100) solved
   here with pimpleFoam (echo_model.cases.cylinder_case; the CI mesh takes seconds, the coarse one
   minutes), written every model dt;
2. pvbatch (scripts/pv_demo_cylinder.py): ParaView's OpenFOAMReader on case.foam, EchoRollout
   applied directly to its multiblock (cell data, 3-component U: no Merge Blocks, no Cell Data to
   Point Data), starting at --start; the filter's own `<field>_truth` / `<field>_error` and
   per-frame `<field>_rel_mse` field data give the comparison with the solver;
3. demo.png (rows = times: solver | ECHO | error) and error.png (rel-MSE per predicted frame, as
   Plot Global Variables Over Time shows it), metrics.json.

Example: echopv demo cylinder --mesh coarse --frames 20 --out runs/demo_cylinder
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from echo_model.errors import EchoUserError

from .resources import CHECKOUT, pvbatch_script

DEFAULT_MODEL = CHECKOUT / "sample_cases" / "cylinder" / "model.safetensors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The cylinder demo's own options (`echopv demo cylinder --help`)."""
    parser.add_argument("--case", dest="case_dir", type=Path, default=None,
                        help="an OpenFOAM case folder (default: solve the DFG 2D-2 case here)")
    parser.add_argument("--mesh", default="fine",
                        help="mesh of the generated case: fine (default; St within 1.5 %% of DFG 2D-2, ~1-2 solver "
                             "CPU-min), coarse, ci (seconds, St 14 %% low: benchmarks/results/cylinder_mesh_study.md)")
    parser.add_argument("--start", type=float, default=None,
                        help="start time of the forecast (default: the case's end minus the frames)")
    parser.add_argument("--field", default="p", help="the field shown (default p)")
    parser.add_argument("--parameters", default=None,
                        help="the case's PDE parameters as EchoRollout's Parameters property takes them, e.g. "
                             "'Re=100, Um=1.5, cx=0.2, cy=0.2, nu=0.001' (default: the generated DFG case's; with "
                             "--case none, and the filter conditions on the training means and says so)")


def _model_meta(model: Path) -> dict:
    from echo_model.bundle import read_meta

    if not model.is_file():
        raise EchoUserError(
            f"the cylinder demo's model {model} is missing; pass --model with a model trained on the cylinder "
            f"family (e.g. `echopv train all --data sample_cases/cylinder/cylinder_coarse.h5 --run runs/cyl` "
            f"then --model runs/cyl/model.safetensors)"
        )
    meta = read_meta(model)
    names = [n for n, _ in meta.get("field_layout", [])]
    if not names:
        raise EchoUserError(f"{model} is not a complete ECHO model (no field layout); pick a model.safetensors")
    return meta


# the rocked start (CylinderCase.kick) develops the street by this time; the forecast starts after it
SHEDDING_BY = 1.25


def solve_reference_case(folder: Path, mesh: str, dt: float, end_time: float) -> Path:
    """The DFG 2D-2 case (Um 1.5, Re 100) written every dt, started by rocking the cylinder for one
    shedding period (as the training family was); reused when already solved."""
    from echo_model.cases.cylinder import run_case
    from echo_model.cases.cylinder_case import CylinderCase

    case = CylinderCase(Um=1.5, cx=0.2, cy=0.2, mesh=mesh, end_time=end_time, write_interval=dt, kick=0.5)
    t0 = time.perf_counter()
    timings = run_case(folder, case, nice=0)
    how = "reused" if timings.get("reused") else f"solved in {time.perf_counter() - t0:.0f} s"
    print(f"[1/3] OpenFOAM case {folder} (DFG 2D-2, Re {case.Re:.0f}, mesh {mesh}, dt {dt:g}, "
          f"t = 0 .. {end_time:g}): {how}", flush=True)
    return folder


def run(args: argparse.Namespace) -> int:
    from .pvbatch_job import run_pvbatch as _pvbatch

    model = Path(args.model if args.model_given else DEFAULT_MODEL).resolve()
    meta = _model_meta(model)
    dt = float(meta.get("dt", 0.025))
    field = args.field
    if field not in [n for n, _ in meta["field_layout"]]:
        raise EchoUserError(f"--field {field!r} is not predicted by {model.name}; it predicts "
                            f"{[n for n, _ in meta['field_layout']]}")
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    frames = args.frames or 20
    if args.case_dir is None:
        end = round(SHEDDING_BY + 0.25 + frames * dt, 9)
        case = solve_reference_case(out / "case", args.mesh, dt, end)
        start = args.start if args.start is not None else round(end - frames * dt, 9)
    else:
        case = args.case_dir.resolve()
        if not (case / "system" / "controlDict").is_file():
            raise EchoUserError(f"--case {case} is not an OpenFOAM case (no system/controlDict)")
        start = args.start
    (case / "case.foam").touch()
    params = {"Um": 1.5, "Re": 100.0, "cx": 0.2, "cy": 0.2, "nu": 1e-3} if args.case_dir is None else {}
    names = meta.get("param_names", [])
    run_args = {
        "foam": str(case / "case.foam"), "model": str(model), "frames": frames, "start": start,
        "field": field, "samples": args.samples, "seed": args.seed, "outdir": str(out),
        "parameters": args.parameters if args.parameters is not None else
                      ", ".join(f"{n}={params[n]:g}" for n in names if n in params),
    }
    args_file = out / "pv_args.json"
    args_file.write_text(json.dumps(run_args, indent=1))
    print(f"[2/3] pvbatch: OpenFOAMReader -> EchoRollout ({frames} frames of dt {dt:g} from t = "
          f"{start if start is not None else 'the first step'}) ...", flush=True)
    t0 = time.perf_counter()
    _pvbatch(args_file, out / "pvbatch.log", script=pvbatch_script("pv_demo_cylinder.py"))
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["pvbatch_seconds"] = time.perf_counter() - t0
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    _sheet(out, metrics["snapshots"])
    _error_plot(out, metrics, field)
    _report(out, metrics, case, field)
    return 0


def _report(out: Path, metrics: dict, case: Path, field: str) -> None:
    """The filter's warnings (e.g. parameters it did not get) and the per-frame comparison, on the console."""
    log = out / "pvbatch.log"
    for line in log.read_text(errors="replace").splitlines() if log.is_file() else []:
        if line.startswith("Warning: In EchoRollout:"):
            print("      " + line)
    print(f"[3/3] compared with the solver inside the pipeline ({field}_rel_mse field data):")
    print("      frame   t        rel-MSE    (truth interpolated)")
    for k, (t, e, interp) in enumerate(zip(metrics["times"], metrics["rel_mse"], metrics["interpolated"])):
        print(f"      {k + 1:5d}  {t:7.3f}  {e:10.4g}    {'yes' if interp else 'no'}")
    print(f"pictures: {out / 'demo.png'} (solver | ECHO | error), {out / 'error.png'}; open it in ParaView:\n"
          f"  echopv paraview --data={case / 'case.foam'}   (then Filters > ECHO > EchoRollout)")


def _sheet(out: Path, snaps: list[int]) -> None:
    """Stitch ParaView's panels into demo.png: rows = times, columns = solver | ECHO | error."""
    from .demo_plots import stitch_panels

    stitch_panels(out / "demo.png", [[out / f"panel_{k:02d}_{c}.png" for c in "abc"] for k in snaps])
    for f in out.glob("panel_*.png"):
        f.unlink()


def _error_plot(out: Path, metrics: dict, field: str) -> None:
    """The filter's per-frame {field}_rel_mse (and persistence, when the run has it) as error.png."""
    from .demo_plots import error_curve_png

    curves = {f"ECHO {field} (EchoRollout {field}_rel_mse)": metrics["rel_mse"]}
    if metrics.get("persistence"):
        curves["persistence (start frame)"] = metrics["persistence"]
    error_curve_png(out / "error.png", metrics["times"], curves, xlabel="time (s)",
                    ylabel="relative MSE vs the solver", legend_fontsize=8)

"""Per-frame cost of EchoRollout in the real ParaView GUI (under Xvfb when there is no display) and
in pvbatch, on the cylinder case at ~8-14k cells; writes benchmarks/results/gui_cylinder.md and
gui_cylinder.png (the GUI's view at a predicted frame).

The case is an OpenFOAM case folder opened with ParaView's own OpenFOAM reader (--case; make one
with `echopv demo cylinder --mesh coarse --frames 20 --samples 1 --out runs/gui_bench/demo`, which
keeps it in runs/gui_bench/demo/case, ~2 solver CPU-min). The same script runs in the GUI process
(`echopv paraview --script`) and in pvbatch, one render view, and times what an analyst waits for,
each step through the animation scene as the VCR buttons do (GoToNext / GoToPrevious: update and
render of the view):

  apply    EchoRollout created on the reader at the start time, shown, rendered
  first    the step to the first predicted time: the whole rollout runs (then it is cached)
  visit    the other predicted frames, each for the first time
  scrub    back and forth over the predicted frames again (a cached rollout), --passes each way
  reader   the same steps with the reader alone shown (EchoRollout hidden): ParaView's own cost
           for this mesh, the floor under any filter's output

Each step is measured as process CPU seconds (user + system, all threads: what a busy machine
does not inflate much) and wall seconds. The table gives medians per frame.

    .venv/bin/python benchmarks/gui_cylinder.py --case runs/gui_bench/demo/case \\
        --model sample_cases/cylinder/model.safetensors --frames 20 --start 5.5
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

SCRIPT = r'''
import json, os, resource, time
from paraview.simple import *
A = json.loads(open({args!r}).read())

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def timed(fn):
    c0, t0 = cpu(), time.perf_counter()
    fn()
    return [cpu() - c0, time.perf_counter() - t0]

res = {{"load_before": list(os.getloadavg())}}
reader = OpenFOAMReader(FileName=A["foam"])
reader.MeshRegions = ["internalMesh"]
view = GetActiveViewOrCreate("RenderView")
view.ViewSize = [1000, 500]
view.OrientationAxesVisibility = 0
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.PlayMode = "Snap To TimeSteps"
scene.AnimationTime = A["start"]
state = {{}}

def apply():
    roll = EchoRollout(Input=reader, Checkpoint=A["model"], NumberOfFrames=A["frames"], StartTime="current",
                       Parameters=A["parameters"], NumberOfThreads=A["threads"])
    state["display"] = Show(roll, view)
    Hide(reader, view)
    Render(view)
    state["roll"] = roll

res["apply"] = timed(apply)
roll = state["roll"]
scene.UpdateAnimationUsingDataTimeSteps()
pred = roll.GetClientSideObject().GetPredictedTimes()
view.CameraPosition = [1.1, 0.2, 4.0]; view.CameraFocalPoint = [1.1, 0.2, 0.0]; view.CameraViewUp = [0, 1, 0]
view.CameraParallelProjection = 1; view.CameraParallelScale = 0.3
res["first"] = timed(scene.GoToNext)
res["first_time"] = float(GetTimeKeeper().Time)
res["visit"] = [timed(scene.GoToNext) for _ in pred[1:]]
res["scrub"] = []
for _ in range(A["passes"]):
    res["scrub"] += [timed(scene.GoToPrevious) for _ in pred[1:]]
    res["scrub"] += [timed(scene.GoToNext) for _ in pred[1:]]
res["last_time"] = float(GetTimeKeeper().Time)
client = roll.GetClientSideObject()
res.update(n_rollouts=client.n_rollouts, last_error=client.last_error, predicted=pred,
           n_cells=reader.GetDataInformation().GetNumberOfCells(), times=len(roll.TimestepValues))
ColorBy(state["display"], ("CELLS", "p_pred"))
scene.AnimationTime = pred[len(pred) // 2]
state["display"].RescaleTransferFunctionToDataRange(False, True)
view.CameraParallelScale = 0.25
view.CameraPosition = [1.1, 0.205, 4.0]; view.CameraFocalPoint = [1.1, 0.205, 0.0]
SaveScreenshot(A["png"], view, ImageResolution=[1000, 500])
Hide(roll, view)
Show(reader, view)
scene.AnimationTime = pred[0]
Render(view)
res["reader"] = []
for _ in range(A["passes"]):
    res["reader"] += [timed(scene.GoToNext) for _ in pred[1:]]
    res["reader"] += [timed(scene.GoToPrevious) for _ in pred[1:]]
res["load_after"] = list(os.getloadavg())
open(A["result"], "w").write(json.dumps(res))
print("BENCH DONE", flush=True)
'''


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if s else float("nan")


def run_tool(tool: str, work: Path, run_args: dict, timeout: float, checkout: Path = REPO) -> dict:
    """Run the timing script in `echopv paraview --script` (GUI) or `echopv pvbatch`; returns its result."""
    script = work / f"{tool}_script.py"
    args_file = work / f"{tool}_args.json"
    run_args = dict(run_args, result=str(work / f"{tool}_result.json"), png=str(work / f"{tool}.png"))
    args_file.write_text(json.dumps(run_args))
    script.write_text(SCRIPT.format(args=str(args_file)))
    if tool == "paraview":
        cmd = [sys.executable, "-m", "echo_paraview.cli", "paraview", "--dr", f"--script={script}", "--exit"]
    else:
        cmd = [sys.executable, "-m", "echo_paraview.cli", "pvbatch", str(script)]
    # run from the checkout under test: its echo_paraview (and plugins/) is the one ParaView loads
    run = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, timeout=timeout)
    if "BENCH DONE" not in run.stdout:
        raise SystemExit(f"{tool} did not finish:\n{(run.stdout + run.stderr)[-4000:]}")
    return json.loads(Path(run_args["result"]).read_text())


def rows_of(res: dict) -> list[tuple[str, str]]:
    """(step, "CPU-s (wall s)") rows of one tool's result; per-frame rows are medians."""
    def per_frame(key: str) -> str:
        cpu, wall = [x[0] for x in res[key]], [x[1] for x in res[key]]
        return f"{_median(cpu):.3f} ({_median(wall):.2f})"

    n = len(res["predicted"])
    return [("Apply (create, show, render at the start time)", f"{res['apply'][0]:.2f} ({res['apply'][1]:.1f})"),
            (f"first predicted frame (the whole {n}-frame rollout)", f"{res['first'][0]:.2f} ({res['first'][1]:.1f})"),
            (f"predicted frames 2..{n}, first visit, per frame", per_frame("visit")),
            ("scrub a cached rollout (back and forth), per frame", per_frame("scrub")),
            ("the reader alone shown, same steps, per frame (ParaView's floor)", per_frame("reader"))]


def _rel(p: Path) -> str:
    """A path as the command line gives it from the repository root (no machine directories)."""
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return p.name


def markdown(results: dict[str, dict], args: argparse.Namespace, note: str) -> str:
    any_res = next(iter(results.values()))
    table = ["| step: CPU-s (wall s) | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    per_tool = {t: rows_of(r) for t, r in results.items()}
    for i, (label, _) in enumerate(next(iter(per_tool.values()))):
        table.append(f"| {label} | " + " | ".join(rows[i][1] for rows in per_tool.values()) + " |")
    loads = "; ".join(f"{t} {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}" for t, r in results.items())
    cmd = (f".venv/bin/python benchmarks/gui_cylinder.py --case {_rel(args.case)} --model {_rel(args.model)} "
           f"--frames {args.frames} --start {args.start} --threads {args.threads} --passes {args.passes}")
    return (f"# EchoRollout per-frame cost in the ParaView GUI (cylinder, {any_res['n_cells']:,} cells)\n\n"
            f"Command: `{cmd}`\n\n"
            f"ParaView 5.11 (Debian) GUI under Xvfb (Mesa software OpenGL) and pvbatch; one render view "
            f"1000 x 500; the OpenFOAM reader on the case (internalMesh, {any_res['n_cells']:,} cells, cell "
            f"and point data U, p), EchoRollout on it from t = {args.start} with {args.frames} frames "
            f"({any_res['times']} output steps), NumberOfThreads {args.threads}; each step taken by the animation "
            f"scene (GoToNext / GoToPrevious, as the VCR buttons), which updates and renders the view. "
            f"{any_res['n_rollouts']} rollout per run. CPU-s: the ParaView process's user + system seconds "
            f"(all threads). Machine: {os.cpu_count()} cores ({platform.machine()}), shared with other jobs; 1-min "
            f"load average before -> after each run: {loads}; wall times are inflated by them.\n\n"
            + "\n".join(table) + "\n\n" + (note + "\n\n" if note else "")
            + "![EchoRollout's p_pred at a predicted frame, in the GUI](gui_cylinder.png)\n")


def measure(args: argparse.Namespace, work: Path) -> dict:
    """Run the timing script in each tool (Xvfb when there is no display); {"GUI" | "pvbatch": raw timings}."""
    from echo_paraview import xvfb

    foam = args.case / "case.foam"
    if not foam.exists():
        foam.touch()
    run_args = {"foam": str(foam.resolve()), "model": str(args.model.resolve()), "frames": args.frames,
                "start": args.start, "parameters": args.parameters, "threads": args.threads, "passes": args.passes}
    x = xvfb.start() if not os.environ.get("DISPLAY") else None
    if x:
        os.environ["DISPLAY"] = x.display
    results = {}
    try:
        for tool in [t.strip() for t in args.tools.split(",") if t.strip()]:
            t0 = time.perf_counter()
            results["GUI" if tool == "paraview" else tool] = run_tool(tool, work, run_args, timeout=1800,
                                                                      checkout=args.checkout.resolve())
            print(f"{tool}: {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        if x:
            x.stop()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", type=Path, required=True, help="OpenFOAM case folder (case.foam is added if missing)")
    ap.add_argument("--model", type=Path, default=REPO / "sample_cases/cylinder/model.safetensors")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--start", type=float, default=5.5, help="start time of the forecast (an input step)")
    ap.add_argument("--parameters", default="Um=1.5, Re=100, cx=0.2, cy=0.2, nu=0.001")
    ap.add_argument("--threads", type=int, default=0, help="EchoRollout's NumberOfThreads (0: torch's default)")
    ap.add_argument("--passes", type=int, default=1, help="scrub passes back and forth")
    ap.add_argument("--tools", default="paraview,pvbatch", help="which of paraview (the GUI), pvbatch to run")
    ap.add_argument("--checkout", type=Path, default=REPO,
                    help="the source tree to measure (another commit's export, for a before/after); default this one")
    ap.add_argument("--out-json", type=Path, default=None, help="also keep the raw timings here")
    ap.add_argument("--baseline", action="append", default=[], metavar="LABEL=JSON",
                    help="add a previous run's raw timings (--out-json) as columns labelled LABEL (e.g. the code "
                         "before a change, measured with --checkout)")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="write the table from this run's raw timings (--out-json) instead of measuring again")
    ap.add_argument("--note", default="", help="a paragraph kept in the .md (what changed, what was compared)")
    ap.add_argument("--out", type=Path, default=RESULTS / "gui_cylinder.md")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    work = REPO / "runs" / "gui_cylinder_bench"
    work.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.from_json.read_text()) if args.from_json else measure(args, work)
    if args.out_json:
        args.out_json.write_text(json.dumps(results, indent=1))
    for item in args.baseline:
        label, _, path = item.partition("=")
        for tool, res in json.loads(Path(path).read_text()).items():
            results[f"{tool} {label}"] = res
    for name, res in results.items():
        if res["last_error"] or res["n_rollouts"] != 1:
            raise SystemExit(f"{name}: {res['n_rollouts']} rollouts, last_error {res['last_error']!r}")
    png = work / ("paraview.png" if "GUI" in results else "pvbatch.png")  # this run's (not a baseline's)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        (args.out.parent / "gui_cylinder.png").write_bytes(png.read_bytes())
    text = markdown(results, args, args.note)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

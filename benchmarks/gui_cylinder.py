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
  parts    a cached step taken apart: EchoRollout's pipeline update alone (UpdatePipeline), the
           view's update of its representations alone (view.Update: surface, data information),
           one render alone (StillRender); and how many times the view rendered per step
  reader   the same steps with the reader alone shown (EchoRollout hidden): ParaView's own cost
           for this mesh, the floor under any filter's output; once with EchoRollout still the
           active source (as before), once with the reader active (the Properties panel then
           shows the reader: ParaView's GUI renders a composite output twice per step, see
           benchmarks/results/gui_cylinder.md)

Each step is measured as process CPU seconds (user + system, all threads: what a busy machine
does not inflate much) and wall seconds. The table gives medians per frame.

    .venv/bin/python benchmarks/gui_cylinder.py --case runs/gui_bench/demo/case \\
        --model sample_cases/cylinder/model.safetensors --frames 20 --start 5.5

`--screenshots` instead opens the corrected GUI session (solver p, ECHO p_pred on one shared
colour map, p_error on a diverging map centred on 0; three linked views) and grabs the whole
screen at a mid and at the last predicted frame: benchmarks/results/gui_cylinder_session*.png.
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
from paraview import servermanager as sm
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
renders = [0]  # renders of the view (its render window's EndEvent), to split a step's cost
view.GetRenderWindow().AddObserver("EndEvent", lambda obj, event: renders.__setitem__(0, renders[0] + 1))

def counted(steps):
    n0, out = renders[0], [timed(step) for step in steps]
    res.setdefault("renders", {{}})[state["phase"]] = (renders[0] - n0) / max(1, len(steps))
    return out

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
n0 = renders[0]
res["first"] = timed(scene.GoToNext)
res["first_renders"] = renders[0] - n0
res["first_time"] = float(GetTimeKeeper().Time)
state["phase"] = "visit"
res["visit"] = counted([scene.GoToNext] * (len(pred) - 1))
back_and_forth = ([scene.GoToPrevious] * (len(pred) - 1) + [scene.GoToNext] * (len(pred) - 1)) * A["passes"]
state["phase"] = "scrub"
res["scrub"] = counted(back_and_forth)
res["last_time"] = float(GetTimeKeeper().Time)
# the parts of a cached step, each alone: the filter's pipeline update, the view's update of its
# representations (surface extraction, data information, delivery) and one render of the view
res["part_pipeline"] = [timed(lambda t=t: roll.UpdatePipeline(t)) for t in pred[1:]]
res["part_view_update"], res["part_render"] = [], []
for t in pred[1:]:
    view.ViewTime = t
    res["part_view_update"].append(timed(view.Update))
    Render(view)
    res["part_render"].append(timed(view.StillRender))
view.ViewTime = GetTimeKeeper().Time
client = roll.GetClientSideObject()
res.update(n_rollouts=client.n_rollouts, last_error=client.last_error, predicted=pred,
           n_cells=reader.GetDataInformation().GetNumberOfCells(), times=len(roll.TimestepValues))
# the view at a predicted frame: the whole channel, p_pred on the plugin's shared p / p_pred map
# (SetScalarColoring as the GUI's colour box; simple.ColorBy would rescale to this frame alone)
state["display"].SetScalarColoring("p_pred", sm.GetAssociationFromString("CELLS"))
GetColorTransferFunction("p_pred").ApplyPreset("Turbo", True)
scene.AnimationTime = pred[len(pred) // 2]
Render(view)
view.CameraPosition = [0.5, 0.205, 4.0]; view.CameraFocalPoint = [0.5, 0.205, 0.0]  # the cylinder, its wake
view.CameraParallelScale = 0.26
state["display"].SetScalarBarVisibility(view, True)
SaveScreenshot(A["png"], view, ImageResolution=[1000, 500])
state["display"].SetScalarBarVisibility(view, False)
Hide(roll, view)
Show(reader, view)
scene.AnimationTime = pred[-1]  # back and forth over the same steps as the scrub above
Render(view)
state["phase"] = "reader"
res["reader"] = counted(back_and_forth)
SetActiveSource(reader)  # the Properties panel now shows the reader (as EchoRollout above)
state["phase"] = "reader_active"
res["reader_active"] = counted(back_and_forth)
res["load_after"] = list(os.getloadavg())
open(A["result"], "w").write(json.dumps(res))
print("BENCH DONE", flush=True)
'''


#: the corrected GUI session's screenshots (--screenshots): key -> (file in results/, caption)
SESSION_PNGS = {
    "mid": ("gui_cylinder_session.png", "The GUI session: solver p, ECHO p_pred (one shared colour map) and "
            "p_error (diverging, centred on 0) at a predicted frame, the time keeper on the solver's steps"),
    "last": ("gui_cylinder_session_last.png", "The same session at the forecast's last frame"),
}

SESSION_SCRIPT = r"""
import json, os, time
from paraview.simple import *
from paraview import servermanager as sm
A = json.loads(open({args!r}).read())
reader = OpenFOAMReader(registrationName="case.foam", FileName=A["foam"])
reader.MeshRegions = ["internalMesh"]
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.PlayMode = "Snap To TimeSteps"
scene.AnimationTime = A["start"]
v1 = GetActiveViewOrCreate("RenderView")
layout = GetLayout(v1)
roll = EchoRollout(registrationName="EchoRollout1", Input=reader, Checkpoint=A["model"], NumberOfFrames=A["frames"],
                   StartTime="current", Parameters=A["parameters"], NumberOfThreads=A["threads"])
v2, v3 = CreateView("RenderView"), CreateView("RenderView")
layout.SplitVertical(0, 1.0 / 3.0)  # three views stacked: solver p, ECHO p_pred, p_error
layout.AssignView(1, v1)
layout.SplitVertical(2, 0.5)
layout.AssignView(5, v2)
layout.AssignView(6, v3)
views = [v1, v2, v3]
names = ("p", "p_pred", "p_error")
titles = ("solver p (OpenFOAM)", "ECHO p_pred (same colour map)", "p_error = p_pred - p (diverging, centred on 0)")
disps = [Show(roll, v) for v in views]
scene.UpdateAnimationUsingDataTimeSteps()
pred = roll.GetClientSideObject().GetPredictedTimes()
scene.AnimationTime = pred[A["frame"]]  # the rollout runs here; the plugin sets the colour maps after it
for d, name in zip(disps, names):
    d.SetScalarColoring(name, sm.GetAssociationFromString("CELLS"))  # as the GUI's colour box does
GetColorTransferFunction("p").ApplyPreset("Turbo", True)  # the shared p / p_pred map (one proxy)
clock = AnnotateTimeFilter(registrationName="time", Input=roll)
clock.Format = "t = {{time:.3f}}"
for v, d, name, title in zip(views, disps, names, titles):
    v.OrientationAxesVisibility = 0
    d.SetScalarBarVisibility(v, True)
    bar = GetScalarBar(GetColorTransferFunction(name), v)
    bar.Title, bar.ComponentTitle, bar.Orientation = name, "", "Vertical"
    bar.WindowLocation, bar.Position, bar.ScalarBarLength = "Any Location", [0.89, 0.08], 0.8
    bar.RangeLabelFormat = "%-#6.2f"
    label = Show(Text(registrationName=f"title {{name}}", Text=title), v)
    label.WindowLocation, label.FontSize = "Upper Left Corner", 14
    stamp = Show(clock, v)
    stamp.WindowLocation, stamp.FontSize = "Upper Right Corner", 14
SetActiveView(v2)
SetActiveSource(roll)

def frame_views():
    for v in views:  # after a first Render (pvpython's first Render resets the camera)
        Render(v)
        v.CameraPosition, v.CameraFocalPoint = [1.28, 0.205, 4.0], [1.28, 0.205, 0.0]
        v.CameraViewUp, v.CameraParallelProjection, v.CameraParallelScale = [0, 1, 0], 1, 0.32
        Render(v)

info = {{"time": float(GetTimeKeeper().Time), "n_times": len(GetTimeKeeper().TimestepValues), "n_predicted": len(pred)}}
frame_views()
luts = {{n: GetColorTransferFunction(n) for n in names}}
client = roll.GetClientSideObject()
info.update(p_is_p_pred=luts["p"].SMProxy is luts["p_pred"].SMProxy,
            ranges={{n: [luts[n].RGBPoints[0], luts[n].RGBPoints[-4]] for n in names}},
            error_rescale=str(luts["p_error"].AutomaticRescaleRangeMode), n_rollouts=client.n_rollouts,
            last_error=client.last_error)
# the script returns: only then does the GUI paint (it runs in the GUI's thread); the screen is grabbed outside
open(A["ready"], "w").write(json.dumps(info))
"""


def session_screenshots(args: argparse.Namespace, work: Path, settle: float = 8.0) -> dict:
    """The corrected GUI session (three linked views: p, p_pred, p_error), opened with `echopv
    paraview --script` once per screenshot (a mid and the last predicted frame): once the script has
    returned and the GUI has painted, the whole X screen is grabbed (`import -window root`) into
    benchmarks/results/. Returns what each session reported (times, colour ranges)."""
    from echo_paraview import xvfb

    x = xvfb.start() if not os.environ.get("DISPLAY") else None
    display = x.display if x else os.environ["DISPLAY"]
    seen = {}
    try:
        for key, (name, _) in SESSION_PNGS.items():
            frame = min(args.frames - 1, 11) if key == "mid" else args.frames - 1
            seen[key] = _grab_session(args, work, display, frame, args.out.parent / name, settle)
    finally:
        if x:
            x.stop()
    return seen


def _grab_session(args: argparse.Namespace, work: Path, display: str, frame: int, png: Path, settle: float) -> dict:
    from echo_paraview.xvfb import stop_session

    ready = work / "session_ready.json"
    ready.unlink(missing_ok=True)
    run_args = {"foam": str((args.case / "case.foam").resolve()), "model": str(args.model.resolve()),
                "frames": args.frames, "start": args.start, "parameters": args.parameters,
                "threads": args.threads, "frame": frame, "ready": str(ready)}
    (work / "session_args.json").write_text(json.dumps(run_args))
    script = work / "session_script.py"
    script.write_text(SESSION_SCRIPT.format(args=str(work / "session_args.json")))
    env = {**os.environ, "DISPLAY": display, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    with open(work / "session.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "echo_paraview.cli", "paraview", f"--script={script}", "--dr",
                                 "-geometry", "1280x1024+0+0"], stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=args.checkout.resolve(), start_new_session=True)
        try:
            deadline = time.monotonic() + 900
            while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            if not ready.exists():
                raise SystemExit("the GUI session did not finish its script:\n"
                                 + (work / "session.log").read_text(errors="replace")[-3000:])
            time.sleep(settle)  # the script has returned: the GUI paints its panels and views
            subprocess.run(["import", "-display", display, "-window", "root", str(png)], check=True)
        finally:
            stop_session(proc)
    return json.loads(ready.read_text())


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
    """(step, "CPU-s (wall s)") rows of one tool's result; per-frame rows are medians ("-": not
    measured by that run, e.g. a baseline made by an older version of this script)."""
    def per_frame(key: str) -> str:
        if key not in res:
            return "-"
        cpu, wall = [x[0] for x in res[key]], [x[1] for x in res[key]]
        return f"{_median(cpu):.3f} ({_median(wall):.2f})"

    def renders(key: str) -> str:
        n = res.get("renders", {}).get(key)
        return "-" if n is None else f"{n:.2f}"

    n = len(res["predicted"])
    return [("Apply (create, show, render at the start time)", f"{res['apply'][0]:.2f} ({res['apply'][1]:.1f})"),
            (f"first predicted frame (the whole {n}-frame rollout)", f"{res['first'][0]:.2f} ({res['first'][1]:.1f})"),
            (f"predicted frames 2..{n}, first visit, per frame", per_frame("visit")),
            ("scrub a cached rollout (back and forth), per frame", per_frame("scrub")),
            ("... renders of the view per scrubbed frame", renders("scrub")),
            ("... of which EchoRollout's pipeline update alone (UpdatePipeline), per frame", per_frame("part_pipeline")),
            ("... of which the view's update alone (surface, data information), per frame", per_frame("part_view_update")),
            ("... of which one render of the view alone (StillRender), per render", per_frame("part_render")),
            ("the reader alone shown, EchoRollout active, same steps, per frame", per_frame("reader")),
            ("... renders of the view per frame", renders("reader")),
            ("the reader alone shown and active, same steps, per frame", per_frame("reader_active")),
            ("... renders of the view per frame", renders("reader_active"))]


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
            + "![EchoRollout's p_pred at a predicted frame, in the GUI](gui_cylinder.png)\n"
            + "".join(f"\n![{caption}]({name})\n" for name, caption in SESSION_PNGS.values()
                      if (args.out.parent / name).exists()))


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
    ap.add_argument("--note-file", type=Path, default=None, help="the note's text from this file instead")
    ap.add_argument("--screenshots", action="store_true",
                    help="only grab the GUI session's screenshots (gui_cylinder_session*.png), no timings")
    ap.add_argument("--out", type=Path, default=RESULTS / "gui_cylinder.md")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    work = REPO / "runs" / "gui_cylinder_bench"
    work.mkdir(parents=True, exist_ok=True)
    if args.screenshots:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for key, info in session_screenshots(args, work).items():
            print(f"{SESSION_PNGS[key][0]}: {json.dumps(info)}")
        return 0
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
    note = args.note_file.read_text().strip() if args.note_file else args.note
    text = markdown(results, args, note)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

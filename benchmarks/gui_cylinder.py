"""GUI timings of EchoRollout on the cylinder case, in the real ParaView GUI (under Xvfb when there
is no display), and a screenshot of the workflow for the README.

The case: `echopv demo cylinder`'s OpenFOAM case (DFG 2D-2, Re 100; --case), opened with ParaView's
OpenFOAM reader. A --script in the GUI process times what an analyst waits for:
  apply      EchoRollout created on the reader, shown, first render (at the start time: the input)
  first      moving to the first predicted time: the whole rollout runs (then cached)
  scrub      every later predicted time, both views rendered (the reader in a second view)
Prints a table, writes benchmarks/results/gui_cylinder.md and gui_cylinder.png (the GUI window).

    .venv/bin/python benchmarks/gui_cylinder.py --case runs/demo_cylinder/case \
        --model sample_cases/cylinder/model.safetensors --frames 20 --start 5.5
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

SCRIPT = r'''
import json, time
from paraview.simple import *
args = json.loads(open({args!r}).read())
reader = OpenFOAMReader(FileName=args["foam"])
reader.MeshRegions = ["internalMesh"]
layout = GetLayout()
v1 = GetActiveViewOrCreate("RenderView")
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.AnimationTime = args["start"]  # the analyst stands at the start time and applies the filter
t0 = time.perf_counter()
roll = EchoRollout(Input=reader, Checkpoint=args["model"], NumberOfFrames=args["frames"], StartTime="current",
                   Parameters=args["parameters"])
d1 = Show(roll, v1)
Render(v1)
apply_s = time.perf_counter() - t0
v2 = CreateView("RenderView")
layout.SplitVertical(0, 0.5)  # EchoRollout above, the solver below: both wide like the channel
layout.AssignView(2, v2)
d2 = Show(reader, v2)
ColorBy(d2, ("CELLS", "p"))
ColorBy(d1, ("CELLS", "p_pred"))
for v in (v1, v2):
    v.OrientationAxesVisibility = 0
    v.CameraPosition = [1.1, 0.2, 4.0]; v.CameraFocalPoint = [1.1, 0.2, 0.0]; v.CameraViewUp = [0, 1, 0]
    v.CameraParallelProjection = 1; v.CameraParallelScale = 0.3
scene.UpdateAnimationUsingDataTimeSteps()
times = list(roll.TimestepValues)
pred = times[-args["frames"]:]
t0 = time.perf_counter()
scene.AnimationTime = pred[0]
Render(v1)
first_s = time.perf_counter() - t0
scrub = []
for t in pred[1:]:
    t0 = time.perf_counter()
    scene.AnimationTime = t
    Render(v1)
    Render(v2)
    scrub.append(time.perf_counter() - t0)
scene.AnimationTime = pred[len(pred) // 2]
for d, name in ((d1, "p_pred"), (d2, "p")):
    lut = GetColorTransferFunction(name)
    lut.ApplyPreset("Cool to Warm", True)
    lut.RescaleTransferFunction(-1.5, 1.5)
    d.SetScalarBarVisibility(d.GetView() if hasattr(d, "GetView") else (v1 if d is d1 else v2), True)
SetActiveSource(roll)
Render(v1); Render(v2)
res = {{"apply_s": apply_s, "first_s": first_s, "scrub_s": scrub, "n_cells": reader.GetDataInformation().GetNumberOfCells(),
       "n_rollouts": roll.GetClientSideObject().n_rollouts, "times": len(times)}}
open(args["result"], "w").write(json.dumps(res))
print("TIMED", flush=True)
'''


def _trim(png: Path) -> None:
    """Cut the screenshot of the X screen down to the ParaView window (the root is black)."""
    import numpy as np
    from PIL import Image

    img = Image.open(png).convert("RGB")
    a = np.asarray(img)
    rows, cols = np.where(a.max(axis=2) > 8)
    img.crop((0, 0, int(cols.max()) + 1, int(rows.max()) + 1)).save(png)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", type=Path, required=True, help="OpenFOAM case folder (with or without case.foam)")
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--start", type=float, default=5.5)
    ap.add_argument("--parameters", default="Um=1.5, Re=100, cx=0.2, cy=0.2, nu=0.001")
    ap.add_argument("--note", default="", help="a line about the model (how it was trained), kept in the .md")
    ap.add_argument("--wait", type=float, default=15.0, help="seconds for the GUI to paint before the screenshot")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from echo_paraview import xvfb

    work = RESULTS / "gui_cylinder_work"
    work.mkdir(parents=True, exist_ok=True)
    (args.case / "case.foam").touch()
    run_args = {"foam": str((args.case / "case.foam").resolve()), "model": str(args.model.resolve()),
                "frames": args.frames, "start": args.start, "parameters": args.parameters,
                "result": str(work / "result.json")}
    (work / "args.json").write_text(json.dumps(run_args))
    script = work / "script.py"
    script.write_text(SCRIPT.format(args=str(work / "args.json")))
    x = xvfb.start() if not os.environ.get("DISPLAY") else None
    env = dict(os.environ, **({"DISPLAY": x.display} if x else {}))
    cmd = [sys.executable, "-m", "echo_paraview.cli", "paraview", "--dr", f"--script={script}"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        for line in proc.stdout:
            if "TIMED" in line:
                break
        time.sleep(args.wait)
        png = RESULTS / "gui_cylinder.png"
        subprocess.run(["import", "-window", "root", str(png)], env=env, timeout=60, check=True)
        _trim(png)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if x:
            x.stop()
    res = json.loads((work / "result.json").read_text())
    scrub = sorted(res["scrub_s"])
    median = scrub[len(scrub) // 2]
    cmd_line = (f".venv/bin/python benchmarks/gui_cylinder.py --case {args.case} --model {args.model} "
                f"--frames {args.frames} --start {args.start}" + (f" --note '...'" if args.note else ""))
    rows = [("Apply (create, show, first render at the start time)", f"{res['apply_s']:.2f}"),
            (f"first predicted frame (the whole {args.frames}-frame rollout)", f"{res['first_s']:.2f}"),
            ("scrub, per predicted frame (both views), median", f"{median:.2f}"),
            ("scrub, per predicted frame (both views), max", f"{scrub[-1]:.2f}")]
    table = "\n".join(f"| {a} | {b} |" for a, b in rows)
    text = (f"# EchoRollout in the ParaView GUI on the cylinder case\n\n"
            f"Command: `{cmd_line}`\n\n"
            f"ParaView 5.11 GUI under Xvfb (software OpenGL), {res['n_cells']} cells, {res['times']} time steps "
            f"on EchoRollout, {res['n_rollouts']} rollout(s) in all; 2 shared CPU cores on a busy machine "
            f"(other jobs running), so the figures are indicative.\n\n{args.note + chr(10) + chr(10) if args.note else ''}| step | seconds |\n|---|---|\n{table}\n\n"
            f"![the GUI: EchoRollout (top) and the OpenFOAM reader (bottom)](gui_cylinder.png)\n")
    (RESULTS / "gui_cylinder.md").write_text(text)
    print(text)
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())

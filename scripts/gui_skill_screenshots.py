"""Screenshots of the skill report and the state check in the ParaView GUI (issue 19).

Builds a one-trajectory dataset (a travelling wave on 300 points) and a DMD model with its skill
report and state reference (`train_dmd`), marks the run finished (`RUN/pipeline.json`), then
opens three GUI sessions (Xvfb when DISPLAY is unset) and grabs the whole screen of each:

1. `gui_skill_echotrain.png`: EchoTrain's panel after Refresh, its Status ending with the model's
   skill summary, Output Messages holding the full report;
2. `gui_skill_model_table.png`: the model file opened (EchoModelReader) in a spreadsheet view with
   its "skill ..." rows;
3. `gui_state_warning.png`: EchoRollout started from a state unlike the training states, Output
   Messages warning "the input state is unlike the training states".

Each GUI script prints `SCENE <name>` lines (Status, ...) that tests/gui/test_gui_skill.py reads.

    .venv/bin/python scripts/gui_skill_screenshots.py --out benchmarks/results
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCENES = {"echotrain": "gui_skill_echotrain.png", "model_table": "gui_skill_model_table.png",
          "state_warning": "gui_state_warning.png"}


def make_files(work: Path) -> dict:
    """The dataset, the DMD model (skill report and state reference in its header), the finished
    run's pipeline.json and an unlike start state (.vtu)."""
    from echo_model.data.store import write_dataset
    from echo_model.data.trajectory import Trajectory
    from echo_model.train.runs import DMDRun
    from echo_model.train.stage_dmd import train_dmd
    from echo_paraview import convert
    from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter

    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(300, 2))
    t = 0.1 * np.arange(40)
    u = 1.0 + np.sin(2 * np.pi * (pts[None, :, 0] - 0.5 * t[:, None]))
    traj = Trajectory(points=pts, fields=u[..., None].astype(np.float32), times=t, field_layout=[("u", 1)])
    data = work / "wave.h5"
    write_dataset(data, [traj], name="wave", split={"train": [0]})
    model = train_dmd(DMDRun(data=str(data), run=str(work / "run")))
    (model.parent / "pipeline.json").write_text(json.dumps(
        {"stage": "done", "stage_index": 1, "n_stages": 1, "state": "done", "error": None, "model": str(model),
         "progress": None}))
    other = 1.0 + np.sin(6 * np.pi * pts[:, 0]) * np.cos(2 * np.pi * pts[:, 1])
    w = vtkXMLUnstructuredGridWriter()
    w.SetInputData(convert.make_unstructured_grid(pts, None, {"u": other.astype(np.float32)}))
    w.SetFileName(str(work / "unlike.vtu"))
    w.Write()
    return {"data": str(data), "model": str(model), "run": str(model.parent), "unlike": str(work / "unlike.vtu")}


HEAD = r'''
from paraview.simple import *
files = {files!r}
def note(text):  # what the test reads back (not printed: it would show in Output Messages)
    with open(files["notes"], "a") as fh:
        fh.write(text + "\n")
view = GetActiveViewOrCreate("RenderView")
'''

SCRIPTS = {
    "echotrain": r'''
src = OpenDataFile(files["data"])
Show(src, view)
ResetCamera(view)
train = EchoTrain(Input=src, RunDirectory=files["run"])
train.SMProxy.InvokeCommand("Refresh")
train.UpdatePropertyInformation()
note("SCENE echotrain status: " + train.GetProperty("Status").GetData())
SetActiveSource(train)
''',
    "model_table": r'''
r = OpenDataFile(files["model"])
layout = GetLayout(view)
Delete(view)
sheet = CreateView("SpreadSheetView")
AssignViewToLayout(view=sheet, layout=layout, hint=0)
Show(r, sheet)
sheet.HiddenColumnLabels = ["Row ID"]
r.UpdatePipeline()
import paraview.servermanager as sm
t = sm.Fetch(r)
rows = [" | ".join(t.GetColumn(c).GetValue(i) for c in range(t.GetNumberOfColumns())) for i in range(t.GetNumberOfRows())]
for row in rows:
    if "skill" in row:
        note("SCENE model_table row: " + row)
SetActiveSource(r)
''',
    "state_warning": r'''
src = OpenDataFile(files["unlike"])
roll = EchoRollout(Input=src, Checkpoint=files["model"], NumberOfFrames=2)
d = Show(roll, view)
d.SetRepresentationType("Points")
d.PointSize = 8
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.AnimationTime = roll.GetClientSideObject().GetPredictedTimes()[-1]  # the rollout runs (and warns)
ColorBy(d, ("POINTS", "u_pred"))
ResetCamera(view)
Render(view)
note("SCENE state_warning last_error: " + str(roll.GetClientSideObject().last_error))
''',
}

TAIL = r'''
Render()
note("SCENE READY")
open({ready!r}, "w").write("ready")
'''


def start_xvfb() -> tuple[str, subprocess.Popen]:
    for n in range(91, 200):
        if not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                if subprocess.run(["xdpyinfo", "-display", f":{n}"], capture_output=True).returncode == 0:
                    return f":{n}", proc
                time.sleep(0.2)
            proc.kill()
    raise RuntimeError("no X display could be started")


def run_scene(name: str, files: dict, display: str, png: Path, work: Path, timeout: float = 300,
              settle: float = 6.0) -> str:
    """Open the GUI with scene `name`'s script, grab the screen once the script has run and the
    GUI has painted, close the GUI; returns the scene's notes (`SCENE ...` lines) and the GUI's output."""
    from echo_paraview.xvfb import stop_session

    ready = work / f"{name}.ready"
    ready.unlink(missing_ok=True)
    script = work / f"{name}.py"
    notes = work / f"{name}.notes"
    notes.unlink(missing_ok=True)
    files = {**files, "notes": str(notes)}
    script.write_text(HEAD.format(files=files) + SCRIPTS[name] + TAIL.format(ready=str(ready)))
    log = work / f"{name}.log"
    env = {**os.environ, "DISPLAY": display, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "echo_paraview.cli", "paraview", f"--script={script}", "--dr",
                                 "-geometry", "1280x1024+0+0"],
                                stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(REPO), start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            if ready.exists():
                time.sleep(settle)  # the script has returned: the GUI paints the panels and Output Messages
                subprocess.run(["import", "-display", display, "-window", "root", str(png)], check=True)
        finally:
            stop_session(proc)
    return (notes.read_text() if notes.exists() else "") + log.read_text(errors="replace")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--scenes", nargs="*", default=list(SCENES))
    args = ap.parse_args(argv)
    xvfb = None
    display = os.environ.get("DISPLAY")
    if not display:
        display, xvfb = start_xvfb()
    work = Path(tempfile.mkdtemp(prefix="sk"))
    try:
        files = make_files(work)
        for name in args.scenes:
            png = Path(args.out) / SCENES[name]
            out = run_scene(name, files, display, png, work)
            print(f"{name}: {png} ({'written' if png.exists() else 'MISSING'})")
            print("\n".join(ln for ln in out.splitlines() if ln.startswith("SCENE ")))
    finally:
        if xvfb is not None:
            xvfb.terminate()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

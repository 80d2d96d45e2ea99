"""EchoTrain inside ParaView (through `echopv pvpython`): train from a temporal .pvd input, then
EchoRollout with the freshly trained model gives a temporal output.

The filter gathers the reader's time steps into RUN/dataset.h5 and starts `echopv train all`
in a separate process (ECHOPV_PYTHON, set by the launcher); tiny step counts keep it to seconds.
"""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.paraview

SCRIPT = r"""
import json, os, time
import numpy as np
from echo_paraview import convert
from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter
tmp = {tmp!r}
n = 10
x = (np.arange(n) + 0.5) / n
xx, yy = np.meshgrid(x, x)
pts = np.stack([xx.ravel(), yy.ravel(), np.zeros(n * n)], 1)
entries = []
times = [0.5 * i for i in range(7)]
for i, t in enumerate(times):
    ug = convert.make_unstructured_grid(pts, None, {{"w": np.sin(2 * np.pi * (pts[:, 0] + 0.1 * t)).astype("f4")}})
    w = vtkXMLUnstructuredGridWriter()
    w.SetFileName(os.path.join(tmp, f"f{{i}}.vtu"))
    w.SetInputData(ug)
    w.Write()
    entries.append(f'<DataSet timestep="{{t}}" file="f{{i}}.vtu"/>')
pvd = os.path.join(tmp, "series.pvd")
open(pvd, "w").write('<VTKFile type="Collection" version="0.1"><Collection>' + "".join(entries)
                     + "</Collection></VTKFile>")

from paraview.simple import *
import paraview.servermanager as sm
rd = PVDReader(FileName=pvd)
tr = EchoTrain(Input=rd, RunDirectory=os.path.join(tmp, "run"), AutoencoderSteps=20, RefineSteps=0, DiTSteps=20,
               Threads=1, ExtraArguments="--grid 16 --n-query 128 --dit-batch-size 8")
tr.UpdatePipeline(times[2])
res = {{"passthrough_points": tr.GetDataInformation().GetNumberOfPoints(),
        "props": [p for p in ("Dataset", "RunDirectory", "Preset", "AutoencoderSteps", "DiTSteps", "Threads")
                  if tr.GetProperty(p) is not None]}}

def status():
    tr.SMProxy.InvokeCommand("Refresh")
    tr.SMProxy.UpdatePropertyInformation()
    return tr.GetProperty("Status").GetElement(0), tr.GetProperty("ModelPath").GetElement(0)

t0 = time.time()
tr.SMProxy.InvokeCommand("Start")
res["after_start"] = status()[0]
seen = []
while time.time() - t0 < 150:
    text, model = status()
    seen.append(text.split(",")[0])
    if not text.startswith(("running", "started")):
        break
    time.sleep(0.5)
res["status"], res["model"], res["seen"] = text, model, sorted(set(seen))

if model:
    r = EchoRollout(Input=rd, Checkpoint=model, NumberOfFrames=3, Device="cpu")
    r.UpdatePipelineInformation()
    res["timesteps"] = list(r.TimestepValues)
    res["predicted"] = list(r.GetClientSideObject().GetPredictedTimes())
    res["ranges"] = []
    for t in [res["timesteps"][0]] + res["predicted"]:
        r.UpdatePipeline(t)
        d = sm.Fetch(r)
        res["ranges"].append(list(d.GetPointData().GetArray("w_pred").GetRange()))
print("RESULT:" + json.dumps(res))
"""

BAD_SCRIPT = r"""
import os
from paraview.simple import *
tr = EchoTrain(Input=Sphere(), RunDirectory=os.path.join({tmp!r}, "run"))
tr.UpdatePipeline()
tr.SMProxy.InvokeCommand("Start")
tr.SMProxy.UpdatePropertyInformation()
print("STATUS:" + tr.GetProperty("Status").GetElement(0))
print("ALIVE")
"""


def _result(run) -> dict:
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, f"no RESULT line (rc={run.returncode})\n{run.output[-4000:]}"
    return json.loads(lines[-1][len("RESULT:"):])


def test_train_in_paraview_then_rollout_with_the_model(run_pv, tmp_path):
    run = run_pv("pvpython", SCRIPT.format(tmp=str(tmp_path)), timeout=240)
    assert run.returncode == 0, run.output[-4000:]
    res = _result(run)
    log = (tmp_path / "run" / "train.log")
    log_text = log.read_text()[-3000:] if log.exists() else "(no train.log)"
    assert res["passthrough_points"] == 100
    assert len(res["props"]) == 6
    # Start only exports and spawns: it returns while the child process still trains
    assert res["after_start"].startswith(("started", "running")), res["after_start"]
    assert res["status"].startswith("done: model"), f"{res}\n{log_text}"
    assert res["model"] == str((tmp_path / "run" / "model.safetensors").resolve())
    assert (tmp_path / "run" / "dataset.h5").is_file()
    assert "train all" in log_text and "model:" in log_text
    # EchoRollout with the trained model: temporal output from the reader's first time (0), dt 0.5
    assert res["predicted"] == pytest.approx([0.5, 1.0, 1.5])
    assert res["timesteps"] == pytest.approx([0.5 * i for i in range(7)])  # the reader's steps stay
    assert res["ranges"][0] == pytest.approx([-1.0, 1.0], abs=0.05)  # step 0 = the input frame
    assert res["ranges"][1] != res["ranges"][3]
    assert "ERROR" not in run.output, run.output[-4000:]


def test_static_input_reports_error_and_paraview_survives(run_pv, tmp_path):
    run = run_pv("pvpython", BAD_SCRIPT.format(tmp=str(tmp_path)))
    out = run.output
    assert run.returncode == 0, out[-4000:]
    assert "ALIVE" in out and "Traceback" not in out, out[-4000:]
    assert "ERROR: In EchoTrain" in out
    status = [ln for ln in run.stdout.splitlines() if ln.startswith("STATUS:")][0]
    assert "time step" in status and "Dataset" in status
    assert not (tmp_path / "run" / "train.log").exists()

"""The ParaView GUI under Xvfb, as a CFD analyst uses EchoRollout: the CI OpenFOAM case in
ParaView's OpenFOAM reader, EchoRollout shown in one view and the reader in a second, Play
through the prediction (no abort), a screenshot of both views, and a state file saved and
reloaded giving the same output. The script also prints the GUI timings (Apply, first predicted
frame, per-frame scrub) that the report quotes. Set ECHOPV_TEST_ARTIFACTS=DIR to keep the PNG."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.gui, pytest.mark.paraview, pytest.mark.openfoam]

SCRIPT = r'''
import json, time
import numpy as np
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy

res = {{}}
def pred_values(proxy, t, name="p_pred"):
    proxy.UpdatePipeline(t)
    return vtk_to_numpy(sm.Fetch(proxy).GetBlock(0).GetCellData().GetArray(name)).astype(float)

reader = OpenFOAMReader(FileName={foam!r})
reader.MeshRegions = ["internalMesh"]
layout = GetLayout()
v1 = GetActiveViewOrCreate("RenderView")
t0 = time.perf_counter()
roll = EchoRollout(Input=reader, Checkpoint={model!r}, NumberOfFrames=8, NumberOfSamples=2,
                   Parameters="Um=0.94, Re=62.8")
d1 = Show(roll, v1)
Render(v1)
res["apply_s"] = time.perf_counter() - t0
res["default_colour"] = list(d1.ColorArrayName)
v2 = CreateView("RenderView")
AssignViewToLayout(view=v2, layout=layout, hint=0)
d2 = Show(reader, v2)
ColorBy(d2, ("CELLS", "p"))
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.PlayMode = "Snap To TimeSteps"
res["keeper"] = list(GetTimeKeeper().TimestepValues)
times = list(roll.TimestepValues)  # the reader's steps and the forecast's
res["roll_times"] = times
pred = roll.GetClientSideObject().GetPredictedTimes()
t0 = time.perf_counter()
scene.AnimationTime = pred[0]
Render(v1)
res["first_predicted_frame_s"] = time.perf_counter() - t0
scrub = []
for t in pred[1:] + pred[::-1]:
    t0 = time.perf_counter()
    scene.AnimationTime = t
    Render(v1)
    Render(v2)
    scrub.append(time.perf_counter() - t0)
res["scrub_s"] = scrub
scene.AnimationTime = times[0]
t0 = time.perf_counter()
scene.Play()
res["play_s"] = time.perf_counter() - t0
res["after_play_time"] = float(GetTimeKeeper().Time)
ColorBy(d1, ("CELLS", "p_pred"))
lut = GetColorTransferFunction("p_pred")
lut.ApplyPreset("Cool to Warm", True)
scene.AnimationTime = pred[-1]
d1.RescaleTransferFunctionToDataRange(False, True)
for v in (v1, v2):
    v.OrientationAxesVisibility = 0
    v.CameraPosition = [1.1, 0.2, 4.0]
    v.CameraFocalPoint = [1.1, 0.2, 0.0]
    v.CameraParallelProjection = 1
    v.CameraParallelScale = 0.5
res["std_range"] = list(GetColorTransferFunction("p_std").RGBPoints[0::4][:1] + GetColorTransferFunction("p_std").RGBPoints[-4:-3])
res["std_max_data"] = max(float(pred_values(roll, t, "p_std").max()) for t in pred)
SaveScreenshot({png!r}, layout, ImageResolution=[1200, 400])
res["n_rollouts"] = roll.GetClientSideObject().n_rollouts
before = pred_values(roll, pred[3])
SaveState({pvsm!r})
for s in list(GetSources().values()):
    Delete(s)
LoadState({pvsm!r})
roll2 = FindSource("EchoRollout1")
res["reloaded_props"] = [roll2.NumberOfFrames, roll2.NumberOfSamples, roll2.Parameters, roll2.Checkpoint]
after = pred_values(roll2, pred[3])
res["state_max_diff"] = float(np.abs(after - before).max())
res["state_value_scale"] = float(np.abs(before).max())
print("RESULT:" + json.dumps(res), flush=True)
print("SCRIPT DONE", flush=True)
'''


def test_gui_play_two_views_screenshot_and_state(run_pv, xvfb_display, foam_case, cylinder_model, tmp_path):
    png, pvsm = tmp_path / "analysis.png", tmp_path / "analysis.pvsm"
    script = SCRIPT.format(foam=str(foam_case / "case.foam"), model=str(cylinder_model), png=str(png), pvsm=str(pvsm))
    env = {"DISPLAY": xvfb_display, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    run = run_pv("paraview", script, "--dr", "--exit", timeout=400, env_extra=env)
    out = run.output
    assert run.returncode == 0, out[-4000:]
    assert "SCRIPT DONE" in out, out[-4000:]
    for marker in ("ERROR", "ERR|", "Traceback", "InTick"):
        assert marker not in out, out[-4000:]
    res = json.loads([ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")][-1][7:])
    print("GUI timings (s):", {k: res[k] for k in ("apply_s", "first_predicted_frame_s", "play_s")},
          "scrub per frame: median", float(np.median(res["scrub_s"])), "max", max(res["scrub_s"]))
    # the reader's own steps stay in the time keeper next to the prediction's
    assert set(res["roll_times"]) <= set(res["keeper"]) and len(res["keeper"]) >= 20
    assert res["after_play_time"] == pytest.approx(res["keeper"][-1])  # Play ran to the end
    assert res["n_rollouts"] == 1  # Play, scrubbing, two views: one rollout
    assert res["default_colour"][1].endswith("_pred")  # coloured by the prediction on Show
    # the std colour map spans the predicted frames, not the all-zero start frame
    assert res["std_range"][1] == pytest.approx(res["std_max_data"], rel=1e-3)
    # state file: same properties, same output (the sampler is seeded)
    assert res["reloaded_props"][:3] == [8, 2, "Um=0.94, Re=62.8"]
    assert res["state_max_diff"] <= 1e-5 * max(1.0, res["state_value_scale"])
    from test_gui import image_stats

    keep = os.environ.get("ECHOPV_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
    from PIL import Image

    img = Image.open(png)
    w, h = img.size
    for half in (img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))):  # both views hold data
        p = Path(tmp_path / "half.png")
        half.save(p)
        stats = image_stats(p)
        assert stats["data_fraction"] > 0.1 and stats["distinct_colours"] > 100, stats

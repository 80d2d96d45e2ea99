"""The real ParaView GUI under Xvfb, started by `echopv paraview` with the plugin auto-loaded.

A --script applies EchoRollout to a dataset, colours by the predicted field, saves a screenshot
and the GUI exits (--exit). The PNG must show colour-mapped data, and nothing may be logged as
an error. Set ECHOPV_TEST_ARTIFACTS=DIR to keep the screenshots.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.gui, pytest.mark.paraview]

GOOD = r'''
from paraview.simple import *
plane = Plane(XResolution=60, YResolution=60)
src = Calculator(Input=plane, ResultArrayName="p", Function="coordsX + 2*coordsY")
r = EchoRollout(Input=src, Checkpoint={ckpt!r}, NumberOfFrames=3, Device="cpu")
view = GetActiveViewOrCreate("RenderView")
view.OrientationAxesVisibility = 0
disp = Show(r, view)
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
steps = list(r.TimestepValues)
print("TIMESTEPS", steps, flush=True)
scene.AnimationTime = steps[2]
ColorBy(disp, ("POINTS", "p_pred"))
disp.RescaleTransferFunctionToDataRange(False, True)
view.ResetCamera()
Render(view)
SaveScreenshot({png!r}, view, ImageResolution=[640, 480])
print("SCRIPT DONE", flush=True)
'''

BAD = r'''
from paraview.simple import *
bad = EchoRollout(Input=PointSource(NumberOfPoints=10), Checkpoint={ckpt!r})
Show(bad)
Render()
print("SCRIPT DONE", flush=True)
'''


def _run_gui(run_pv, display: str, script: str):
    env = {"DISPLAY": display, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    run = run_pv("paraview", script, "--dr", "--exit", timeout=300, env_extra=env)
    if run.returncode < 0 and "SCRIPT DONE" not in run.output:  # rare first-start abort: retry once
        run = run_pv("paraview", script, "--dr", "--exit", timeout=300, env_extra=env)
    return run


def image_stats(png: Path) -> dict:
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(np.int32)
    h, w, _ = img.shape
    bg = img[2, 2]  # a corner pixel is background
    data = np.any(np.abs(img - bg) > 12, axis=2)
    pix = img[data]
    r, b = pix[:, 0], pix[:, 2]
    return {
        "data_fraction": float(data.mean()),
        "distinct_colours": int(len(np.unique(pix.reshape(-1, 3), axis=0))) if pix.size else 0,
        "warm_fraction": float(((r - b) > 40).sum() / (h * w)),
        "cool_fraction": float(((b - r) > 40).sum() / (h * w)),
    }


def test_gui_rollout_screenshot(run_pv, model_file, xvfb_display, tmp_path):
    ckpt = model_file
    png = tmp_path / "echo_rollout_gui.png"
    run = _run_gui(run_pv, xvfb_display, GOOD.format(ckpt=str(ckpt), png=str(png)))
    out = run.output
    assert run.returncode == 0, out[-4000:]
    assert "SCRIPT DONE" in out, out[-4000:]
    assert "TIMESTEPS [0.0, 0.25, 0.5, 0.75]" in out, out[-4000:]
    for marker in ("ERROR", "ERR|", "Traceback"):
        assert marker not in out, out[-4000:]
    assert png.exists(), out[-4000:]
    stats = image_stats(png)
    keep = os.environ.get("ECHOPV_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
    print(f"screenshot {png}: {stats}")
    assert stats["data_fraction"] > 0.10, stats  # not an empty view
    assert stats["distinct_colours"] > 100, stats  # a colour map, not a flat colour
    assert stats["warm_fraction"] > 0.002 and stats["cool_fraction"] > 0.002, stats  # both ends of the map


def test_gui_bad_input_logs_error_and_keeps_running(run_pv, model_file, xvfb_display):
    ckpt = model_file
    run = _run_gui(run_pv, xvfb_display, BAD.format(ckpt=str(ckpt)))
    out = run.output
    assert run.returncode == 0, out[-4000:]
    assert "ERROR: In EchoRollout" in out and "has no point field" in out, out[-4000:]
    assert "SCRIPT DONE" in out, out[-4000:]  # ParaView went on after the error

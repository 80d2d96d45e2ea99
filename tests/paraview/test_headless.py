"""Rendering pvbatch/pvpython scripts on a machine without a display (DISPLAY unset): the launcher
starts a private Xvfb, the script renders, the picture has the data in it."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.paraview

RENDER = r'''
import sys
from paraview.simple import *
src = Calculator(Input=Sphere(ThetaResolution=32, PhiResolution=32), ResultArrayName="p", Function="coordsX")
view = CreateView("RenderView")
view.ViewSize = [320, 240]
disp = Show(src, view)
ColorBy(disp, ("POINTS", "p"))
view.ResetCamera()
Render(view)
SaveScreenshot(sys.argv[1], view, ImageResolution=[320, 240])
print("RENDERED", flush=True)
'''


@pytest.mark.parametrize("tool", ["pvbatch", "pvpython"])
def test_rendering_script_without_display(tool, tmp_path):
    from echo_paraview.launcher import REPO_ROOT

    script = tmp_path / "render.py"
    script.write_text(RENDER)
    png = tmp_path / "shot.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "ECHOPV_NO_XVFB")}
    run = subprocess.run([sys.executable, "-m", "echo_paraview.cli", tool, str(script), str(png)], env=env,
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "RENDERED" in out, out[-3000:]
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert img.shape == (240, 320, 3)
    bg = img[2, 2]
    data = np.any(np.abs(img - bg) > 12, axis=2)
    assert data.mean() > 0.1  # the sphere is there
    assert len(np.unique(img[data].reshape(-1, 3), axis=0)) > 50  # colour-mapped, not flat

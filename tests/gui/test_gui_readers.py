"""File > Open in the real ParaView GUI under Xvfb: an ECHO dataset opens with EchoDatasetReader,
shows its vorticity at a chosen time, and the screenshot holds the colour-mapped field; a corrupt
dataset logs a message and ParaView goes on. ECHOPV_TEST_ARTIFACTS=DIR keeps the screenshot.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_gui import _run_gui, image_stats

pytestmark = [pytest.mark.gui, pytest.mark.paraview]

REPO = Path(__file__).resolve().parents[2]
NS2D = REPO / "sample_cases/ns2d_vorticity/ns2d_64.h5"

OPEN = r'''
from paraview.simple import *
ds = OpenDataFile({path!r})
print("READER", ds.GetXMLName(), flush=True)
ds.Trajectory = 3
ds.UpdatePipelineInformation()
steps = list(ds.TimestepValues)
print("NSTEPS", len(steps), flush=True)
view = GetActiveViewOrCreate("RenderView")
view.OrientationAxesVisibility = 0
disp = Show(ds, view)
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.AnimationTime = steps[10]
ColorBy(disp, ("POINTS", "vorticity"))
disp.RescaleTransferFunctionToDataRange(False, True)
disp.SetScalarBarVisibility(view, True)
view.ResetCamera()
view.CameraPosition = [0.5, 0.5, 3.0]
view.CameraFocalPoint = [0.5, 0.5, 0.0]
view.CameraViewUp = [0.0, 1.0, 0.0]
view.ResetCamera()
Render(view)
fd = servermanager.Fetch(ds).GetFieldData()
print("PARAM", fd.GetArray("param_nu").GetValue(0), "TIME", fd.GetArray("TimeValue").GetValue(0), flush=True)
SaveScreenshot({png!r}, view, ImageResolution=[640, 480])
bad = EchoDatasetReader(FileName={corrupt!r})
Show(bad, view)
Render(view)
print("SCRIPT DONE", flush=True)
'''


def test_gui_opens_an_echo_dataset(run_pv, xvfb_display, tmp_path):
    png = tmp_path / "gui_echo_dataset_reader.png"
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(NS2D.read_bytes()[:4000])
    run = _run_gui(run_pv, xvfb_display, OPEN.format(path=str(NS2D), png=str(png), corrupt=str(corrupt)))
    out = run.output
    assert run.returncode == 0, out[-4000:]
    assert "READER EchoDatasetReader" in out and "NSTEPS 21" in out, out[-4000:]
    from echo_model.data.store import TrajectoryStore

    with TrajectoryStore(NS2D) as store:
        nu, t10 = store.params(3)["nu"], float(store.times(3)[10])
    line = next(ln for ln in out.splitlines() if ln.startswith("PARAM"))
    assert float(line.split()[1]) == pytest.approx(nu) and float(line.split()[3]) == pytest.approx(t10)
    assert "SCRIPT DONE" in out, out[-4000:]  # ParaView went on after the corrupt file
    assert "ERROR: In EchoDatasetReader" in out and "cannot be read as HDF5" in out, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    assert png.exists(), out[-4000:]
    keep = os.environ.get("ECHOPV_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
    stats = image_stats(png)
    print(f"screenshot {png}: {stats}")
    assert stats["data_fraction"] > 0.25, stats  # the unit square fills much of the view
    assert stats["distinct_colours"] > 200, stats  # a vorticity field, not a flat colour
    assert stats["warm_fraction"] > 0.02 and stats["cool_fraction"] > 0.02, stats  # both signs of vorticity
    # the picture is this frame's field: along the square's middle row, warm (positive) and cool
    # (negative) pixels sit where the dataset's vorticity has that sign
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(np.int32)
    rows = np.nonzero(np.any(np.abs(img[:, :400] - img[2, 2]) > 12, axis=2).any(axis=1))[0]
    mid = (rows[0] + rows[-1]) // 2
    line = img[mid]
    cols = np.nonzero(np.any(np.abs(line - img[2, 2]) > 12, axis=1))[0]
    with TrajectoryStore(NS2D) as store:
        pts, w = store.points(3), store.read_fields(3, [10])[0][:, 0]
    row = np.abs(pts[:, 1] - np.unique(pts[:, 1])[31]) < 1e-9  # the grid row nearest the middle
    xs, vals = pts[row, 0], w[row]
    px = np.round(cols[0] + (xs - xs.min()) / (xs.max() - xs.min()) * (cols[-1] - cols[0])).astype(int)
    r, b = line[px, 0], line[px, 2]
    strong = np.abs(vals) > 0.3 * np.abs(vals).max()
    agree = np.where(vals[strong] > 0, r[strong] - b[strong] > 40, b[strong] - r[strong] > 40)
    assert strong.sum() > 10 and agree.mean() > 0.9, (strong.sum(), agree.mean())

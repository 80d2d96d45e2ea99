"""EchoRollout's colour maps when its output is shown (issue 22, item 5), in pvbatch.

`p_error` gets a diverging map centred on 0 over +-max|p_error| (not the current step's own,
asymmetric range), and `p` and `p_pred` share one transfer function (one proxy, one range over
both), so solver and forecast are compared by eye. Colouring goes the way the GUI's colour
widget does (SetScalarColoring, then a non-forced rescale that extends the range): paraview.simple's
ColorBy forces a rescale to the current step's range by design.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.paraview

SCRIPT = r'''
import json, sys
import numpy as np
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy
from echo_model.data.trajectory import Trajectory
from echo_paraview.io.pvd import write_pvd

model, folder = sys.argv[1], sys.argv[2]
sp = Sphere(ThetaResolution=16, PhiResolution=12, Radius=0.5)
sp.UpdatePipeline()
pts = vtk_to_numpy(sm.Fetch(sp).GetPoints().GetData()).astype(float)
t = 0.25 * np.arange(5)
p = (pts[None, :, 0] + t[:, None] * pts[None, :, 2]).astype(np.float32)[..., None]
pvd = write_pvd(Trajectory(points=pts, fields=p, times=t, field_layout=[("p", 1)]), folder + "/series.pvd")
src = PVDReader(FileName=str(pvd))
earlier = GetColorTransferFunction("p_pred")  # a separate p_pred map from before: must give way
roll = EchoRollout(Input=src, Checkpoint=model, NumberOfFrames=3)
roll.UpdatePipelineInformation()
times = list(roll.TimestepValues)
view = CreateRenderView()
rep = Show(roll, view)
POINTS = sm.GetAssociationFromString("POINTS")

def colour_by(name):  # what the GUI's colour widget does
    rep.SetScalarColoring(name, POINTS)
    rep.RescaleTransferFunctionToDataRange(True, False)

def lut_range(lut):
    pts = list(lut.RGBPoints)
    return [pts[0], pts[-4]]

def colour_at(lut, x):
    rgb = [0.0, 0.0, 0.0]
    lut.GetClientSideObject().GetColor(x, rgb)
    return rgb

res = {"times": times, "err_max": 0.0, "p_lo": 1e30, "p_hi": -1e30}
for tt in times[1:4]:  # the predicted steps (the solver has data there: p, p_pred, p_error)
    roll.UpdatePipeline(tt)
    pd = sm.Fetch(roll).GetPointData()
    res["err_max"] = max(res["err_max"], float(np.nanmax(np.abs(vtk_to_numpy(pd.GetArray("p_error"))))))
    for name in ("p", "p_pred"):
        a = vtk_to_numpy(pd.GetArray(name))
        res["p_lo"], res["p_hi"] = min(res["p_lo"], float(np.nanmin(a))), max(res["p_hi"], float(np.nanmax(a)))
view.ViewTime = times[2]
roll.UpdatePipeline(times[2])
colour_by("p_error")
Render(view)
err = GetColorTransferFunction("p_error")
m = lut_range(err)[1]
res["err_range"] = lut_range(err)
res["err_colours"] = [colour_at(err, x) for x in (-m, 0.0, m)]
res["rep_uses_err"] = rep.LookupTable.SMProxy is err.SMProxy
colour_by("p_pred")
Render(view)
res["pred_is_p"] = GetColorTransferFunction("p_pred").SMProxy is GetColorTransferFunction("p").SMProxy
res["pred_pwf_is_p"] = GetOpacityTransferFunction("p_pred").SMProxy is GetOpacityTransferFunction("p").SMProxy
res["rep_uses_p"] = rep.LookupTable.SMProxy is GetColorTransferFunction("p").SMProxy
res["earlier_replaced"] = earlier.SMProxy is not GetColorTransferFunction("p_pred").SMProxy
res["pred_range"] = lut_range(GetColorTransferFunction("p_pred"))
colour_by("p")
Render(view)
res["p_range"] = lut_range(GetColorTransferFunction("p"))
# the hook must not fail where paraview.simple cannot be imported
sys.modules["paraview.simple"] = None
try:
    roll.GetClientSideObject().after_rollout()
    res["hook_without_simple"] = "ok"
except Exception as exc:
    res["hook_without_simple"] = repr(exc)
print("RESULT:" + json.dumps(res), flush=True)
'''


@pytest.fixture(scope="module")
def colours(model_file, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("colours")
    script = tmp / "colours.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "pvbatch", str(script), str(model_file), str(tmp)],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, out[-4000:]
    return json.loads(lines[-1][len("RESULT:"):])


def test_error_map_is_diverging_and_centred_on_zero(colours):
    lo, hi = colours["err_range"]
    assert colours["rep_uses_err"]
    assert colours["err_max"] > 0.05  # an untrained model: a real error to show
    assert lo == pytest.approx(-hi) and hi == pytest.approx(colours["err_max"], rel=1e-5)
    neg, zero, pos = colours["err_colours"]
    assert min(zero) > 0.85, zero  # 0 is the light neutral centre of a diverging map
    assert neg[2] > neg[0] and pos[0] > pos[2], (neg, pos)  # blue below, orange above


def test_field_and_prediction_share_one_transfer_function(colours):
    assert colours["pred_is_p"] and colours["pred_pwf_is_p"] and colours["rep_uses_p"]
    assert colours["earlier_replaced"]
    assert colours["pred_range"] == colours["p_range"]
    lo, hi = colours["p_range"]
    # one range over the solver's and the forecast's values at the predicted steps
    assert lo == pytest.approx(colours["p_lo"], abs=1e-6) and hi == pytest.approx(colours["p_hi"], abs=1e-6)


def test_colour_hook_does_not_fail_without_paraview_simple(colours):
    assert colours["hook_without_simple"] == "ok"

"""The plugin inside Debian's ParaView, started through the launcher (`echopv pvpython|pvbatch`).

Each test runs one short script in a fresh ParaView process and reads a JSON line back.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.paraview

SCRIPT = r'''
import json, sys
import numpy
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkDataObject
{load}
src = Calculator(Input=Sphere(ThetaResolution=16, PhiResolution=12), ResultArrayName="p",
                 Function="coordsX + 2*coordsZ")
r = EchoRollout(Input=src, Checkpoint={ckpt!r}, NumberOfFrames=3, Device="cpu")
r.UpdatePipelineInformation()
res = {{"timesteps": list(r.TimestepValues), "keeper": list(GetTimeKeeper().TimestepValues),
        "input_arrays": list(r.InputArrays), "arrays": {{}}, "data_time": {{}}}}
for t in (res["timesteps"][1], res["timesteps"][3]):
    r.UpdatePipeline(t)
    d = sm.Fetch(r)
    res["cls"] = d.GetClassName()
    res["arrays"][repr(t)] = vtk_to_numpy(d.GetPointData().GetArray("p_pred")).tolist()
    res["data_time"][repr(t)] = r.GetDataInformation().DataInformation.GetTime()
res["names"] = [d.GetPointData().GetArrayName(i) for i in range(d.GetPointData().GetNumberOfArrays())]
res["p_nan"] = bool(numpy.isnan(vtk_to_numpy(d.GetPointData().GetArray("p"))).all())
r.UpdatePipeline(res["timesteps"][1])  # scrubbing back: served from the cache
res["n_rollouts"] = r.GetClientSideObject().n_rollouts  # builtin session: the Python algorithm itself
import inspect, os, numpy, vtkmodules, torch
res["env"] = {{"numpy": numpy.__file__, "vtk": vtkmodules.__file__, "py": os.environ.get("ECHOPV_PYTHON"),
              "getargspec": hasattr(inspect, "getargspec"),
              "venv_last": sys.path.index(os.path.dirname(os.path.dirname(torch.__file__)))
                           > sys.path.index(os.path.dirname(os.path.dirname(vtkmodules.__file__)))}}
print("RESULT:" + json.dumps(res))
'''

BAD_SCRIPT = r'''
from paraview.simple import *
import paraview.servermanager as sm
bad = EchoRollout(Input=PointSource(NumberOfPoints=20), Checkpoint={ckpt!r}, NumberOfFrames=2)
bad.UpdatePipeline(0.0)
d = sm.Fetch(bad)
print("ALIVE after bad input; arrays:", d.GetPointData().GetNumberOfArrays())
nock = EchoRollout(Input=Sphere())
nock.UpdatePipeline(0.0)
print("ALIVE after missing checkpoint; waiting:", nock.GetClientSideObject().last_error)
'''


def _result(run) -> dict:
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, f"no RESULT line (rc={run.returncode})\n{run.output[-4000:]}"
    return json.loads(lines[-1][len("RESULT:"):])


def _check_temporal(res: dict) -> None:
    ts = res["timesteps"]
    assert len(ts) == 4 and ts[0] == pytest.approx(0.0)
    assert ts == pytest.approx([0.0, 0.25, 0.5, 0.75])  # the test model's dt is 0.25
    assert res["keeper"] == pytest.approx(ts)  # the TimeKeeper picked the steps up
    assert res["input_arrays"] == []  # no default selection: match the model by name
    assert res["cls"] == "vtkPolyData"
    a1, a3 = (res["arrays"][repr(ts[1])], res["arrays"][repr(ts[3])])
    assert len(a1) == len(a3) == 16 * (12 - 2) + 2  # sphere points: theta * (phi - 2) + 2 poles
    assert a1 != a3
    assert res["data_time"][repr(ts[1])] == pytest.approx(ts[1])
    assert "p_pred" in res["names"]
    # predicted frames do not carry the frozen start frame as "p": the solver has no value there (NaN)
    assert "p" in res["names"] and res["p_nan"]
    assert res["n_rollouts"] == 1  # three updates at two times, one rollout


def test_pvpython_autoloads_plugin_and_outputs_time_series(run_pv, model_file):
    ckpt = model_file
    run = run_pv("pvpython", SCRIPT.format(load="", ckpt=str(ckpt)))
    assert run.returncode == 0, run.output[-4000:]
    res = _result(run)
    _check_temporal(res)
    assert "ERROR" not in run.output, run.output[-4000:]
    # the launcher's environment: Debian 5.11 getargspec fault patched, ParaView's own VTK and
    # numpy first, the venv (torch) appended after them, the training interpreter recorded
    env = res["env"]
    venv = sys.prefix
    assert env["getargspec"] is True
    assert not env["vtk"].startswith(venv) and not env["numpy"].startswith(venv)
    assert env["venv_last"] is True
    assert env["py"] and os.path.exists(env["py"]) and env["py"].startswith(venv)


def test_pvbatch_explicit_load_plugin(run_pv, model_file):
    from echo_paraview.launcher import PLUGIN_DIR

    ckpt = model_file
    load = f"LoadPlugin({str(PLUGIN_DIR / 'EchoPlugin.py')!r}, remote=False, ns=globals())"
    run = run_pv("pvbatch", SCRIPT.format(load=load, ckpt=str(ckpt)))
    assert run.returncode == 0, run.output[-4000:]
    _check_temporal(_result(run))


def test_bad_input_reports_error_and_paraview_survives(run_pv, model_file):
    ckpt = model_file
    run = run_pv("pvpython", BAD_SCRIPT.format(ckpt=str(ckpt)))
    out = run.output
    assert run.returncode == 0, out[-4000:]
    assert "ALIVE after bad input" in out and "ALIVE after missing checkpoint" in out
    assert "ERROR: In EchoRollout" in out
    assert "has no point field" in out and "Calculator" in out  # problem and fix
    # no model file yet is a quiet state, not an error: the reason waits in last_error
    assert "ALIVE after missing checkpoint; waiting:" in out and "set Checkpoint" in out
    assert out.count("ERROR: In EchoRollout") == out.count("has no point field"), out[-4000:]
    assert "Traceback" not in out, out[-4000:]


TEMPORAL_SCRIPT = r"""
import json, os
import numpy as np
from echo_paraview import convert
from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter
from vtkmodules.vtkFiltersSources import vtkSphereSource
s = vtkSphereSource()
s.Update()
pts, cells = convert.get_points(s.GetOutput()), convert.get_cells(s.GetOutput())
entries = []
for i, t in enumerate([1.0, 1.5, 2.0]):
    ug = convert.make_unstructured_grid(pts, cells, {{"p": pts[:, 0] * t}})
    w = vtkXMLUnstructuredGridWriter()
    w.SetFileName(os.path.join({tmp!r}, f"f{{i}}.vtu"))
    w.SetInputData(ug)
    w.Write()
    entries.append(f'<DataSet timestep="{{t}}" file="f{{i}}.vtu"/>')
pvd = os.path.join({tmp!r}, "series.pvd")
open(pvd, "w").write('<VTKFile type="Collection" version="0.1"><Collection>' + "".join(entries)
                     + "</Collection></VTKFile>")
from paraview.simple import *
import paraview.servermanager as sm
rd = PVDReader(FileName=pvd)
r = EchoRollout(Input=rd, Checkpoint={ckpt!r}, NumberOfFrames=2)
r.UpdatePipelineInformation()
res = {{"timesteps": list(r.TimestepValues), "ranges": []}}
for t in res["timesteps"]:
    r.UpdatePipeline(t)
    d = sm.Fetch(r)
    res["cls"] = d.GetClassName()
    res["ranges"].append(list(d.GetPointData().GetArray("p_pred").GetRange()))
res["n_rollouts"] = r.GetClientSideObject().n_rollouts
print("RESULT:" + json.dumps(res))
"""


def test_temporal_pvd_input_starts_from_its_first_frame(run_pv, model_file, tmp_path):
    run = run_pv("pvpython", TEMPORAL_SCRIPT.format(tmp=str(tmp_path), ckpt=str(model_file)))
    assert run.returncode == 0, run.output[-4000:]
    res = _result(run)
    assert res["cls"] == "vtkUnstructuredGrid"
    # from the first input time, model dt; the input's later step 2.0 stays
    assert res["timesteps"] == pytest.approx([1.0, 1.25, 1.5, 2.0])
    assert res["ranges"][0] == pytest.approx([-0.5, 0.5], abs=0.02)  # step 0 = input frame at t=1 (p = x)
    assert res["ranges"][1] != res["ranges"][2]
    assert res["n_rollouts"] == 1
    assert "ERROR" not in run.output, run.output[-4000:]


ONE_CALL = r'''
import sys
from paraview.simple import *
plane = Plane(Origin=[0, 0, 0], Point1=[1, 0, 0], Point2=[0, 1, 0], XResolution=20, YResolution=20)
src = Calculator(Input=plane, ResultArrayName="vorticity", Function="sin(6.28*coordsX)")
r = EchoRollout(Input=src, Checkpoint={ckpt!r}, NumberOfFrames=3, SamplingSteps=2, Device="cpu",
                Parameters="nu=8e-4")
r.UpdatePipeline(r.GetClientSideObject().GetPredictedTimes()[-1])
print("N_ROLLOUTS", r.GetClientSideObject().n_rollouts, flush=True)
'''


def test_properties_set_in_one_call_report_one_forecast(run_pv):
    """EchoRollout(Input=..., Checkpoint=..., NumberOfFrames=...) sets the properties one by one;
    the forecast with the default 10 frames must not be reported (or warned about) first."""
    ckpt = REPO / "sample_cases" / "ns2d_vorticity" / "model_tiny.safetensors"
    run = run_pv("pvpython", ONE_CALL.format(ckpt=str(ckpt)))
    assert run.returncode == 0, run.output[-4000:]
    plans = [ln for ln in run.output.splitlines() if "frame(s) of the model's dt" in ln]
    assert len(plans) == 1 and "3 frame(s)" in plans[0], run.output[-4000:]
    assert "N_ROLLOUTS 1" in run.output and "ERROR" not in run.output, run.output[-4000:]

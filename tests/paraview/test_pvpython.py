"""The plugin inside Debian's ParaView, started through the launcher (`echopv pvpython|pvbatch`).

Each test runs one short script in a fresh ParaView process and reads a JSON line back.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

pytestmark = pytest.mark.paraview

SCRIPT = r'''
import json, sys
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
print("ALIVE after missing checkpoint")
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
    assert {"p", "p_pred", "Normals"} <= set(res["names"])


def test_pvpython_autoloads_plugin_and_outputs_time_series(run_pv, model_file):
    ckpt = model_file
    run = run_pv("pvpython", SCRIPT.format(load="", ckpt=str(ckpt)))
    assert run.returncode == 0, run.output[-4000:]
    _check_temporal(_result(run))
    assert "ERROR" not in run.output, run.output[-4000:]


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
    assert "set Checkpoint" in out
    assert "Traceback" not in out, out[-4000:]


def test_plugin_load_error_is_fixed_by_launcher(run_pv):
    """The Debian 5.11 getargspec fault is patched and the venv comes AFTER ParaView's packages."""
    script = r'''
import inspect, json, sys, os, numpy, vtkmodules
import paraview.detail.pythonalgorithm  # fails on Py 3.11 without the launcher's sitecustomize
import torch, echo_model
print("RESULT:" + json.dumps({"numpy": numpy.__file__, "vtk": vtkmodules.__file__,
      "torch": torch.__version__, "py": os.environ.get("ECHOPV_PYTHON"),
      "venv_last": sys.path.index(os.path.dirname(os.path.dirname(torch.__file__))) >
                   sys.path.index(os.path.dirname(os.path.dirname(vtkmodules.__file__)))}))
'''
    run = run_pv("pvpython", script)
    assert run.returncode == 0, run.output[-4000:]
    res = _result(run)
    venv = sys.prefix
    assert not res["vtk"].startswith(venv) and not res["numpy"].startswith(venv)  # ParaView's own
    assert res["venv_last"] is True
    assert res["py"] and os.path.exists(res["py"]) and res["py"].startswith(venv)

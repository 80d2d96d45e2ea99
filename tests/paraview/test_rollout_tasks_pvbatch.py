"""EchoRollout's Task property in pvbatch, through ParaView's proxies: the drop-down's entries, the
optional Target input, and each task's time steps and arrays on the committed vorticity model.

The inputs are ParaView's own filters on EchoDatasetReader (trajectory 20: steps 5.0 .. 15.0, the
model's dt = 0.5): Extract Time Steps keeps every 4th step for Interpolate, Mask Points keeps every
10th point as the probes of Reconstruct, whose Target is the reader's full mesh."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.paraview

MODEL = "sample_cases/ns2d_vorticity/model_tiny.safetensors"
DATA = "sample_cases/ns2d_vorticity/ns2d_64.h5"

SCRIPT = r'''
import json
import numpy as np
from paraview.simple import *
from paraview import servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy

def arrays(proxy, t):
    proxy.UpdatePipeline(t)
    d = sm.Fetch(proxy)
    pd = d.GetPointData()
    out = {{pd.GetArrayName(i): vtk_to_numpy(pd.GetArray(i)).astype(float).tolist()
           for i in range(pd.GetNumberOfArrays())}}
    out["_class"], out["_n"] = d.GetClassName(), d.GetNumberOfPoints()
    return out

common = dict(Checkpoint={model!r}, SamplingSteps=2, NumberOfThreads=1, Device="cpu")
reader = EchoDatasetReader(FileName={data!r})
reader.Trajectory = 20
res = {{"reader": list(reader.TimestepValues)}}

thin = ExtractTimeSteps(Input=reader, TimeStepIndices=[0, 4, 8])
interp = EchoRollout(Input=thin, Task="Interpolate", **common)
interp.UpdatePipelineInformation()
res["task_default"] = EchoRollout(Input=reader, **common).Task.GetData()
res["task_entries"] = list(interp.GetProperty("Task").Available)
res["interp_times"] = list(interp.TimestepValues)
res["interp"] = {{repr(t): arrays(interp, t) for t in (6.0, 7.0)}}

wrong = EchoRollout(Input=reader, Task="Interpolate", **common)  # the reader's own steps: 1 dt apart
wrong.UpdatePipeline(6.0)
res["wrong_times"] = list(wrong.TimestepValues)

inverse = EchoRollout(Input=reader, Task="Inverse", NumberOfFrames=2, StartTime="value", StartTimeValue=6.0,
                      **common)
inverse.UpdatePipelineInformation()
res["inverse_times"] = list(inverse.TimestepValues)
res["inverse"] = arrays(inverse, 5.0)

sample = EchoRollout(Input=thin, Task="Sample", NumberOfFrames=3, NumberOfSamples=2, **common)
sample.UpdatePipelineInformation()
res["sample_times"] = list(sample.TimestepValues)
res["sample"] = arrays(sample, 5.5)

first = ExtractTimeSteps(Input=reader, TimeStepIndices=[0, 1, 2])
probes = MaskPoints(Input=first, OnRatio=10, MaximumNumberofPoints=100000, RandomSampling=0,
                    GenerateVertices=1, SingleVertexPerCell=1)
rec = EchoRollout(Input=probes, Target=reader, Task="Reconstruct", **common)
rec.UpdatePipelineInformation()
res["rec_times"] = list(rec.TimestepValues)
res["rec"] = arrays(rec, 5.5)
res["probes"] = sm.Fetch(probes).GetNumberOfPoints()
print("RESULT:" + json.dumps(res), flush=True)
'''


@pytest.fixture(scope="module")
def traj():
    from echo_model.data.store import TrajectoryStore

    with TrajectoryStore(DATA) as store:
        return store[20]


def rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


def test_every_task_through_the_paraview_proxy(run_pv, traj):
    run = run_pv("pvbatch", SCRIPT.format(model=MODEL, data=DATA), timeout=300)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert run.returncode == 0 and lines, run.output[-4000:]
    res = json.loads(lines[-1][len("RESULT:"):])
    assert res["task_default"] == "Forecast"
    assert res["task_entries"] == ["Forecast", "Interpolate", "Reconstruct", "Inverse", "Sample"]
    # Interpolate: every dt from 5.0 to 9.0; the saved step 7.0 exact, 6.0 the model's (no solver data)
    assert res["interp_times"] == pytest.approx(list(traj.times[:9]))
    np.testing.assert_array_equal(np.float32(res["interp"]["7.0"]["vorticity_pred"]), traj.fields[4, :, 0])
    mid = res["interp"]["6.0"]
    assert np.isnan(mid["vorticity"]).all() and 0 < rel(mid["vorticity_pred"], traj.fields[2, :, 0]) < 0.2
    # a gap the model cannot fill: refused in the messages, the reader's steps kept
    assert "ERROR: In EchoRollout: Task Interpolate: the input's steps are 1 model step(s)" in run.output
    assert res["wrong_times"] == pytest.approx(res["reader"])
    # Inverse: 5.0 and 5.5 before the start 6.0, compared with the solver's own 5.0
    assert res["inverse_times"] == pytest.approx(res["reader"])
    inv = res["inverse"]
    assert rel(inv["vorticity_pred"], traj.fields[0, :, 0]) < rel(traj.fields[2, :, 0], traj.fields[0, :, 0])
    np.testing.assert_allclose(inv["vorticity_truth"], traj.fields[0, :, 0], rtol=1e-6)
    # Sample: 5.0, 5.5, 6.0 beside the thinned input's 7.0 and 9.0, two members
    assert res["sample_times"] == pytest.approx([5.0, 5.5, 6.0, 7.0, 9.0])
    assert np.mean(res["sample"]["vorticity_std"]) > 0.01 and np.isfinite(res["sample"]["vorticity_pred"]).all()
    # Reconstruct: from 410 probes onto the Target's 4096 points, at the probes' steps
    assert res["probes"] == 410 and res["rec_times"] == pytest.approx(list(traj.times[:3]))
    rec = res["rec"]
    assert rec["_n"] == 4096 and rec["_class"] == "vtkUnstructuredGrid"
    assert rel(rec["vorticity_pred"], traj.fields[1, :, 0]) < 0.05
    np.testing.assert_array_equal(np.float32(rec["vorticity"]), traj.fields[1, :, 0])  # the Target's own
    for marker in ("Traceback", "unexpected"):
        assert marker not in run.output, run.output[-4000:]

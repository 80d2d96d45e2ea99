"""EchoRollout in pvpython refuses a rollout that cannot fit its MemoryBudget: a clear message with
the estimate and the fix instead of the kernel killing ParaView; the same filter then runs once the
budget allows it."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.paraview

SCRIPT = r'''
import json
from paraview.simple import *
import paraview.servermanager as sm
# ~100k points: 400 frames x 8 members of mean + std (and their VTK copies) need ~0.6 GB
src = Calculator(Input=Sphere(ThetaResolution=400, PhiResolution=250), ResultArrayName="p",
                 Function="coordsX + 2*coordsZ")
r = EchoRollout(Input=src, Checkpoint={ckpt!r}, NumberOfFrames=400, NumberOfSamples=8, Device="cpu")
r.MemoryBudget = "64MB"  # far below what 400 frames x 8 members need on top of the model
r.UpdatePipelineInformation()
r.UpdatePipeline(r.TimestepValues[1])
alg = r.GetClientSideObject()
res = {{"refused": alg.last_error, "n_rollouts": alg.n_rollouts}}
print("ALIVE after refusal", flush=True)
r.MemoryBudget = "lots"
r.UpdatePipeline(r.TimestepValues[1])
res["bad_budget"] = alg.last_error
r.MemoryBudget = "4GB"
r.NumberOfFrames = 1
r.NumberOfSamples = 1
r.UpdatePipelineInformation()
r.UpdatePipeline(r.TimestepValues[1])
d = sm.Fetch(r)
res["after"] = {{"n_rollouts": alg.n_rollouts, "error": alg.last_error,
                 "has_pred": d.GetPointData().GetArray("p_pred") is not None}}
print("RESULT:" + json.dumps(res))
'''


def test_pvpython_refuses_a_rollout_over_its_memory_budget(run_pv, model_file):
    run = run_pv("pvpython", SCRIPT.format(ckpt=str(model_file)))
    out = run.output
    assert run.returncode == 0, out[-4000:]
    assert "ALIVE after refusal" in out
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, out[-4000:]
    res = json.loads(lines[-1][len("RESULT:"):])
    msg = res["refused"]
    assert msg and "not enough memory" in msg, out[-4000:]
    assert "MemoryBudget" in msg and "64 MB" in msg  # the limit it was checked against
    assert "needs about" in msg and "outputs" in msg  # the estimate and its parts
    assert "NumberOfSamples" in msg and "NumberOfFrames" in msg  # the fixes
    assert res["n_rollouts"] == 0  # refused before any work
    assert "ERROR: In EchoRollout" in out and "not enough memory" in out  # in Output Messages / stderr
    assert res["bad_budget"] and "cannot read 'lots'" in res["bad_budget"]
    assert res["after"] == {"n_rollouts": 1, "error": None, "has_pred": True}
    assert "Traceback" not in out, out[-4000:]

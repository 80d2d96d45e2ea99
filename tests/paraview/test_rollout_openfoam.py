"""EchoRollout in ParaView on the CI OpenFOAM cylinder case, opened with ParaView's own
OpenFOAMReader (a multiblock with cell data and 3-component U): no Merge Blocks, no Cell Data to
Point Data. Each test runs one pvpython script and reads a JSON line back."""
from __future__ import annotations

import json

import numpy as np
import pytest


pytestmark = [pytest.mark.paraview, pytest.mark.openfoam]

COMMON = r'''
import json
import numpy as np
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy

def cells(block, name):
    arr = block.GetCellData().GetArray(name)
    return None if arr is None else vtk_to_numpy(arr).astype(float)

def fd(block, name):
    arr = block.GetFieldData().GetArray(name)
    return None if arr is None else float(arr.GetTuple1(0))

def leaf(proxy, t):
    proxy.UpdatePipeline(t)
    return sm.Fetch(proxy).GetBlock(0)

reader = OpenFOAMReader(FileName={foam!r})
reader.UpdatePipelineInformation()
in_times = list(reader.TimestepValues)
res = {{"in_times": in_times}}
'''


def _result(run) -> dict:
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, f"no RESULT line (rc={run.returncode})\n{run.output[-4000:]}"
    return json.loads(lines[-1][len("RESULT:"):])


def _run(run_pv, body: str, foam_case, **fmt) -> tuple[dict, str]:
    script = COMMON.format(foam=str(foam_case / "case.foam")) + body.format(**fmt)
    run = run_pv("pvpython", script + '\nprint("RESULT:" + json.dumps(res))\n', timeout=300)
    assert run.returncode == 0, run.output[-4000:]
    assert "Traceback" not in run.output, run.output[-4000:]
    return _result(run), run.output


ROLLOUT = r'''
roll = EchoRollout(Input=reader, Checkpoint={model!r}, NumberOfFrames=4, Parameters="Um=0.94, Re=62.8")
roll.UpdatePipelineInformation()
res["times"] = list(roll.TimestepValues)
t = res["times"][4]  # the last predicted frame (the input's later steps follow it)
out = leaf(roll, t)
res["cell_arrays"] = [out.GetCellData().GetArrayName(i) for i in range(out.GetCellData().GetNumberOfArrays())]
res["point_arrays"] = [out.GetPointData().GetArrayName(i) for i in range(out.GetPointData().GetNumberOfArrays())]
u = cells(out, "U_pred")
res["U_pred_shape"], res["U_pred_z"] = list(u.shape), float(np.abs(u[:, 2]).max())
res["is_prediction"], res["TimeValue"] = fd(out, "is_prediction"), fd(out, "TimeValue")
res["p_rel_mse"], res["U_rel_mse"] = fd(out, "p_rel_mse"), fd(out, "U_rel_mse")
res["truth_interpolated"] = fd(out, "truth_interpolated")
p_pred, p_truth, p_err = cells(out, "p_pred"), cells(out, "p_truth"), cells(out, "p_error")
u_truth = cells(out, "U_truth")
res["p_vs_truth"] = float(np.abs(cells(out, "p") - p_truth).max())
solver = leaf(reader, t)  # the solver's own frame at that time
p_solver, u_solver = cells(solver, "p"), cells(solver, "U")
res["p_truth_vs_solver"] = float(np.abs(p_truth - p_solver).max())
res["U_truth_vs_solver"] = float(np.abs(u_truth[:, :2] - u_solver[:, :2]).max())
res["p_error_vs_hand"] = float(np.abs(p_err - (p_pred - p_solver)).max())
res["p_rel_mse_hand"] = float(((p_pred - p_solver) ** 2).sum() / (p_solver ** 2).sum())
u2p, u2s = cells(out, "U_pred")[:, :2], u_solver[:, :2]
res["U_rel_mse_hand"] = float(((u2p - u2s) ** 2).sum() / (u2s ** 2).sum())
start = leaf(roll, res["times"][0])
res["start_is_prediction"] = fd(start, "is_prediction")
res["start_has_U"] = cells(start, "U") is not None and cells(start, "U_pred") is not None
res["n_cells"] = out.GetNumberOfCells()
res["n_rollouts"] = roll.GetClientSideObject().n_rollouts
res["used"] = roll.GetClientSideObject().GetUsedParameters()
'''


def test_openfoam_reader_into_echorollout_cell_data_and_3comp_U(run_pv, foam_case, cylinder_model):
    res, out = _run(run_pv, ROLLOUT, foam_case, model=str(cylinder_model))
    in_times = res["in_times"]
    assert len(in_times) == 20 and in_times[0] == pytest.approx(0.05)
    # the input's steps up to the start (its first), then t0 + k dt exactly
    # the input's steps (the forecast's t0 + k dt fall on them, each time once), the later ones too
    assert res["times"] == in_times
    assert {"U_pred", "p_pred", "U_truth", "U_error", "p_truth", "p_error"} <= set(res["cell_arrays"])
    # U and p are the solver's own data at that step (not the frozen start frame): equal to the truth
    assert res["p_vs_truth"] == 0.0
    assert not any(n.endswith("_pred") for n in res["point_arrays"])  # written back as CELL data
    assert res["U_pred_shape"] == [res["n_cells"], 3] and res["U_pred_z"] == 0.0
    assert res["n_cells"] > 1000
    assert res["is_prediction"] == 1 and res["TimeValue"] == pytest.approx(0.25)
    assert res["start_is_prediction"] == 0 and res["start_has_U"]
    # the truth is the solver's frame at that time (an input step: not interpolated)
    assert res["truth_interpolated"] == 0
    assert res["p_truth_vs_solver"] < 1e-6 and res["U_truth_vs_solver"] < 1e-6
    assert res["p_error_vs_hand"] < 1e-4
    assert res["p_rel_mse"] == pytest.approx(res["p_rel_mse_hand"], rel=1e-4)
    assert res["U_rel_mse"] == pytest.approx(res["U_rel_mse_hand"], rel=1e-4)
    assert res["n_rollouts"] == 1
    assert res["used"]["Um"] == [pytest.approx(0.94), "Parameters property"]
    assert "ERROR" not in out, out[-3000:]


BAD_CHECKPOINT = r'''
roll = EchoRollout(Input=reader, Checkpoint="/nonexistent/model.safetensors", NumberOfFrames=4)
Show(roll)
roll.UpdatePipelineInformation()
res["times"] = list(roll.TimestepValues)
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
res["keeper"] = list(GetTimeKeeper().TimestepValues)
out = leaf(roll, in_times[3])
res["passed_through"] = cells(out, "U") is not None
for t in in_times[:5]:
    roll.UpdatePipeline(t)
'''


def test_bad_checkpoint_keeps_the_input_time_steps(run_pv, foam_case):
    res, out = _run(run_pv, BAD_CHECKPOINT, foam_case)
    assert res["times"] == pytest.approx(res["in_times"])
    assert res["keeper"] == pytest.approx(res["in_times"])
    assert res["passed_through"]
    assert out.count("does not exist") == 1, out[-3000:]  # once, not once per pass


START_CURRENT = r'''
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.AnimationTime = 0.5
roll = EchoRollout(Input=reader, Checkpoint={model!r}, NumberOfFrames=3, StartTime="current",
                   Parameters="Um=0.94, Re=62.8")
roll.UpdatePipelineInformation()
res["times"] = list(roll.TimestepValues)
res["predicted"] = roll.GetClientSideObject().GetPredictedTimes()
out = leaf(roll, res["predicted"][-1])
res["start"] = fd(out, "rollout_start_time")
scene.AnimationTime = 0.8  # a later time change does not move the start
roll.UpdatePipelineInformation()
res["times_after"] = list(roll.TimestepValues)
'''


def test_start_at_current_time(run_pv, foam_case, cylinder_model):
    res, _ = _run(run_pv, START_CURRENT, foam_case, model=str(cylinder_model))
    in_times = res["in_times"]
    k = int(np.argmin(np.abs(np.array(in_times) - 0.5)))
    assert res["times"] == in_times  # the forecast's times fall on the input's later steps
    assert res["predicted"] == in_times[k + 1 : k + 4]
    assert res["predicted"] == pytest.approx([0.5 + j * 0.05 for j in range(1, 4)])
    assert res["start"] == pytest.approx(0.5)
    assert res["times_after"] == res["times"]


TWO_VIEWS = r'''
roll = EchoRollout(Input=reader, Checkpoint={model!r}, NumberOfFrames=6, Parameters="Um=0.94, Re=62.8")
v1 = CreateView("RenderView")
Show(reader, v1)
v2 = CreateView("RenderView")
Show(roll, v2)
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
keeper = list(GetTimeKeeper().TimestepValues)
res["keeper"] = keeper
for i in range(20):
    scene.AnimationTime = keeper[(i * 3) % len(keeper)]
    Render(v1)
    Render(v2)
res["n_rollouts"] = roll.GetClientSideObject().n_rollouts
'''


def test_one_rollout_while_two_views_step_through_time(run_pv, foam_case, cylinder_model):
    res, out = _run(run_pv, TWO_VIEWS, foam_case, model=str(cylinder_model))
    assert set(res["in_times"]) <= set(res["keeper"])  # the solver's own steps stay reachable
    assert res["n_rollouts"] == 1
    assert "ERROR" not in out, out[-3000:]


FIT = r'''
import sys
for tag, model, params in {cases!r}:
    print("CASE", tag, file=sys.stderr, flush=True)  # VTK's messages go to stderr too
    roll = EchoRollout(Input=reader, Checkpoint=model, NumberOfFrames=2, Parameters=params)
    roll.UpdatePipelineInformation()
    roll.UpdatePipeline(roll.GetClientSideObject().GetPredictedTimes()[-1])
    res[tag] = roll.GetClientSideObject().n_rollouts
    Delete(roll)
print("CASE sphere", file=sys.stderr, flush=True)
sphere = Calculator(Input=Sphere(), ResultArrayName="p", Function="coordsX")
roll = EchoRollout(Input=sphere, Checkpoint={p2d!r}, NumberOfFrames=2)
roll.UpdatePipeline(0.5)
res["sphere"] = roll.GetClientSideObject().n_rollouts
'''


def _section(out: str, tag: str) -> str:
    start = out.index(f"CASE {tag}")
    nxt = out.find("CASE ", start + 5)
    return out[start: nxt if nxt > 0 else len(out)]


def test_fit_warnings_and_refusals(run_pv, foam_case, cylinder_model, make_model, tmp_path):
    unit = make_model(tmp_path / "unit.safetensors", lo=(0.0, 0.0), hi=(1.0, 1.0))
    fine_dt = make_model(tmp_path / "dt.safetensors", dt=0.025)
    p2d = make_model(tmp_path / "p2d.safetensors", layout=(("p", 1),), params=())
    cases = [
        ("domain", str(unit), "Um=0.94, Re=62.8"),
        ("dt", str(fine_dt), "Um=0.94, Re=62.8"),
        ("missing", str(cylinder_model), "Um=0.94"),
        ("range", str(cylinder_model), "Um=2.9, Re=62.8"),
    ]
    res, out = _run(run_pv, FIT, foam_case, cases=cases, p2d=str(p2d))
    sec = _section(out, "domain")
    assert "outside the model's training domain" in sec and "training [0, 1] x [0, 1]" in sec and res["domain"] == 0
    sec = _section(out, "dt")
    assert "time spacing is 0.05 but the model's dt is 0.025" in sec and res["dt"] == 1
    assert "interpolated linearly in time" in sec  # every other predicted frame lies between input steps
    sec = _section(out, "missing")
    assert "parameter Re is not given" in sec and "training mean 100" in sec and res["missing"] == 1
    sec = _section(out, "range")
    assert "Um = 2.9" in sec and "outside the training mean +- 2 std [0.5, 2.5]" in sec and res["range"] == 1
    # the values used, as plain text (stdout in pvpython: it does not pop Output Messages up)
    assert "conditioned on Um = 2.9 (Parameters property), Re = 62.8 (Parameters property)" in out
    # point dimension: a 2D model on a sphere
    assert "the model is 2D but the input's points are 3D" in out and res["sphere"] == 0


QUIET = r'''
import sys
print("CASE quiet", file=sys.stderr, flush=True)
roll = EchoRollout(Input=reader)  # created, nothing set yet
Show(roll)
Render()
roll.UpdatePipeline(in_times[2])
dom = roll.GetProperty("InputArrays").SMProperty.GetDomain("array_list")
dom.Update(roll.GetProperty("InputArrays").SMProperty)
res["available"] = [dom.GetString(i) for i in range(dom.GetNumberOfStrings())]
res["last_error"] = roll.GetClientSideObject().last_error
res["passed_through"] = cells(sm.Fetch(roll).GetBlock(0), "p") is not None
res["reader_field_data"] = [sm.Fetch(reader).GetFieldData().GetArrayName(i)
                            for i in range(sm.Fetch(reader).GetFieldData().GetNumberOfArrays())]
'''


def test_no_noise_before_a_checkpoint_and_only_point_or_cell_arrays_offered(run_pv, foam_case):
    res, out = _run(run_pv, QUIET, foam_case)
    quiet = out[out.index("CASE quiet"):]
    assert "ERROR" not in quiet and "no model file" not in quiet, quiet[-3000:]  # a quiet state
    assert "no model file" in res["last_error"] and res["passed_through"]
    # the reader's field data (CasePath, a string) is no input array for the model
    assert "CasePath" in res["reader_field_data"]
    assert "CasePath" not in res["available"] and {"p", "U"} <= set(res["available"]), res["available"]

"""EchoRollout's output through ParaView's temporal analysis filters, in pvbatch, on the CI
OpenFOAM case read by ParaView's OpenFOAMReader (point data from its cell-to-point option, cell
data, a solver series that goes on after the forecast and ends inside it).

Plot Data Over Time copies every step's arrays into one table by position and type: the output
must carry the same arrays in the same order at every step (it crashed with a SIGSEGV in
vtkExtractDataArraysOverTime when predicted steps had other arrays than the solver's)."""
from __future__ import annotations

import json
import math

import pytest

pytestmark = [pytest.mark.paraview, pytest.mark.openfoam]

SCRIPT = r'''
import json
import numpy as np
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy

reader = OpenFOAMReader(FileName={foam!r})
reader.UpdatePipelineInformation()
in_times = list(reader.TimestepValues)
# start at 0.75 with 8 frames of 0.05: 0.8 .. 1.0 have the solver's data, 1.05 .. 1.15 do not
roll = EchoRollout(Input=reader, Checkpoint={model!r}, NumberOfFrames=8, StartTime="value",
                   StartTimeValue=0.75, Parameters="Um=0.94, Re=62.8")
roll.UpdatePipelineInformation()
times = list(roll.TimestepValues)
res = {{"in_times": in_times, "times": times, "arrays": {{}}, "direct": {{}}}}

def names(attrs):
    return [attrs.GetArrayName(i) for i in range(attrs.GetNumberOfArrays())]

for t in times:
    roll.UpdatePipeline(t)
    leaf = sm.Fetch(roll).GetBlock(0)
    res["arrays"][repr(t)] = [names(leaf.GetPointData()), names(leaf.GetCellData())]
    mean = lambda a, n: float(np.mean(vtk_to_numpy(a.GetArray(n)))) if a.GetArray(n) else None
    res["direct"][repr(t)] = {{"p_pred": mean(leaf.GetCellData(), "p_pred"), "p": mean(leaf.GetCellData(), "p"),
                              "p_truth": mean(leaf.GetCellData(), "p_truth"), "pt_p": mean(leaf.GetPointData(), "p")}}

for assoc in ("Points", "Cells"):
    plot = PlotDataOverTime(Input=roll, FieldAssociation=assoc)
    plot.UpdatePipeline()
    out = sm.Fetch(plot)
    table = out.GetBlock(0)
    cols = {{table.GetColumnName(i): vtk_to_numpy(table.GetColumn(i)).astype(float).tolist()
            for i in range(table.GetNumberOfColumns()) if table.GetColumn(i).IsNumeric()}}
    res[assoc] = {{k: cols[k] for k in cols if k in ("Time", "avg(p_pred)", "avg(p)", "avg(p_truth)", "N")}}
    Delete(plot)
print("RESULT:" + json.dumps(res), flush=True)
'''


def test_plot_data_over_time_on_points_and_cells(run_pv, foam_case, cylinder_model):
    run = run_pv("pvbatch", SCRIPT.format(foam=str(foam_case / "case.foam"), model=str(cylinder_model)),
                 timeout=400)
    assert run.returncode == 0, run.output[-4000:]  # a crash (SIGSEGV) is rc -11
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, run.output[-4000:]
    res = json.loads(lines[-1][len("RESULT:"):])
    in_times, times = res["in_times"], res["times"]
    # every step of the input (the solver's later steps too), plus the forecast beyond its end
    assert times == pytest.approx(in_times + [1.05, 1.1, 1.15])
    arrays = list(res["arrays"].values())
    assert all(a == arrays[0] for a in arrays), res["arrays"]  # same names, same order, every step
    point_names, cell_names = arrays[0]
    assert cell_names[:2] == ["p", "U"] or cell_names[:2] == ["U", "p"]
    assert cell_names[2:] == ["U_pred", "U_truth", "U_error", "p_pred", "p_truth", "p_error"]
    assert set(point_names) == {"U", "p"}
    direct = {float(k): v for k, v in res["direct"].items()}
    for t, d in direct.items():
        if t <= 1.0 + 1e-9:  # the solver has this step: its own p, the truth equal to it
            assert math.isfinite(d["p"]) and math.isfinite(d["pt_p"]), (t, d)
            assert d["p_truth"] == pytest.approx(d["p"], rel=1e-5, abs=1e-7)
        else:  # beyond the solver: NaN, the stated fill value
            assert math.isnan(d["p"]) and math.isnan(d["pt_p"]) and math.isnan(d["p_truth"]), (t, d)
        if t <= 0.75 + 1e-9 or t >= 0.8 - 1e-9:  # a prediction at every forecast time
            assert math.isfinite(d["p_pred"]), (t, d)
    for assoc in ("Points", "Cells"):
        plot = res[assoc]
        assert plot["Time"] == pytest.approx(times)
    cells = res["Cells"]
    for i, t in enumerate(times):
        d = direct[min(direct, key=lambda x: abs(x - t))]
        assert cells["avg(p_pred)"][i] == pytest.approx(d["p_pred"], rel=1e-4, abs=1e-6)
        if t <= 1.0 + 1e-9:
            assert cells["avg(p)"][i] == pytest.approx(d["p"], rel=1e-4, abs=1e-6)
        else:
            assert math.isnan(cells["avg(p)"][i])
    points = res["Points"]
    assert all(math.isfinite(v) for v, t in zip(points["avg(p)"], times) if t <= 1.0 + 1e-9)

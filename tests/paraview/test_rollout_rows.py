"""The reliability issue's rows that a user meets inside EchoRollout, each in pvpython.

One pvpython process runs every case (ParaView starts once); each test below checks its own
case's section of the output: a clear message naming the problem and the fix, nothing run
where the result would be meaningless, ParaView alive and the input's time steps kept.
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
import json, os, sys
import numpy as np
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.vtkCommonCore import vtkStringArray
from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter
from echo_paraview import convert

args = json.loads(sys.argv[1])
res = {}

def case(tag):
    print(f"CASE {tag}", file=sys.stderr, flush=True)

def sphere(scale=1.0, dtype=None):
    src = Calculator(Input=Sphere(ThetaResolution=12, PhiResolution=8, Radius=0.5 * scale),
                     ResultArrayName="p", Function="coordsX + 2*coordsZ")
    if dtype:
        src.ResultArrayType = dtype
    return src

def producer(ds):
    tp = TrivialProducer()
    tp.GetClientSideObject().SetOutput(ds)
    return tp

def run(tag, src, model=args["model"], **props):
    case(tag)
    roll = EchoRollout(Input=src, Checkpoint=model, NumberOfFrames=props.pop("NumberOfFrames", 2), **props)
    roll.UpdatePipelineInformation()
    times = list(roll.TimestepValues)
    roll.UpdatePipeline(times[-1] if times else 0.5)
    alg = roll.GetClientSideObject()
    res[tag] = {"n_rollouts": alg.n_rollouts, "error": alg.last_error, "times": times,
                "used": alg.GetUsedParameters()}
    return roll

# Parameters nu=nan, nu=-1e9
run("nan_param", sphere(), Parameters="nu=nan")
run("far_param", sphere(), Parameters="nu=-1e9")
# param_nu stored as a string in the input's field data
sm_src = sphere()
sm_src.UpdatePipeline()
d = sm.Fetch(sm_src)
copy = d.NewInstance()
copy.DeepCopy(d)
s = vtkStringArray()
s.SetName("param_nu")
s.InsertNextValue("1.2e-3")
copy.GetFieldData().AddArray(s)
run("string_param", producer(copy))
bad = copy.NewInstance()
bad.DeepCopy(copy)
bad.GetFieldData().GetAbstractArray("param_nu").SetValue(0, "viscous")
run("string_param_text", producer(bad))
# caps inside the algorithm, and NumberOfSamples 0
run("frames_cap", sphere(), NumberOfFrames=10**6, Parameters="nu=1e-3")
run("samples_cap", sphere(), NumberOfSamples=1000, Parameters="nu=1e-3")
run("samples_zero", sphere(), NumberOfSamples=0, Parameters="nu=1e-3")
# each error once, however many passes and property sets
roll = run("once", sphere(), model="/nonexistent/model.safetensors")
for t in (0.0, 0.5, 1.0):
    roll.UpdatePipeline(t)
roll.NumberOfFrames = 3
roll.UpdatePipeline(0.5)
# a mesh scaled x100 outside the model's domain; a single point; an int32 field; an empty mesh
run("scaled_mesh", sphere(scale=100.0), Parameters="nu=1e-3")
one = convert.make_unstructured_grid(np.zeros((1, 3)), None, {"p": np.ones(1)})
run("single_point", producer(one), Parameters="nu=1e-3")
run("int32_field", sphere(dtype="Int"), Parameters="nu=1e-3")
from vtkmodules.vtkCommonDataModel import vtkUnstructuredGrid
run("empty_mesh", producer(vtkUnstructuredGrid()), Parameters="nu=1e-3")
# a model file whose header says dt < 0; NaN weights; a field with NaN
run("negative_dt", sphere(), model=args["negative_dt"], Parameters="nu=1e-3")
run("nan_weights", sphere(), model=args["nan_weights"], Parameters="nu=1e-3")
nanfield = convert.make_unstructured_grid(np.random.default_rng(0).uniform(-0.5, 0.5, (20, 3)), None,
                                          {"p": np.where(np.arange(20) == 3, np.nan, 1.0)})
run("nan_field", producer(nanfield), Parameters="nu=1e-3")
# a .pvd whose frame files are missing
def series(folder, missing):
    os.makedirs(folder, exist_ok=True)
    pts = np.random.default_rng(1).uniform(-0.5, 0.5, (30, 3))
    entries = []
    for i, t in enumerate([0.0, 0.5, 1.0]):
        w = vtkXMLUnstructuredGridWriter()
        w.SetFileName(os.path.join(folder, f"f{i}.vtu"))
        w.SetInputData(convert.make_unstructured_grid(pts, None, {"p": pts[:, 0] * (1 + t)}))
        w.Write()
        entries.append(f'<DataSet timestep="{t}" file="f{i}.vtu"/>')
    pvd = os.path.join(folder, "series.pvd")
    open(pvd, "w").write('<VTKFile type="Collection" version="0.1"><Collection>' + "".join(entries)
                         + "</Collection></VTKFile>")
    for i in missing:
        os.remove(os.path.join(folder, f"f{i}.vtu"))
    return pvd
run("pvd_missing_later", PVDReader(FileName=series(os.path.join(args["tmp"], "a"), [1])), Parameters="nu=1e-3")
run("pvd_missing_start", PVDReader(FileName=series(os.path.join(args["tmp"], "b"), [0])), Parameters="nu=1e-3")
case("end")
print("RESULT:" + json.dumps(res), flush=True)
'''


@pytest.fixture(scope="module")
def rows(tmp_path_factory, make_model):
    """Run every case in one pvpython; returns (results by case, stderr sections by case)."""
    import torch

    tmp = tmp_path_factory.mktemp("rows")
    box = dict(lo=(-1.0, -1.0, -1.0), hi=(1.0, 1.0, 1.0), dim=3, layout=(("p", 1),), params=(("nu", 1e-3, 5e-4),))
    model = make_model(tmp / "p3d.safetensors", dt=0.5, **box)
    negative = make_model(tmp / "negdt.safetensors", dt=-0.5, **box)
    from echo_model.rollout import Surrogate

    sur = Surrogate.load(model, device="cpu", cache=False)
    with torch.no_grad():
        for p in sur.gen.parameters():
            p.fill_(float("nan"))
    nan_weights = sur.save(tmp / "nanw.safetensors")
    args = json.dumps({"model": str(model), "negative_dt": str(negative), "nan_weights": str(nan_weights),
                       "tmp": str(tmp)})
    script = tmp / "rows.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "pvpython", str(script), args],
                         capture_output=True, text=True, timeout=400, cwd=REPO)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, out[-4000:]
    sections, tag = {}, None
    for line in run.stderr.splitlines():
        if line.startswith("CASE "):
            tag = line[5:].strip()
            sections[tag] = ""
        elif tag:
            sections[tag] += line + "\n"
    return json.loads(lines[-1][len("RESULT:"):]), sections


def _refused(rows, tag: str, *needles: str) -> str:
    res, sections = rows
    r, text = res[tag], sections[tag]
    assert r["n_rollouts"] == 0, (tag, r)
    for needle in needles:
        assert needle in (r["error"] or ""), (tag, r["error"])
        assert text.count(needle) == 1, (tag, text)  # in Output Messages, once
    assert "Traceback" not in text and "unexpected" not in text, text
    return text


def test_row_parameter_nan(rows):
    _refused(rows, "nan_param", "nu = nan", "not a finite number")


def test_row_parameter_minus_1e9(rows):
    _refused(rows, "far_param", "nu = -1e+09", "training standard deviations")


def test_row_param_nu_stored_as_string(rows):
    res, _ = rows
    assert res["string_param"]["n_rollouts"] == 1 and res["string_param"]["error"] is None
    assert res["string_param"]["used"]["nu"] == [pytest.approx(1.2e-3), "input field data param_nu (stored as text)"]
    _refused(rows, "string_param_text", "param_nu holds the text 'viscous'")


def test_row_number_of_frames_1e6_capped(rows):
    _refused(rows, "frames_cap", "NumberOfFrames is 1000000")


def test_row_number_of_samples_1000_capped(rows):
    _refused(rows, "samples_cap", "NumberOfSamples is 1000")


def test_row_number_of_samples_0(rows):
    _refused(rows, "samples_zero", "NumberOfSamples is 0")


def test_row_errors_reported_once(rows):
    _, sections = rows
    text = sections["once"]
    assert text.count("does not exist") == 1, text
    assert text.count("ERROR") == 1, text  # no second copy from VTK's executive either


def test_row_mesh_scaled_x100_outside_the_domain(rows):
    _refused(rows, "scaled_mesh", "outside the model's training domain")


def test_row_single_point(rows):
    _refused(rows, "single_point", "has 1 point(s)")


def test_row_int32_field(rows):
    res, _ = rows
    assert res["int32_field"]["n_rollouts"] == 1 and res["int32_field"]["error"] is None


def test_row_empty_mesh(rows):
    res, sections = rows
    assert res["empty_mesh"]["n_rollouts"] == 0
    assert "no dataset" in res["empty_mesh"]["error"] or "is empty" in res["empty_mesh"]["error"]
    assert "reshape" not in sections["empty_mesh"]


def test_row_negative_dt_in_the_model_header(rows):
    _refused(rows, "negative_dt", "'dt' is a number (-0.5)")


def test_row_nan_weights(rows):
    # refused when the file is loaded (or, failing that, when the output is checked): no NaN result
    _refused(rows, "nan_weights", "NaN")


def test_row_field_with_nan(rows):
    _refused(rows, "nan_field", "NaN")


def test_row_pvd_with_missing_frame_files(rows):
    res, sections = rows
    for tag in ("pvd_missing_later", "pvd_missing_start"):
        r, text = res[tag], sections[tag]
        assert r["n_rollouts"] == 0
        assert "file of its series is missing" in r["error"], r["error"]
        assert text.count("file of its series is missing") == 1, text
        assert "Cell Data to Point Data" not in text, text
        assert r["times"][:1] == [0.0] and len(r["times"]) >= 3  # the time steps stay

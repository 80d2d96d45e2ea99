"""The DMD model kind inside Debian's ParaView (pvbatch through the launcher): EchoRollout forecasts
with a DMD model file from EchoDatasetReader's frames, EchoModelReader's table shows the skill
report that `echopv train dmd` wrote, and a forecast from a state unlike the training ones warns."""
from __future__ import annotations

import json

import numpy as np
import pytest

from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.train.runs import DMDRun
from echo_model.train.stage_dmd import train_dmd

pytestmark = pytest.mark.paraview

SCRIPT = r'''
import json
import numpy as np
from paraview.simple import *
from paraview import servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy
ds = EchoDatasetReader(FileName={data!r})
r = EchoRollout(Input=ds, Checkpoint={model!r}, NumberOfFrames=5, StartTime="value", StartTimeValue={t0!r},
                Device="cpu", NumberOfThreads=1)
r.UpdatePipelineInformation()
steps = list(r.TimestepValues)
r.UpdatePipeline({t3!r})
out = sm.Fetch(r)
pred = vtk_to_numpy(out.GetPointData().GetArray("u_pred")).tolist()
m = EchoModelReader(FileName={model!r})
m.UpdatePipeline()
t = sm.Fetch(m)
rows = {{t.GetColumn(1).GetValue(i): t.GetColumn(2).GetValue(i) for i in range(t.GetNumberOfRows())
        if t.GetColumn(0).GetValue(i) == "summary"}}
other = EchoDatasetReader(FileName={other!r})
w = EchoRollout(Input=other, Checkpoint={model!r}, NumberOfFrames=2, Device="cpu", NumberOfThreads=1)
w.UpdatePipeline(0.1)
print("RESULT:" + json.dumps({{"steps": steps, "pred": pred, "rows": rows}}))
'''


def test_echo_rollout_with_a_dmd_model_and_its_skill_in_the_model_table(run_pv, tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(300, 2))
    t = 0.1 * np.arange(40)
    u = 1.0 + np.sin(2 * np.pi * (pts[None, :, 0] - 0.5 * t[:, None]))
    traj = Trajectory(points=pts, fields=u[..., None].astype(np.float32), times=t, field_layout=[("u", 1)])
    write_dataset(tmp_path / "run.h5", [traj], name="run", split={"train": [0]})
    model = train_dmd(DMDRun(data=str(tmp_path / "run.h5"), run=str(tmp_path / "dmd")))
    regime = 1.0 + np.sin(6 * np.pi * pts[:, 0]) * np.cos(2 * np.pi * pts[:, 1])  # a state unlike the training ones
    write_dataset(tmp_path / "other.h5", [Trajectory(points=pts, fields=np.repeat(regime[None, :, None], 3, 0)
                                                     .astype(np.float32), times=t[:3], field_layout=[("u", 1)])],
                  name="other", split={"train": [0]})
    run = run_pv("pvbatch", SCRIPT.format(data=str(tmp_path / "run.h5"), model=str(model), t0=float(t[20]),
                                          t3=float(t[23]), other=str(tmp_path / "other.h5")), timeout=300)
    assert run.returncode == 0, run.output[-4000:]
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")][-1]
    res = json.loads(line[len("RESULT:"):])
    assert any(abs(s - t[23]) < 1e-9 for s in res["steps"])
    pred = np.asarray(res["pred"])
    assert float(((pred - u[23]) ** 2).sum() / (u[23] ** 2).sum()) < 1e-6
    assert res["rows"]["generator"].startswith("dmd (dynamic mode decomposition)")
    assert "beats persistence for 10 frame(s)" in res["rows"]["skill u"]
    assert "ERROR" not in run.output, run.output[-4000:]
    assert run.output.count("the input state is unlike the training states") == 1  # the second rollout only

"""EchoRollout in pvbatch on 3D inputs made by ParaView's own filters: image data (Wavelet), the same
volume as tetrahedra (Tetrahedralize) and with cell data (Point Data to Cell Data)."""
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
from paraview import servermanager as sm
from vtkmodules.util import numpy_support as ns

model = sys.argv[1]
wave = Wavelet(WholeExtent=[-6, 6, -6, 6, -6, 6])  # a 13^3 image over [-6, 6]^3
p = Calculator(Input=wave, ResultArrayName="p", Function="RTData / 300")
inputs = {
    "image_points": p,
    "tetrahedra_points": Tetrahedralize(Input=p),
    "image_cells": PointDatatoCellData(Input=p),
}
res = {}
for tag, src in inputs.items():
    roll = EchoRollout(Input=src, Checkpoint=model, NumberOfFrames=2, Device="cpu")
    roll.UpdatePipelineInformation()
    times = roll.GetClientSideObject().GetPredictedTimes()
    roll.UpdatePipeline(times[-1])
    out = sm.Fetch(roll)
    data = out.GetCellData() if tag.endswith("cells") else out.GetPointData()
    arr = data.GetArray("p_pred")
    res[tag] = {"type": out.GetClassName(), "n": out.GetNumberOfCells() if tag.endswith("cells") else out.GetNumberOfPoints(),
                "n_pred": arr.GetNumberOfTuples() if arr else 0,
                "finite": bool(arr is not None and np.isfinite(ns.vtk_to_numpy(arr)).all()),
                "error": roll.GetClientSideObject().last_error}
print("RESULT " + json.dumps(res))
'''


@pytest.fixture(scope="module")
def model_box6(tmp_path_factory) -> Path:
    """An untrained 3D model of one scalar `p` whose box is the Wavelet's [-6, 6]^3."""
    import numpy as np
    import torch

    from echo_model.data.normalize import Domain
    from echo_model.rollout import create_untrained

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("m3d") / "p3d.safetensors"
    create_untrained([("p", 1)], dim=3, dt=0.25, domain=Domain(np.full(3, -6.0), np.full(3, 6.0)), seed=0).save(path)
    return path


def test_echorollout_on_3d_volumes_in_pvbatch(model_box6, tmp_path):
    model_file = model_box6
    script = tmp_path / "roll3d.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "pvbatch", str(script), str(model_file)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    res = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    assert res["image_points"]["type"] == "vtkImageData"
    assert res["tetrahedra_points"]["type"] == "vtkUnstructuredGrid"
    assert res["image_cells"]["type"] == "vtkImageData"
    for tag, r in res.items():
        assert r["n_pred"] == r["n"] > 1000 and r["finite"], (tag, r)

"""`echopv demo cylinder`: an OpenFOAM case through ParaView's OpenFOAM reader into EchoRollout,
pictures of solver | ECHO | error and the error curve from the filter's own rel-MSE field data."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.paraview, pytest.mark.openfoam]


def test_demo_cylinder_on_an_openfoam_case(foam_case, cylinder_model, tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "echo_paraview.cli", "demo", "cylinder", "--model", str(cylinder_model),
         "--case", str(foam_case), "--start", "0.5", "--frames", "4", "--samples", "1", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=400,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["start"] == pytest.approx(0.5)
    assert m["times"] == pytest.approx([0.55, 0.6, 0.65, 0.7])
    assert len(m["rel_mse"]) == 4 and np.all(np.isfinite(m["rel_mse"])) and min(m["rel_mse"]) > 0
    assert m["interpolated"] == [False] * 4  # the case is written every model dt
    assert m["n_cells"] > 1000  # the reader's cells, not mesh points
    sheet = np.asarray(Image.open(out / "demo.png").convert("RGB"))
    assert sheet.shape == (3 * 230, 3 * 900, 3)  # 3 times x (solver, ECHO, error)
    for col in range(3):  # every panel holds colour-mapped data
        panel = sheet[:230, col * 900:(col + 1) * 900].reshape(-1, 3)
        assert len(np.unique(panel, axis=0)) > 100, col
    assert (out / "error.png").stat().st_size > 10_000
    assert "frame   t" in run.stdout

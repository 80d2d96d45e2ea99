"""The README's main job (`echopv demo`), shortened: real pvbatch, real trained sample model."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.paraview


def test_demo_runs_filter_in_pvbatch_and_beats_persistence(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "echo_paraview.cli", "demo", "--frames", "4", "--samples", "2", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=400,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frames"] == 4
    # the filter conditioned the model on the solver's own viscosity, read from the .pvd field data
    nu, source = metrics["parameters"]["nu"]
    assert source == "input field data param_nu" and 1e-4 < nu < 3e-3
    echo, persist = np.array(metrics["rel_mse_per_step"]), np.array(metrics["persistence_rel_mse_per_step"])
    assert np.all(np.isfinite(echo))
    # the committed model is trained: after a few frames it must beat "nothing changes"
    assert echo[-1] < persist[-1], (echo, persist)
    assert (out / "prediction.pvd").exists() and len(list((out / "prediction").glob("*.vtu"))) == 5
    sheet = np.asarray(Image.open(out / "demo.png").convert("RGB"))
    assert sheet.shape[0] >= 3 * 400 and sheet.shape[1] >= 3 * 400  # 3 times x (solver, ECHO, std)
    assert len(np.unique(sheet.reshape(-1, 3), axis=0)) > 200  # colour-mapped data, not empty views
    assert (out / "error.png").stat().st_size > 10_000
    # the top row is the given frame, labelled so; the predicted rows name their lead time
    rows = [json.loads(ln[len("PANELS "):]) for ln in (out / "pvbatch.log").read_text().splitlines()
            if ln.startswith("PANELS ")]
    assert len(rows) == 3 and all(t.startswith("given") for t in rows[0]), rows
    assert "lead" in rows[1][1] and "(2 dt)" in rows[1][1] and "(4 dt)" in rows[2][2], rows

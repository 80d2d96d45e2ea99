"""Series written by ParaView itself (pvpython SaveData with WriteTimeSteps=1) read back by
echo_paraview.io.pvd with the right times and values.

One pvpython run (started through `echopv pvpython`, i.e. the launcher's environment) makes:
  1. wave.pvd: Wavelet -> GenerateTimeSteps -> Python Calculator `RTData * (1 + t_value)`
     (image data frames, .vti, written by ParaView's own temporal pipeline);
  2. calc.pvd: our .pvd opened with PVDReader -> Calculator `2*p` (unstructured .vtu frames).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vtkmodules")

from echo_model.data.trajectory import Trajectory
from echo_paraview.io.pvd import parse_pvd, read_series, write_pvd

REPO = Path(__file__).resolve().parents[2]
TIMES = [0.0, 0.5, 1.25, 2.0]

pytestmark = [
    pytest.mark.paraview,
    pytest.mark.skipif(
        shutil.which("pvpython") is None and not os.environ.get("ECHOPV_PARAVIEW_BIN"),
        reason="ParaView's pvpython is not installed (bash scripts/setup.sh installs Debian's)",
    ),
]

SCRIPT = """
from paraview.simple import *
import sys
out, ours = sys.argv[1], sys.argv[2]
w = Wavelet(WholeExtent=[0, 7, 0, 5, 0, 3])
g = GenerateTimeSteps(Input=w, TimeStepValues={times})
c = PythonCalculator(Input=g, Expression="RTData * (1 + t_value)", ArrayName="scaled")
SaveData(out + "/wave.pvd", proxy=c, WriteTimeSteps=1)
r = PVDReader(FileName=ours)
r.UpdatePipelineInformation()
print("PVD_TIMES", list(r.TimestepValues))
k = Calculator(Input=r, Function="2*p", ResultArrayName="p2")
SaveData(out + "/calc.pvd", proxy=k, WriteTimeSteps=1)
print("ECHO_PV_DONE")
"""


@pytest.fixture(scope="module")
def pv_outputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pvsave")
    rng = np.random.default_rng(0)
    ours = Trajectory(
        points=rng.random((40, 2)),
        fields=rng.standard_normal((3, 40, 3)).astype(np.float32),
        times=[0.1, 0.4, 0.9],
        field_layout=[("U", 2), ("p", 1)],
        params={"Re": 3.0},
    )
    write_pvd(ours, tmp / "ours.pvd")
    script = tmp / "save.py"
    script.write_text(textwrap.dedent(SCRIPT.format(times=TIMES)))
    proc = subprocess.run(
        [sys.executable, "-m", "echo_paraview.cli", "pvpython", "--", "--force-offscreen-rendering",
         str(script), str(tmp), str(tmp / "ours.pvd")],
        capture_output=True, text=True, timeout=240, cwd=str(REPO),
    )
    assert "ECHO_PV_DONE" in proc.stdout, f"pvpython failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "PVD_TIMES [0.1, 0.4, 0.9]" in proc.stdout  # ParaView reads our .pvd times too
    return tmp, ours


def test_temporal_wavelet_series(pv_outputs):
    tmp, _ = pv_outputs
    entries = parse_pvd(tmp / "wave.pvd")
    assert [e.path.suffix for e in entries] == [".vti"] * 4
    traj = read_series(tmp / "wave.pvd")
    np.testing.assert_allclose(traj.times, TIMES)
    assert traj.dim == 3 and traj.n_points == 8 * 6 * 4
    names = [n for n, _ in traj.field_layout]
    assert "RTData" in names and "scaled" in names
    rt, scaled = traj.field("RTData"), traj.field("scaled")
    for k, t in enumerate(TIMES):  # the calculator really saw each time step
        np.testing.assert_allclose(scaled[k], rt[k] * (1 + t), rtol=1e-5)
    assert np.ptp(traj.points[:, 0]) == 7.0  # WholeExtent 0..7 with spacing 1
    subset = read_series(tmp / "wave.pvd", fields=["scaled"], skip_time=0.5, every=2)
    np.testing.assert_allclose(subset.times, [0.5, 2.0])


def test_paraview_filtered_our_series(pv_outputs):
    tmp, ours = pv_outputs
    traj = read_series(tmp / "calc.pvd")
    np.testing.assert_allclose(traj.times, ours.times)
    assert traj.field_layout == [("U", 2), ("p", 1), ("p2", 1)]  # ours first, the added array after
    np.testing.assert_array_equal(traj.points, ours.points)
    np.testing.assert_array_equal(traj.field("U"), ours.field("U"))
    np.testing.assert_allclose(traj.field("p2"), 2 * ours.field("p"), rtol=1e-6)
    assert traj.params == {"Re": 3.0}  # our FieldData provenance survives ParaView filters

"""The package as a wheel: built from the repository, installed into a fresh venv outside the checkout,
its `echopv pvbatch` finds the plugin and runs an EchoRollout script on a sample file."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from echo_paraview.resources import CHECKOUT

pytestmark = pytest.mark.paraview

SAMPLE = CHECKOUT / "sample_cases" / "ns2d_vorticity"
SCRIPT = r'''
import sys
from paraview.simple import *
ds = EchoDatasetReader(FileName=sys.argv[1], Trajectory=3)
r = EchoRollout(Input=ds, Checkpoint=sys.argv[2], NumberOfFrames=2, NumberOfSamples=1)
r.UpdatePipelineInformation()
times = r.GetClientSideObject().GetPredictedTimes()
r.UpdatePipeline(times[-1])
import echo_paraview
from paraview import servermanager
out = servermanager.Fetch(r)
print("PACKAGE", echo_paraview.__file__)
print("PREDICTED", len(times), out.GetPointData().GetArray("vorticity_pred").GetNumberOfTuples())
print("RENDERED")
'''


def _build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the package's sources (the build never writes into the checkout)."""
    src = tmp / "src"
    for name in ("echo_model", "echo_paraview", "plugins", "scripts"):
        shutil.copytree(CHECKOUT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist")], check=True, capture_output=True, timeout=300)
    return next((tmp / "dist").glob("echo_paraview-*.whl"))


def _fresh_venv(tmp: Path, wheel: Path) -> Path:
    """A venv with only the wheel installed; its dependencies (torch, h5py, ...) come from this
    environment's site-packages through a .pth line, so nothing is downloaded."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=300)
    return venv


def test_wheel_ships_the_plugin_and_runs_echorollout_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("share/echo-paraview/plugins/EchoPlugin.py") for n in names), names[-10:]
    assert any(n.endswith("share/echo-paraview/scripts/pv_demo.py") for n in names)
    venv = _fresh_venv(tmp_path, wheel)
    (tmp_path / "job.py").write_text(SCRIPT)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PV_PLUGIN_PATH", "ECHOPV_PYTHON")}
    run = subprocess.run([str(venv / "bin" / "echopv"), "pvbatch", str(tmp_path / "job.py"),
                          str(SAMPLE / "ns2d_64.h5"), str(SAMPLE / "model_tiny.safetensors")],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    package = next(line for line in out.splitlines() if line.startswith("PACKAGE")).split()[1]
    assert str(venv) in package and str(CHECKOUT) not in package, package  # the wheel's copy, not the checkout
    assert "PREDICTED 2 4096" in out, out[-2000:]

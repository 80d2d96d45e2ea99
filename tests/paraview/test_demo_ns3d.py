"""`echopv demo ns3d`, shortened: the spectral solver's 3D series, EchoRollout in the real pvbatch,
the volume / slice / Q-criterion pictures and metrics.json; and its refusals of unusable models."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from echo_paraview.cli import main

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "sample_cases" / "ns3d_taylor_green" / "model.safetensors"
PICTURES = ("volume.png", "slices.png", "qcriterion.png", "error.png", "demo_ns3d.png")


def _untrained(path: Path, layout, dim: int, dt: float) -> Path:
    import torch

    from echo_model.data.normalize import Domain
    from echo_model.rollout import create_untrained

    torch.set_num_threads(1)
    create_untrained(layout, dim=dim, dt=dt, domain=Domain(np.zeros(dim), np.ones(dim)),
                     param_names=("nu",), seed=0).save(path)
    return path


@pytest.fixture(scope="module")
def velocity_model(tmp_path_factory) -> Path:
    """A 3D model of `velocity` on the unit cube (random weights: the demo's plumbing, not its skill),
    with a dt unlike the shipped model's 0.15, so the frame spacing must come from the model file."""
    return _untrained(tmp_path_factory.mktemp("ns3d") / "velocity3d.safetensors", [("velocity", 3)], 3, 0.2)


def _run_demo(model: Path, out: Path, frames: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "echo_paraview.cli", "demo", "ns3d", "--frames", str(frames), "--threads", "1",
           "--out", str(out)] + (["--model", str(model)] if model != SHIPPED else [])
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def _assert_pictures(out: Path) -> None:
    for name in PICTURES:
        img = np.asarray(Image.open(out / name).convert("RGB"), dtype=float)
        assert img.shape[0] >= 400 and img.shape[1] >= 400, (name, img.shape)
        assert img.std() > 20, f"{name} is blank (pixel std {img.std():.1f})"
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200, f"{name} holds no colour-mapped data"
    row = Image.open(out / "volume.png").size  # three panels side by side
    assert Image.open(out / "demo_ns3d.png").size == (row[0], 3 * row[1])  # volume, slices, Q-criterion rows
    assert not list(out.glob("panel_*.png"))


@pytest.mark.paraview
@pytest.mark.slow
def test_demo_ns3d_renders_and_scores_every_frame(velocity_model, tmp_path):
    out = tmp_path / "demo3d"
    run = _run_demo(velocity_model, out, frames=3)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _assert_pictures(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frames"] == 3 and metrics["dt"] == pytest.approx(0.2)
    assert metrics["times"] == pytest.approx([0.2, 0.4, 0.6])  # the model's dt, not the shipped 0.15
    for key in ("rel_mse_per_step", "persistence_rel_mse_per_step"):
        values = np.asarray(metrics[key])
        assert values.shape == (3,) and np.all(np.isfinite(values)) and np.all(values > 0), (key, values)
    # the flow decays: holding the first frame gets worse with every frame
    assert np.all(np.diff(metrics["persistence_rel_mse_per_step"]) > 0)
    # EchoRollout conditioned the model on the solver's viscosity, read from the .vti field data
    nu, source = metrics["parameters"]["nu"]
    assert source == "input field data param_nu" and nu == pytest.approx(metrics["nu"], rel=1e-6)
    log = (out / "pvbatch.log").read_text()
    assert "EchoRollout: 3 predicted frames" in log and "RENDERED" in log
    assert len(list((out / "solver").glob("*.vti"))) == 4 and len(list((out / "prediction").glob("*.vti"))) == 4


@pytest.mark.paraview
@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped 3D model is not in sample_cases/ yet "
                    "(the demo's plumbing is tested with a tiny model above)")
def test_shipped_model_beats_persistence_in_the_demo(tmp_path):
    out = tmp_path / "shipped"
    run = _run_demo(SHIPPED, out, frames=4)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _assert_pictures(out)
    metrics = json.loads((out / "metrics.json").read_text())
    echo, still = np.asarray(metrics["rel_mse_per_step"]), np.asarray(metrics["persistence_rel_mse_per_step"])
    assert metrics["dt"] == pytest.approx(0.15) and np.all(np.isfinite(echo))
    assert echo[-1] < still[-1], (echo, still)


def test_a_2d_model_is_refused_with_the_fix(tmp_path, capsys):
    model = _untrained(tmp_path / "w2d.safetensors", [("velocity", 3)], 2, 0.15)
    code = main(["demo", "ns3d", "--model", str(model), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "needs a 3D model of the 3-component field `velocity`" in err and "--model" in err
    assert not (tmp_path / "out").exists()  # refused before anything is solved or written


def test_a_missing_model_is_refused_with_the_fix(tmp_path, capsys):
    code = main(["demo", "ns3d", "--model", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.safetensors is missing" in err and "echopv train all" in err


@pytest.mark.parametrize("argv, text", [
    (["--frames", "0"], "--frames 0"),
    (["--samples", "0"], "--samples 0"),
    (["--q-fraction", "1.5"], "--q-fraction 1.5"),
    (["--resolution", "4"], "--resolution 4"),
], ids=["frames", "samples", "q-fraction", "resolution"])
def test_option_mistakes_are_refused_before_any_work(velocity_model, tmp_path, capsys, argv, text):
    code = main(["demo", "ns3d", "--model", str(velocity_model), *argv, "--out", str(tmp_path / "out")])
    assert code == 2 and text in capsys.readouterr().err
    assert not (tmp_path / "out" / "solver.pvd").exists()

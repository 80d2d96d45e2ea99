"""`echopv rollout --task ...` on the committed vorticity model and dataset: series written, times, errors."""
import json

import numpy as np
import pytest
import torch

from echo_model.data.store import TrajectoryStore
from echo_model.rollout import create_untrained
from echo_paraview.cli import main as echopv
from echo_paraview.io.pvd import read_series

torch.set_num_threads(1)
MODEL = "sample_cases/ns2d_vorticity/model_tiny.safetensors"
DATA = "sample_cases/ns2d_vorticity/ns2d_64.h5"
BASE = ["rollout", MODEL, "--dataset", DATA, "--traj", "20", "--threads", "1"]


@pytest.fixture(scope="module")
def traj():
    with TrajectoryStore(DATA) as store:
        return store[20]


def test_interpolate_fills_every_model_step_and_keeps_the_saved_frames(traj, tmp_path):
    assert echopv(BASE + ["--task", "interpolate", "--stride", "4", "--input-frames", "3", "--steps", "2",
                          "--out", str(tmp_path)]) == 0
    pred = read_series(tmp_path / "prediction.pvd")
    assert pred.n_frames == 9 and pred.n_points == 4096
    np.testing.assert_allclose(pred.times, traj.times[:9], atol=1e-9)
    np.testing.assert_array_equal(pred.fields[[0, 4, 8]], traj.fields[[0, 4, 8]])
    assert 0 < np.abs(pred.fields[2] - traj.fields[2]).max() < 0.5  # a prediction, near the solver
    assert json.loads((tmp_path / "prediction.json").read_text())["gap"] == 4


def test_inverse_writes_the_frames_before_the_input(traj, tmp_path):
    assert echopv(BASE + ["--task", "inverse", "--start", "8", "--frames", "4", "--steps", "2",
                          "--out", str(tmp_path)]) == 0
    pred = read_series(tmp_path / "prediction.pvd")
    assert pred.n_frames == 4
    np.testing.assert_allclose(pred.times, traj.times[4:8], atol=1e-9)
    err = np.linalg.norm(pred.fields[0] - traj.fields[4]) / np.linalg.norm(traj.fields[4])
    persistence = np.linalg.norm(traj.fields[8] - traj.fields[4]) / np.linalg.norm(traj.fields[4])
    assert err < persistence


def test_sample_writes_members_mean_and_spread(tmp_path):
    assert echopv(BASE + ["--task", "sample", "--frames", "3", "--samples", "2", "--steps", "2",
                          "--out", str(tmp_path)]) == 0
    pred = read_series(tmp_path / "prediction.pvd")
    assert pred.n_frames == 3 and [n for n, _ in pred.field_layout] == ["vorticity", "vorticity_std"]
    assert pred.fields[..., 1].mean() > 0.05  # two independent draws differ


def test_reconstruct_from_probes(traj, tmp_path):
    assert echopv(BASE + ["--task", "reconstruct", "--probes", "0.05", "--input-frames", "2",
                          "--out", str(tmp_path)]) == 0
    pred = read_series(tmp_path / "prediction.pvd")
    assert pred.n_frames == 2 and pred.n_points == 4096
    np.testing.assert_allclose(pred.times, traj.times[:2], atol=1e-9)
    err = np.linalg.norm(pred.fields - traj.fields[:2]) / np.linalg.norm(traj.fields[:2])
    assert err < 0.05
    assert json.loads((tmp_path / "prediction.json").read_text())["n_probes"] == 205


@pytest.mark.parametrize("extra, message", [
    (["--task", "interpolate"], "gap must be 2 to 8"),
    (["--task", "sample", "--probes", "0.1"], "--probes 0.1: a fraction in (0, 1], for --task reconstruct only"),
    (["--task", "inverse", "--stride", "0"], "--stride 0"),
])
def test_task_errors_name_the_option(extra, message, tmp_path, capsys):
    assert echopv(BASE + extra + ["--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_a_task_the_model_was_not_trained_for_is_refused(tmp_path, capsys):
    sur = create_untrained([("vorticity", 1)], 2, param_names=["nu"])
    sur.meta["task_probs"] = {"forward": 0.8, "inverse": 0.0, "interpolation": 0.2, "unconditional": 0.0}
    model = sur.save(tmp_path / "m.safetensors")
    args = ["rollout", str(model), "--dataset", DATA, "--task", "inverse", "--out", str(tmp_path / "o")]
    assert echopv(args) == 2
    err = capsys.readouterr().err
    assert "task 'inverse'" in err and "inverse mask" in err and "--p-inverse" in err

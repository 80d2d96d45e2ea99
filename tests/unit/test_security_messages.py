"""Issue 24, group 13: messages that name the file (or the parameter) and the fix.

Before: "times must be strictly increasing", "could not convert string to float: 'fast'", "operands
could not be broadcast", and a rollout with nu = NaN blamed a damaged model after the whole run."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from echo_model.data.store import TrajectoryStore
from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError
from echo_model.rollout import Surrogate, create_untrained
from echo_paraview.cli import main as echopv
from tiny_runs import DOMAIN, autoencoder_file, edit_header, model_file, tiny_dataset

torch.set_num_threads(1)


def test_decreasing_times_name_the_frames_and_the_fix():
    with pytest.raises(EchoUserError) as info:
        Trajectory(np.zeros((2, 2)), np.zeros((3, 2, 1)), [0.0, 0.2, 0.1], [("p", 1)])
    msg = str(info.value)
    assert "t[2] = 0.1 follows t[1] = 0.2" in msg and "--skip-time" in msg


def test_a_parameter_that_is_not_a_number_is_named():
    with pytest.raises(EchoUserError) as info:
        Trajectory(np.zeros((2, 2)), np.zeros((1, 2, 1)), [0.0], [("p", 1)], params={"nu": "fast"})
    msg = str(info.value)
    assert "'nu'" in msg and "'fast'" in msg and "not a number" in msg and "could not convert" not in msg


def test_import_errors_name_the_source(monkeypatch):
    from echo_paraview.io import importer

    def failing(src, opt):
        Trajectory(np.zeros((2, 2)), np.zeros((2, 2, 1)), [0.0, 0.0], [("p", 1)])
        yield

    monkeypatch.setattr(importer, "_read_source", failing)
    with pytest.raises(EchoUserError) as info:
        list(importer.iter_sources(["case/run.pvd"], importer.ImportOptions()))
    assert str(info.value).startswith("case/run.pvd: ") and "strictly increasing" in str(info.value)


def test_nan_parameter_in_a_rollout_names_the_parameter():
    sur = create_untrained([("w", 1)], 2, domain=DOMAIN, dt=0.5, param_names=["nu"])
    pts = np.random.default_rng(0).uniform(size=(20, 2))
    calls = []
    with pytest.raises(EchoUserError) as info:
        sur.rollout(pts, np.zeros((sur.n_observed_frames, 20, 1), np.float32), n_frames=2, steps=1,
                    params={"nu": float("nan")}, progress=calls.append)
    msg = str(info.value)
    assert "'nu'" in msg and "finite" in msg and "damaged" not in msg
    assert calls == []  # refused before the sampler ran


def test_nan_parameter_in_the_dataset_names_the_trajectory(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "d.h5")
    with h5py.File(data, "r+") as f:
        f["trajectories/000000"].attrs["params"] = json.dumps({"nu": float("nan")})
    with pytest.raises(EchoUserError) as info:
        with TrajectoryStore(data) as store:
            store[0]
    assert str(data) in str(info.value) and "trajectory 0" in str(info.value) and "'nu'" in str(info.value)


def test_cache_latents_with_a_text_parameter(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "d.h5")
    with h5py.File(data, "r+") as f:
        f["trajectories/000001"].attrs["params"] = json.dumps({"nu": "fast"})
    ae = autoencoder_file(tmp_path / "ae.safetensors")
    code = echopv(["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(tmp_path / "l.h5"),
                   "--threads", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and str(data) in err and "trajectory 1" in err and "'nu'" in err
    assert "could not convert" not in err


def test_stats_of_the_wrong_length_are_named_not_broadcast(tmp_path):
    bad = edit_header(model_file(tmp_path / "m.safetensors"), tmp_path / "bad.safetensors",
                      stats__mean=[0.0, 1.0], stats__std=[1.0, 1.0])
    with pytest.raises(EchoUserError) as info:
        Surrogate.load(bad, device="cpu", cache=False)
    msg = str(info.value)
    assert str(bad) in msg and "'stats.mean'" in msg and "list of 1 finite numbers" in msg

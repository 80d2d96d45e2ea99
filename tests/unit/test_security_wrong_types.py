"""Issue 24, group 10: wrong JSON types and out-of-range values give a clean EchoUserError (exit 2)
naming the file, the key and the fix, never a traceback: in a model header (`info`, Surrogate.load as
`rollout` and EchoRollout use it), a run configuration (`train all --config`, EchoTrain's file), a
dataset's attributes, and options such as `--threads=-2` or a run directory that is a plain file."""
from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
import torch

from echo_model.data.store import TrajectoryStore
from echo_model.errors import EchoUserError
from echo_model.rollout import Surrogate
from echo_model.train.runs import PipelineRun, from_json, to_json
from echo_paraview.cli import main as echopv
from tiny_runs import AE_FAST, edit_header, model_file, tiny_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return model_file(tmp_path_factory.mktemp("types") / "m.safetensors")


# --- model headers -----------------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [("domain", [0, 1]), ("field_layout", 3), ("autoencoder", [1, 2]),
                                        ("provenance", "made by hand"), ("dit", "x"), ("stats", None),
                                        ("latent_std", "1"), ("param_names", {"nu": 1}), ("dt", "fast"),
                                        ("steps", "10"), ("sampler", 3), ("dim", 7)])
def test_header_of_the_wrong_type_is_refused(model, tmp_path, capsys, key, value):
    bad = edit_header(model, tmp_path / "bad.safetensors", **{key: value})
    with pytest.raises(EchoUserError) as info:
        Surrogate.load(bad, device="cpu", cache=False)
    msg = str(info.value)
    assert str(bad) in msg and repr(key) in msg and "copy or export the model file again" in msg, msg
    assert echopv(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_header_domain_with_hi_below_lo_is_refused(model, tmp_path):
    bad = edit_header(model, tmp_path / "bad.safetensors", domain={"lo": [0, 0], "hi": [1, -1]})
    with pytest.raises(EchoUserError, match="hi > lo"):
        Surrogate.load(bad, device="cpu", cache=False)


# --- run configurations ------------------------------------------------------------------------
def _config(**changes) -> str:
    obj = json.loads(to_json(PipelineRun(data="d.h5", run="runs/x")))
    obj["config"].update(changes)
    return json.dumps(obj)


@pytest.mark.parametrize("changes, needles", [
    ({"ae_steps": "2"}, ["'ae_steps'", "whole number", "no quotes"]),
    ({"grid": 5}, ["'grid'", "a list of"]),
    ({"grid": [-4, 8]}, ["'grid'", "at least 1"]),
    ({"threads": -3}, ["'threads'", "at least 0"]),
    ({"data": 123}, ["'data'", "a string"]),
    ({"data": None}, ["'data'", "missing"]),
    ({"dit_lr": float("nan")}, ["'dit_lr'", "finite"]),
    ({"preset": ["tiny"]}, ["'preset'", "a string"]),
    ({"progress": "no"}, ["'progress'", "true or false"]),
])
def test_config_values_of_the_wrong_type_or_range_are_refused(changes, needles):
    with pytest.raises(EchoUserError) as info:
        from_json(PipelineRun, _config(**changes), source="cfg.json")
    msg = str(info.value)
    assert msg.startswith("cfg.json"), msg
    for needle in needles:
        assert needle in msg, msg


def test_config_without_data_is_refused():
    obj = json.loads(_config())
    del obj["config"]["data"]
    with pytest.raises(EchoUserError, match="'data' is missing"):
        from_json(PipelineRun, json.dumps(obj), source="cfg.json")


def test_deeply_nested_config_is_refused(tmp_path, capsys):
    cfg = tmp_path / "deep.json"
    cfg.write_text("[" * 100_000 + "]" * 100_000)
    assert echopv(["train", "all", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "deeper" in err


def test_train_all_config_with_a_string_step_count(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(_config(ae_steps="2"))
    assert echopv(["train", "all", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "'ae_steps'" in err


# --- options -----------------------------------------------------------------------------------
def test_negative_threads_option_is_refused(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "d.h5")
    code = echopv(["train", "ae", "--data", str(data), "--run", str(tmp_path / "run"), "--steps", "1",
                   *AE_FAST, "--threads=-2"])
    assert code == 2 and "--threads" in capsys.readouterr().err


def test_set_threads_refuses_negative_counts():
    from echo_model.threads import set_threads

    with pytest.raises(EchoUserError, match="--threads -2"):
        set_threads(-2)


@pytest.mark.parametrize("kind", ["file", "loop"])
def test_run_directory_that_is_a_file_or_a_link_loop(tmp_path, capsys, kind):
    data = tiny_dataset(tmp_path / "d.h5")
    run = tmp_path / "run"
    if kind == "file":
        run.write_text("not a folder")
    else:
        run.symlink_to(run)
    code = echopv(["train", "ae", "--data", str(data), "--run", str(run), "--steps", "1", *AE_FAST])
    err = capsys.readouterr().err
    assert code == 2 and str(run) in err and "another run directory" in err, err


# --- dataset attributes ------------------------------------------------------------------------
@pytest.fixture
def dataset(tmp_path):
    return tiny_dataset(tmp_path / "d.h5")


@pytest.mark.parametrize("params, needle", [([1, 2], "JSON object"), ({"nu": {"a": 1}}, "must be numbers"),
                                            ({"nu": "fast"}, "must be numbers"), ({"nu": float("nan")}, "NaN")])
def test_dataset_params_of_the_wrong_type(dataset, params, needle):
    with h5py.File(dataset, "r+") as f:
        f["trajectories/000001"].attrs["params"] = json.dumps(params)
    with pytest.raises(EchoUserError) as info:
        with TrajectoryStore(dataset) as store:
            store.params(1)
    assert str(dataset) in str(info.value) and "trajectory 1" in str(info.value) and needle in str(info.value)


def test_dataset_params_not_json(dataset):
    with h5py.File(dataset, "r+") as f:
        f["trajectories/000000"].attrs["params"] = "{nu: 1"
    with pytest.raises(EchoUserError, match="not JSON"):
        with TrajectoryStore(dataset) as store:
            store[0]


@pytest.mark.parametrize("index", [2, -1, 10**9])
def test_split_index_out_of_range(dataset, capsys, index):
    with h5py.File(dataset, "r+") as f:
        del f["split/train"]
        f["split/train"] = np.array([0, index])
    with pytest.raises(EchoUserError) as info:
        TrajectoryStore(dataset)
    assert str(dataset) in str(info.value) and f"trajectory {index}" in str(info.value)
    assert echopv(["info", str(dataset)]) == 2


def test_unknown_split_names_the_file_and_the_known_ones(dataset):
    with TrajectoryStore(dataset) as store:
        with pytest.raises(EchoUserError) as info:
            store.split_indices("validation")
    assert str(dataset) in str(info.value) and "'train'" in str(info.value)


def test_n_trajectories_larger_than_the_groups(dataset, capsys):
    with h5py.File(dataset, "r+") as f:
        f.attrs["n_trajectories"] = 5
    assert echopv(["info", str(dataset)]) == 2
    assert "n_trajectories = 5" in capsys.readouterr().err


def test_read_only_folder_is_named(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    data = tiny_dataset(tmp_path / "d.h5")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code = echopv(["train", "ae", "--data", str(data), "--run", str(ro / "run"), "--steps", "1", *AE_FAST])
    finally:
        ro.chmod(0o755)
    err = capsys.readouterr().err
    assert code == 2 and str(ro / "run") in err and "Traceback" not in err


def test_output_below_a_plain_file_is_named(tmp_path, capsys):
    from tiny_runs import autoencoder_file

    data = tiny_dataset(tmp_path / "d.h5")
    ae = autoencoder_file(tmp_path / "ae.safetensors")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    code = echopv(["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(blocker / "lat.h5"),
                   "--threads", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and str(blocker) in err and "choose another path" in err and "Traceback" not in err


@pytest.mark.parametrize("declared, needle", [(5, "hold 2 samples"), ("abc", "not a whole number"),
                                              (-1, "n_trajectories = -1")])
def test_well_file_with_a_wrong_n_trajectories(tmp_path, declared, needle):
    from echo_model.data.trajectory import Trajectory
    from echo_model.io_well import iter_well_trajectories, write_well

    xx, yy = np.meshgrid(np.arange(4.0), np.arange(3.0), indexing="ij")
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    trajs = [Trajectory(pts, np.full((3, 12, 1), float(s), np.float32), [0.0, 1.0, 2.0], [("p", 1)])
             for s in range(2)]
    path = write_well(tmp_path / "w.hdf5", trajs, dataset_name="t")
    with h5py.File(path, "r+") as f:
        f.attrs["n_trajectories"] = declared
    with pytest.raises(EchoUserError) as info:
        list(iter_well_trajectories(path))
    assert str(path) in str(info.value) and needle in str(info.value) and "n_trajectories" in str(info.value)

"""Issue 24, group 9 (model headers and run configurations): tiny files, huge allocations.

A header's `autoencoder.grid` and `latent_dim`, and a configuration's `grid` and `latent_dim`, are refused
from the declared sizes before a network or a tensor is built: each entry and the node count against the
model limits, and the latent windows they declare against the memory available."""
from __future__ import annotations

import json

import pytest
import torch

import echo_model.memory as memory
from echo_model.errors import EchoUserError
from echo_model.header_check import HeaderError, check_header
from echo_model.rollout import Surrogate
from echo_model.train.runs import AutoencoderRun, PipelineRun, from_json, to_json
from echo_paraview.cli import main as echopv
from tiny_runs import edit_header, model_file

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return model_file(tmp_path_factory.mktemp("huge") / "m.safetensors")


@pytest.fixture
def one_gb(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 30)  # a machine with 1 GB free


def _grid_header(model, tmp_path, grid, latent_dim):
    from echo_model.bundle import read_meta

    ae = dict(read_meta(model)["autoencoder"], grid=grid, latent_dim=latent_dim)
    return edit_header(model, tmp_path / "bad.safetensors", autoencoder=ae)


@pytest.mark.parametrize("grid, latent_dim, needle", [
    ([65536, 65536], 8, "'autoencoder.grid'"),  # an entry above 16384
    ([8, 8], 10**9, "'autoencoder.latent_dim'"),
])
def test_header_sizes_out_of_range_are_refused(model, tmp_path, capsys, grid, latent_dim, needle):
    bad = _grid_header(model, tmp_path, grid, latent_dim)
    with pytest.raises(HeaderError, match=needle):
        Surrogate.load(bad, device="cpu", cache=False)
    assert echopv(["info", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_header_grid_within_range_but_beyond_memory_is_refused(model, tmp_path, capsys, one_gb):
    """[4096, 4096] nodes x 4096 channels is within each key's range: 275 GB per latent frame."""
    bad = _grid_header(model, tmp_path, [4096, 4096], 4096)
    with pytest.raises(HeaderError) as info:
        Surrogate.load(bad, device="cpu", cache=False)
    msg = str(info.value)
    assert str(bad) in msg and "'autoencoder.grid'" in msg and "'autoencoder.latent_dim'" in msg
    assert "available" in msg and "GB" in msg and "copy or export the model file again" in msg, msg
    assert echopv(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_header_check_needs_no_network():
    """The refusal comes from the declared sizes alone (no weights, nothing allocated)."""
    with pytest.raises(HeaderError, match="more than the"):
        check_header({"autoencoder": {"grid": [4096, 4096], "latent_dim": 4096}, "latent_frames": 4}, "m.safetensors")
    assert check_header({"autoencoder": {"grid": [16, 16], "latent_dim": 8}}, "m.safetensors")


def _config(tmp_path, **changes):
    obj = json.loads(to_json(PipelineRun(data=str(tmp_path / "d.h5"), run=str(tmp_path / "run"))))
    obj["config"].update(changes)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(obj))
    return path


def test_config_latent_dim_of_a_billion_is_refused(tmp_path, capsys):
    cfg = _config(tmp_path, latent_dim=10**9)
    assert echopv(["train", "all", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "'latent_dim'" in err and "at most" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("grid", [[16384, 16384], [16384]])
def test_config_grid_with_too_many_nodes_is_refused(tmp_path, capsys, grid):
    """Each entry within 1..16384, but 268 million nodes (a single entry applies to every axis)."""
    cfg = _config(tmp_path, grid=grid)
    assert echopv(["train", "all", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "'grid'" in err and "latent grid nodes" in err and "fewer nodes" in err
    assert not (tmp_path / "run").exists()


def test_config_grid_and_latent_dim_beyond_memory_are_refused(tmp_path, capsys, one_gb):
    cfg = _config(tmp_path, grid=[2048, 2048], latent_dim=4096)
    assert echopv(["train", "all", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "'grid'" in err and "'latent_dim'" in err and "available" in err
    assert "coarser grid or fewer latent channels" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_train_ae_options_beyond_memory_are_refused_before_reading_data(tmp_path, one_gb):
    from echo_model.train.runs import check_values

    with pytest.raises(EchoUserError, match="--grid = \\[2048, 2048\\] and --latent-dim = 4096"):
        check_values(AutoencoderRun, {"grid": (2048, 2048), "latent_dim": 4096, "batch_size": 4},
                     lambda n: "--" + n.replace("_", "-"))
    check_values(AutoencoderRun, {"grid": (32, 32), "latent_dim": 64, "batch_size": 4}, lambda n: "--" + n)


def test_usual_config_still_loads(tmp_path):
    cfg = _config(tmp_path, grid=[32, 32], latent_dim=64)
    assert from_json(PipelineRun, cfg.read_text(), str(cfg)).grid == (32, 32)

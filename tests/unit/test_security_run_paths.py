"""Issue 24, group 11: an empty run (or data) path is refused, in a config file and on the command line.

`"run": ""` used to put the run (checkpoints, model file, train.lock) into the current directory."""
from __future__ import annotations

import json
import os

import pytest

from echo_model.errors import EchoUserError
from echo_model.train.runs import AutoencoderRun, PipelineRun, from_json, to_json
from echo_paraview.cli import main


def _config(tmp_path, **changes) -> str:
    obj = json.loads(to_json(PipelineRun(data=str(tmp_path / "d.h5"), run=str(tmp_path / "run"))))
    obj["config"].update(changes)
    return json.dumps(obj)


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_run_in_a_config_is_refused(tmp_path, value):
    with pytest.raises(EchoUserError) as info:
        from_json(PipelineRun, _config(tmp_path, run=value), source="cfg.json")
    msg = str(info.value)
    assert "cfg.json" in msg and "'run' is empty" in msg and "current directory" in msg


def test_empty_data_in_a_config_is_refused(tmp_path):
    with pytest.raises(EchoUserError, match="'data' is empty"):
        from_json(PipelineRun, _config(tmp_path, data=""), source="cfg.json")


def test_a_valid_config_still_loads(tmp_path):
    cfg = from_json(PipelineRun, _config(tmp_path), source="cfg.json")
    assert cfg.run == str(tmp_path / "run")


def test_empty_run_on_the_command_line_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["train", "ae", "--data", str(tmp_path / "d.h5"), "--run", ""])
    err = capsys.readouterr().err
    assert code == 2 and "--run" in err and "is empty" in err
    assert os.listdir(tmp_path) == []  # nothing written into the current directory


def test_empty_run_in_train_all_config_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(_config(tmp_path, run=""))
    code = main(["train", "all", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and str(cfg) in err and "'run' is empty" in err
    assert sorted(os.listdir(tmp_path)) == ["cfg.json"]


def test_autoencoder_run_from_namespace_is_checked_too():
    import argparse

    from echo_model.train.runs import from_namespace

    ns = argparse.Namespace(**{**AutoencoderRun(run="r", data="d.h5").__dict__, "run": ""})
    with pytest.raises(EchoUserError, match="--run"):
        from_namespace(AutoencoderRun, ns)

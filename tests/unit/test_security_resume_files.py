"""Issue 24, group 12b: what a resume and a finished stage leave in the run directory.

A resume of a finished run (nothing left to train) used to write `"loss": NaN` into progress.json
(not JSON: strict readers refuse the whole file), and model files and checkpoints were written mode
0600 (safetensors' own temporary-file mode), unreadable to the group that shares the run."""
from __future__ import annotations

import json
import os
import stat

import pytest
import torch

from echo_model.train.layout import AUTOENCODER, CHECKPOINT, PROGRESS, write_json_atomic
from echo_paraview.cli import main as echopv
from tiny_runs import AE_FAST, tiny_dataset

torch.set_num_threads(1)


def _strict(path) -> dict:
    """JSON as the standard defines it: NaN and Infinity are refused."""
    def refuse(token):
        raise ValueError(f"{path} holds {token}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    data = tiny_dataset(tmp / "d.h5")
    argv = ["train", "ae", "--data", str(data), "--run", str(tmp / "run"), "--steps", "2", *AE_FAST]
    assert echopv(argv) == 0
    return tmp / "run", argv


def test_noop_resume_keeps_a_finite_loss_in_progress(finished, capsys):
    run, argv = finished
    first = _strict(run / PROGRESS)
    assert first["status"] == "done" and isinstance(first["loss"], float)
    capsys.readouterr()
    assert echopv(argv) == 0  # the same command again: nothing left to train
    out = capsys.readouterr().out
    again = _strict(run / PROGRESS)
    assert again["status"] == "done" and again["step"] == 2
    assert again["loss"] == pytest.approx(first["loss"]) and again["loss_avg"] == pytest.approx(first["loss_avg"])
    assert "nan" not in out.lower()


def test_progress_json_never_holds_nan(tmp_path):
    write_json_atomic(tmp_path / "p.json", {"loss": float("nan"), "rows": [float("inf"), 1.0]})
    assert _strict(tmp_path / "p.json") == {"loss": None, "rows": [None, 1.0]}


def test_trained_files_get_the_umask_mode(tmp_path, umask_022):
    data = tiny_dataset(tmp_path / "d.h5")
    run = tmp_path / "run"
    assert echopv(["train", "ae", "--data", str(data), "--run", str(run), "--steps", "1", *AE_FAST]) == 0
    for name in (AUTOENCODER, CHECKPOINT, PROGRESS):
        assert stat.S_IMODE(os.stat(run / name).st_mode) == 0o644, name


def test_model_file_mode_follows_a_stricter_umask(tmp_path):
    from echo_model.bundle import save_tensors

    old = os.umask(0o027)
    try:
        path = save_tensors(tmp_path / "m.safetensors", {"w": torch.zeros(2)}, {"kind": "test"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640

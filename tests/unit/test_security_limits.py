"""Issue 24, group 6: hangs and unbounded memory are refused up front, and SIGTERM is honoured.

Sampler steps of 1e9 (a model header's "steps", `--steps`) never finished; `ae_batch_size` 1e12 in a
config grew to gigabytes while a stop request waited for a step boundary that never came. Now the
header and the option are refused with the work they ask for, a batch with its memory estimate, and a
stop request acts at once when the step does not end within the grace period."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from echo_model.errors import EchoUserError
from echo_model.memory import MemoryBudget
from echo_model.rollout import Surrogate
from echo_model.train.batch_check import check_batch_memory
from echo_model.train.runs import PipelineRun, from_json, to_json
from echo_paraview.cli import main as echopv
from tiny_runs import AE_FAST, edit_header, model_file, tiny_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return model_file(tmp_path_factory.mktemp("limits") / "m.safetensors")


@pytest.mark.parametrize("steps", [10**9, 0, -3])
def test_header_sampler_steps_out_of_range_are_refused(model, tmp_path, capsys, steps):
    bad = edit_header(model, tmp_path / "bad.safetensors", steps=steps)
    with pytest.raises(EchoUserError) as info:
        Surrogate.load(bad, device="cpu", cache=False)
    assert str(bad) in str(info.value) and "'steps'" in str(info.value) and "1 to 1000" in str(info.value)
    assert echopv(["info", str(bad)]) == 2


@pytest.mark.parametrize("steps", [10**9, 0, -1])
def test_rollout_steps_out_of_range_are_refused_before_any_work(model, steps):
    sur = Surrogate.load(model, device="cpu", cache=False)
    pts = np.random.default_rng(0).uniform(size=(50, 2))
    obs = np.zeros((sur.n_observed_frames, 50, 1), np.float32)
    calls = []
    with pytest.raises(EchoUserError) as info:
        sur.rollout(pts, obs, n_frames=3, steps=steps, progress=calls.append)
    msg = str(info.value)
    assert "--steps" in msg and "SamplingSteps" in msg and "1 to 1000" in msg and "network evaluations" in msg
    assert calls == []  # refused before the first evaluation


def test_rollout_default_steps_still_work(model):
    sur = Surrogate.load(model, device="cpu", cache=False)
    pts = np.random.default_rng(0).uniform(size=(30, 2))
    res = sur.rollout(pts, np.zeros((sur.n_observed_frames, 30, 1), np.float32), n_frames=2, steps=2)
    assert res.mean.shape == (2, 30, 1) and res.info["steps"] == 2


def test_config_with_a_huge_batch_is_refused(tmp_path, capsys):
    obj = json.loads(to_json(PipelineRun(data=str(tmp_path / "d.h5"), run=str(tmp_path / "run"))))
    obj["config"]["ae_batch_size"] = 10**12
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(obj))
    assert echopv(["train", "all", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "'ae_batch_size'" in err and "at most" in err
    assert not (tmp_path / "run").exists()


def test_batch_memory_estimate_names_what_fits():
    with pytest.raises(EchoUserError) as info:
        check_batch_memory("--batch-size", 10**6, 100, 64, 5, 1, 2, MemoryBudget(256 << 20))
    msg = str(info.value)
    assert "--batch-size 1000000" in msg and "available" in msg and "or less" in msg
    fits = int(msg.split("use --batch-size ")[1].split()[0])
    check_batch_memory("--batch-size", fits, 100, 64, 5, 1, 2, MemoryBudget(256 << 20))  # the advice fits


def test_train_ae_refuses_a_batch_larger_than_memory(tmp_path, capsys, monkeypatch):
    import echo_model.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 64 << 20)  # a machine with 64 MB free
    data = tiny_dataset(tmp_path / "d.h5")
    run = tmp_path / "run"
    k = AE_FAST.index("--batch-size")
    fast = AE_FAST[:k] + AE_FAST[k + 2:]
    code = echopv(["train", "ae", "--data", str(data), "--run", str(run), "--steps", "1", "--batch-size", "60000",
                   *fast])
    err = capsys.readouterr().err
    assert code == 2 and "--batch-size 60000" in err and "available" in err
    assert not (run / "checkpoint.safetensors").exists()


_ENDLESS_STEP = """
import os, sys, torch
from echo_model.train.trainer import TrainConfig, Trainer
run, marker = sys.argv[1], sys.argv[2]
trainer = Trainer(torch.nn.Linear(2, 2), run, TrainConfig(steps=3, device="cpu", progress_bar=False, ckpt_every=0))
def get_batch(step):
    open(marker, "w").write("in the step")
    while True:  # a step that never ends (a batch of 1e12 samples being drawn)
        sum(range(1000))
trainer.fit(lambda m, b: m(b).sum(), get_batch)
"""


def test_sigterm_is_honoured_in_a_step_that_never_ends(tmp_path):
    script = tmp_path / "endless.py"
    script.write_text(textwrap.dedent(_ENDLESS_STEP))
    marker = tmp_path / "marker"
    env = {**os.environ, "ECHOPV_STOP_GRACE_S": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "run"), str(marker)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)  # a hang detector, not a speed figure: before the fix it never ended
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("SIGTERM was ignored by a training step that never ends")
    assert proc.returncode == -signal.SIGTERM

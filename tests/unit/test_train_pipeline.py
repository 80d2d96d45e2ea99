"""`echopv train all`: every stage in one process on a tiny dataset, resume, and clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError
from echo_model.rollout import Surrogate
from echo_model.train import pipeline
from echo_paraview.cli import main as echopv

torch.set_num_threads(1)

SMALL = ["--threads", "1", "--no-progress", "--grid", "16", "--n-query", "128", "--dit-batch-size", "8"]


def _dataset(path, n_traj=2, n_frames=7):
    n = 10
    x = (np.arange(n) + 0.5) / n
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)

    def traj(s):
        f = np.stack([np.sin(2 * np.pi * (pts[:, 0] + 0.05 * t) + s) for t in range(n_frames)])[..., None]
        return Trajectory(pts, f.astype(np.float32), 0.5 * np.arange(n_frames), [("w", 1)])

    write_dataset(path, (traj(s) for s in range(n_traj)), name="tiny", domain=Domain([0, 0], [1, 1]),
                  split={"train": list(range(n_traj)), "val": [], "test": []})
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train_all")
    data = _dataset(tmp / "d.h5")
    run = tmp / "run"
    argv = ["train", "all", "--data", str(data), "--run", str(run), "--ae-steps", "20", "--refine-steps", "5",
            "--dit-steps", "20", *SMALL]
    assert echopv(argv) == 0
    return tmp, data, run, argv


def test_all_stages_write_a_loadable_model(trained):
    tmp, data, run, _ = trained
    status = json.loads((run / "pipeline.json").read_text())
    assert status["state"] == "done" and status["error"] is None
    assert status["stages"] == ["ae", "refine", "cache-latents", "dit"] and status["n_stages"] == 4
    assert status["model"] == str((run / "model.safetensors").resolve())
    for stage, steps in (("ae", 20), ("refine", 5), ("dit", 20)):
        prog = json.loads((run / stage / "progress.json").read_text())
        assert prog["status"] == "done" and prog["step"] == steps, stage
    assert (run / "latents.h5").is_file()
    sur = Surrogate.load(run / "model.safetensors", device="cpu", cache=False)
    assert [tuple(x) for x in sur.field_layout] == [("w", 1)] and sur.dim == 2
    assert sur.dt == pytest.approx(0.5)
    assert sur.window_frames == 7  # the tiny preset's 9-frame window, shortened to the 7-frame trajectories
    assert sur.meta["train_horizon_frames"] == 6  # 7-frame trajectories: 6 frames of dt after the first
    pts = np.random.default_rng(0).random((50, 2))
    res = sur.rollout(pts, np.zeros((1, 50, 1), np.float32), n_frames=3, steps=2)
    assert res.mean.shape == (3, 50, 1) and np.isfinite(res.mean).all()



def test_train_all_ends_with_a_skill_report_in_the_model_header(trained, capsys):
    from echo_model.skill import report_from_meta

    tmp, data, run, _ = trained
    rep = report_from_meta(Surrogate.load(run / "model.safetensors", device="cpu", cache=False).meta)
    assert rep is not None and rep.model_kind == "flow"
    assert rep.n_frames == 3  # half of the 7-frame trajectories, rounded down
    assert rep.source.startswith("in-sample") and "optimistic" in rep.source  # no validation trajectory here
    (w,) = rep.fields
    assert w.name == "w" and w.persistence > 0 and np.isfinite(w.model) and 0 <= w.beats_persistence_frames <= 3
    capsys.readouterr()
    assert echopv(["info", str(run / "model.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "skill w" in out and "persistence" in out and "in-sample" in out


def test_rerun_skips_done_stages_and_continues_with_more_steps(trained, capsys):
    tmp, data, run, argv = trained
    model = run / "model.safetensors"
    before = model.stat().st_mtime_ns
    capsys.readouterr()
    assert echopv(argv) == 0
    out = capsys.readouterr().out
    assert out.count("already done, skipped") == 4
    assert model.stat().st_mtime_ns == before
    # more DiT steps: only the DiT continues, from its checkpoint (step 20 -> 30)
    more = [a if a != "20" or argv[i - 1] != "--dit-steps" else "30" for i, a in enumerate(argv)]
    assert echopv(more) == 0
    out = capsys.readouterr().out
    assert out.count("already done, skipped") == 3 and "resuming at step 20" in out
    assert json.loads((run / "dit" / "progress.json").read_text())["step"] == 30
    Surrogate.load(model, device="cpu", cache=False)


def test_skip_refine_and_bad_datasets_fail_clearly(tmp_path, capsys):
    data = _dataset(tmp_path / "d.h5", n_traj=1, n_frames=5)
    run = tmp_path / "norefine"
    assert echopv(["train", "all", "--data", str(data), "--run", str(run), "--ae-steps", "3", "--refine-steps", "0",
                   "--dit-steps", "3", *SMALL]) == 0
    st = json.loads((run / "pipeline.json").read_text())
    assert st["stages"] == ["ae", "cache-latents", "dit"] and not (run / "refine").exists()
    Surrogate.load(run / "model.safetensors", device="cpu", cache=False)
    capsys.readouterr()

    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"definitely not HDF5")
    for path, words in ((tmp_path / "missing.h5", ["no dataset at", "echopv import"]),
                        (bad, ["not a readable ECHO dataset", "echopv import"]),
                        (_dataset(tmp_path / "short.h5", n_traj=1, n_frames=2), ["at least 3 time steps"])):
        r = tmp_path / f"run_{path.stem}"
        assert echopv(["train", "all", "--data", str(path), "--run", str(r), *SMALL]) == 2
        err = capsys.readouterr().err
        assert all(w in err for w in words), err
        assert "Traceback" not in err
        st = json.loads((r / "pipeline.json").read_text())
        assert st["state"] == "failed" and all(w in st["error"] for w in words)


def test_pick_frames():
    assert pipeline.pick_frames("tiny", 21, None) == 9
    assert pipeline.pick_frames("tiny", 8, None) == 7
    assert pipeline.pick_frames("tiny", 8, 5) == 5
    assert pipeline.pick_frames("paper", 16, None) == 13  # paper: time factor 4, windows 1 + 4 k
    with pytest.raises(EchoUserError, match="--frames"):
        pipeline.pick_frames("tiny", 4, 5)
    with pytest.raises(EchoUserError, match="1 \\+ 4 k"):
        pipeline.pick_frames("paper", 4, None)


def test_budget_minutes_sets_the_step_counts_from_measured_costs_and_keeps_them_for_a_resume(tmp_path, monkeypatch):
    from dataclasses import replace

    from echo_model.errors import EchoUserError
    from echo_model.train import budget
    from echo_model.train.runs import PipelineRun

    data = _dataset(tmp_path / "d.h5")
    cfg = PipelineRun(data=str(data), run=str(tmp_path / "run"), budget_minutes=2.0, grid=(16,), n_query=128,
                      dit_batch_size=8, threads=1, refine_steps=0)
    (tmp_path / "run").mkdir()
    planned = pipeline.budgeted(cfg, 5)
    kept = json.loads((tmp_path / "run" / "budget.json").read_text())
    assert (planned.ae_steps, planned.dit_steps) == (kept["ae_steps"], kept["dit_steps"])
    assert planned.ae_steps >= budget.MIN_AE_STEPS and planned.dit_steps >= budget.MIN_DIT_STEPS
    assert "budget 2 CPU-min" in kept["text"] and "CPU-s/step" in kept["text"]
    # both shares of the budget are spent: steps x measured cost ~ 45 % / 55 % of what is left
    ae_s = float(kept["text"].split("autoencoder ")[1].split(" CPU-s")[0])
    assert planned.ae_steps * ae_s == pytest.approx(budget.AE_SHARE * (120 - 40 * ae_s), rel=0.05)

    def no_second_measurement(*a, **k):
        raise AssertionError("a resumed run must reuse budget.json")

    monkeypatch.setattr(budget, "plan_budget", no_second_measurement)
    again = pipeline.budgeted(cfg, 5)
    assert (again.ae_steps, again.dit_steps) == (planned.ae_steps, planned.dit_steps)
    monkeypatch.undo()
    with pytest.raises(EchoUserError, match="too small for this dataset"):
        pipeline.budgeted(replace(cfg, budget_minutes=0.001, run=str(tmp_path / "other")), 5)


@pytest.mark.parametrize("bug", [ValueError("bad reshape"), KeyError("w"), IndexError("index 7 is out of bounds")])
def test_a_bug_in_a_stage_keeps_its_traceback_while_a_user_error_is_one_line(tmp_path, bug):
    from echo_model.train.layout import read_status
    from echo_model.train.runs import PipelineRun

    data = _dataset(tmp_path / "d.h5")

    def buggy(stage):
        raise bug

    cfg = PipelineRun(data=str(data), run=str(tmp_path / "bug"), grid=(16,), n_query=128, threads=1)
    with pytest.raises(type(bug)):
        pipeline.train_all(cfg, runner=buggy)
    error = read_status(tmp_path / "bug")["error"]
    assert error.startswith(type(bug).__name__) and "Traceback" in error and "in buggy" in error

    def refused(stage):
        raise EchoUserError("--lr 0 is not a learning rate; pass --lr 1e-3")

    cfg = PipelineRun(data=str(data), run=str(tmp_path / "user"), grid=(16,), n_query=128, threads=1)
    with pytest.raises(EchoUserError):
        pipeline.train_all(cfg, runner=refused)
    assert read_status(tmp_path / "user")["error"] == "--lr 0 is not a learning rate; pass --lr 1e-3"

"""`echopv eval` reports per field, beside persistence and the mean field, with a per-field correlation time."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from echo_model import metrics
from echo_model.data.store import TrajectoryStore, write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.rollout import create_untrained

torch.set_num_threads(1)
LAYOUT = [("U", 2), ("p", 1)]
T = 8


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Three trajectories on one mesh; p has 100x the values of U (as a pressure in a turbulent run)."""
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    pts = rng.random((60, 2))
    trajs = []
    for s in range(3):
        phase = np.arange(T)[:, None] * 0.3 + s
        u = np.stack([np.sin(6 * pts[:, 0] + phase), np.cos(5 * pts[:, 1] + phase)], -1)
        p = 100 * np.sin(4 * pts[:, 0] * pts[:, 1] + phase)[..., None]
        trajs.append(Trajectory(points=pts, fields=np.concatenate([u, p], -1).astype(np.float32),
                                times=np.arange(T) * 0.1, field_layout=LAYOUT, params={}))
    data = write_dataset(root / "d.h5", trajs, name="d", split={"train": [0, 1], "val": [], "test": [2]})
    sur = create_untrained(LAYOUT, 2, dt=0.1, seed=1)
    model = sur.save(root / "m.safetensors")
    return root, data, model, trajs, sur.n_observed_frames


def _eval(root, model, split, capsys, name):
    from echo_paraview.cli import main

    out = root / name
    assert main(["eval", str(model), str(root / "d.h5"), "--split", split, "--out", str(out), "--no-plots",
                 "--threads", "1"]) == 0
    return json.loads((out / "metrics.json").read_text()), capsys.readouterr().out


def test_eval_prints_and_stores_each_field_beside_persistence_and_the_mean_field(case, capsys):
    root, _, model, trajs, n_obs = case
    res, printed = _eval(root, model, "test", capsys, "test")
    truth = trajs[2].fields[n_obs:]
    persistence = np.broadcast_to(trajs[2].fields[n_obs - 1], truth.shape)
    mean = np.concatenate([trajs[0].fields, trajs[1].fields]).mean(0)  # the training frames, same mesh
    for name, sl in metrics.field_slices(LAYOUT).items():
        base = res["baselines"]
        assert base["persistence"]["per_field"][name]["rel_mse"] == pytest.approx(
            metrics.rel_mse(persistence[..., sl], truth[..., sl]), rel=1e-5)
        assert base["mean_field"]["per_field"][name]["rel_mse"] == pytest.approx(
            metrics.rel_mse(np.broadcast_to(mean[..., sl], truth[..., sl].shape), truth[..., sl]), rel=1e-4)
        model_f = res["per_field"][name]
        assert len(model_f["rel_mse_per_step"]) == T - n_obs and model_f["rel_mse"] > 0
        assert res["correlation_time_steps_per_field"][name] == model_f["correlation_time_steps"]
        row = next(line for line in printed.splitlines() if line.startswith(f"{name} "))
        assert f"{model_f['rel_mse']:.3e}" in row and f"{base['persistence']['per_field'][name]['rel_mse']:.3e}" in row
    assert res["per_field"]["U"]["rel_mse"] != pytest.approx(res["rel_mse"])  # not the joint figure again
    assert "training frames on the same mesh (2 traj)" in res["baselines"]["mean_field"]["source"]
    assert res["correlation_threshold"] == 0.8


def test_the_mean_field_never_contains_a_forecast_frame(case, capsys):
    """Evaluating a training trajectory: its frames from the forecast on stay out of the mean."""
    root, _, model, trajs, n_obs = case
    res, _ = _eval(root, model, "train", capsys, "train")
    with TrajectoryStore(root / "d.h5") as store:
        from echo_model.evaluate import _training_sums, mean_field

        m0, _ = mean_field(store, 0, n_obs, _training_sums(store, [0, 1]))
    expect = np.concatenate([trajs[0].fields[:n_obs], trajs[1].fields]).mean(0)
    np.testing.assert_allclose(m0, expect, rtol=1e-5, atol=1e-4)
    assert res["n_trajectories"] == 2


@pytest.mark.parametrize("extra, text", [
    (["--frames", "-2"], "--frames -2"),
    (["--samples", "0"], "--samples 0"),
    (["--max-frames", "0"], "--max-frames 0"),
    (["--start", "-1"], "--start -1"),
    (["--start", str(T - 1)], "lower --start"),
], ids=["frames", "samples", "max-frames", "negative-start", "start-past-the-data"])
def test_eval_option_mistakes_are_user_errors(case, extra, text):
    """Raised as EchoUserError by `eval` itself: before, they surfaced as a ValueError (or an h5py TypeError)
    from deep inside the rollout or the dataset read."""
    import argparse

    from echo_model import evaluate
    from echo_model.errors import EchoUserError

    root, _, model, _, _ = case
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    args = parser.parse_args([str(model), str(root / "d.h5"), "--out", str(root / "mistake"), "--no-plots",
                              "--threads", "1", *extra])
    with pytest.raises(EchoUserError, match=text):
        evaluate.run(args)

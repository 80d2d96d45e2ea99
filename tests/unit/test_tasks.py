"""The tasks beyond the forecast (echo_model/tasks.py) on the committed vorticity model and data.

Error figures are measured on trajectories 20 and 22 of the sample dataset with fixed seeds; the bounds
leave a margin around what benchmarks/results/tasks.md reports.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_model import tasks
from echo_model.data.store import TrajectoryStore
from echo_model.errors import EchoUserError
from echo_model.rollout import RolloutAborted, Surrogate, create_untrained

torch.set_num_threads(1)
MODEL = "sample_cases/ns2d_vorticity/model_tiny.safetensors"
DATA = "sample_cases/ns2d_vorticity/ns2d_64.h5"


@pytest.fixture(scope="module")
def sur():
    return Surrogate.load(MODEL, device="cpu")


@pytest.fixture(scope="module")
def traj():
    with TrajectoryStore(DATA) as store:
        return store[20]


@pytest.fixture(scope="module")
def fast_traj():
    """A trajectory at low viscosity: it changes enough in 8 steps for linear interpolation to miss."""
    with TrajectoryStore(DATA) as store:
        return store[22]


def rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_the_sample_model_was_trained_with_every_mask(sur):
    probs = tasks.trained_masks(sur)
    assert all(probs[k] > 0 for k in ("forward", "inverse", "interpolation", "unconditional"))
    for task in tasks.TASKS:
        tasks.check_task(sur, task)


@pytest.mark.parametrize("task, mask", [("interpolate", "interpolation"), ("inverse", "inverse"),
                                        ("sample", "unconditional")])
def test_a_mask_left_out_of_training_is_refused_with_the_fix(task, mask):
    sur = create_untrained([("u", 1)], 2)
    sur.meta["task_probs"] = {"forward": 0.7, "inverse": 0.15, "interpolation": 0.15, "unconditional": 0.0,
                              mask: 0.0}
    with pytest.raises(EchoUserError, match=rf"task '{task}'.*{mask} mask.*retrain"):
        tasks.run_task(sur, task, np.random.rand(64, 2), np.zeros((3, 64, 1), np.float32), np.arange(3.0),
                       gap=2)
    tasks.check_task(sur, "forecast")  # the forward mask was trained


def test_a_baseline_generator_only_forecasts_and_reconstructs():
    sur = create_untrained([("u", 1)], 2, generator_kind="baseline")
    with pytest.raises(EchoUserError, match="interpolation mask"):
        tasks.check_task(sur, "interpolate")
    tasks.check_task(sur, "reconstruct")  # the autoencoder alone


def test_interpolate_keeps_the_given_frames_and_beats_linear_at_a_gap_of_8(sur, fast_traj):
    traj = fast_traj
    f = traj.fields[:17]
    res = tasks.interpolate(sur, traj.points, f[::8], 8, params=traj.params)
    assert res.mean.shape == (17, 4096, 1)
    np.testing.assert_array_equal(res.mean[[0, 8, 16]], f[[0, 8, 16]])
    np.testing.assert_allclose(res.times, sur.dt * np.arange(17))
    unk = [t for t in range(17) if t % 8]
    lin = np.stack([f[t // 8 * 8] * (1 - (t % 8) / 8) + f[min(t // 8 * 8 + 8, 16)] * ((t % 8) / 8) for t in range(17)])
    assert rel(res.mean[unk], f[unk]) < 0.6 * rel(lin[unk], f[unk])  # measured 0.027 against 0.070


def test_interpolation_windows_start_on_given_frames():
    assert tasks.interpolation_windows(5, 2, 9) == [(0, 9)]
    assert tasks.interpolation_windows(3, 8, 9) == [(0, 8), (8, 17)]
    assert tasks.interpolation_windows(4, 5, 9) == [(0, 5), (5, 10), (10, 16)]


def test_interpolate_refuses_a_gap_beyond_the_window(sur, traj):
    with pytest.raises(EchoUserError, match="gap must be 2 to 8"):
        tasks.interpolate(sur, traj.points, traj.fields[:3], 9)
    with pytest.raises(EchoUserError, match="not one whole number of model steps"):
        tasks.infer_gap(np.array([0.0, 1.0, 1.75]), 0.5)


def test_inverse_recovers_earlier_states_better_than_persistence(sur, traj):
    f = traj.fields
    res = tasks.inverse(sur, traj.points, f[12:14], 12, params=traj.params)
    assert res.mean.shape == (12, 4096, 1)
    np.testing.assert_allclose(res.times, -sur.dt * np.arange(12, 0, -1))
    # measured 0.10 against persistence's 0.62 at 12 frames back
    assert rel(res.mean[0], f[0]) < 0.5 * rel(f[12], f[0])
    assert rel(res.mean[11], f[11]) < rel(f[12], f[11])


def test_reconstruct_from_5_percent_of_the_points_beats_their_interpolation(sur, traj):
    rng = np.random.default_rng(0)
    probes = np.sort(rng.choice(4096, 205, replace=False))
    f = traj.fields[:3]
    res = tasks.reconstruct(sur, traj.points[probes], f[:, probes], traj.points, fit_steps=60)
    assert res.mean.shape == (3, 4096, 1)
    unit = sur.domain.to_unit(traj.points)
    idw = tasks.idw(sur, unit[probes], f[:, probes], unit)
    assert rel(res.mean, f) < 0.5 * rel(idw, f)


def test_sample_draws_distinct_reproducible_members_with_the_right_scale(sur, traj):
    res = tasks.sample(sur, traj.points, 12, params=traj.params, n_samples=2, seed=3, steps=4)
    assert res.samples.shape == (2, 12, 4096, 1)
    assert rel(res.samples[0], res.samples[1]) > 0.3  # independent draws, not one field twice
    assert 0.3 < res.samples.std() / traj.fields[:12].std() < 3.0
    again = tasks.sample(sur, traj.points, 12, params=traj.params, n_samples=2, seed=3, steps=4)
    np.testing.assert_array_equal(again.samples, res.samples)


def test_progress_reaches_one_and_abort_stops(sur, traj):
    seen = []
    tasks.interpolate(sur, traj.points, traj.fields[0:9:4], 4, steps=2, progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(RolloutAborted):
        tasks.inverse(sur, traj.points, traj.fields[4:5], 3, steps=2, should_abort=lambda: True)


def test_run_task_times_follow_the_input(sur, traj):
    res, t = tasks.run_task(sur, "interpolate", traj.points, traj.fields[0:9:4], traj.times[0:9:4], steps=2)
    np.testing.assert_allclose(t, traj.times[:9])
    res, t = tasks.run_task(sur, "inverse", traj.points, traj.fields[4:6], traj.times[4:6], n_frames=3, steps=2)
    np.testing.assert_allclose(t, traj.times[1:4])
    with pytest.raises(EchoUserError, match="query mesh applies to forecast and reconstruct"):
        tasks.run_task(sur, "sample", traj.points, traj.fields[:1], traj.times[:1], query_points=traj.points)

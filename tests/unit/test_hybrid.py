"""The DMD + ECHO hybrid: residual windows, the composition of its forecast, its model file and
`echopv train hybrid` end to end on a small run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_model.data.trajectory import Trajectory
from echo_model.dmd import DMDConfig, DMDSurrogate
from echo_model.hybrid import HybridSurrogate, residual_windows
from echo_model.rollout import RolloutResult, Surrogate
from echo_model.skill import report_from_meta

torch.set_num_threads(1)


def _run(n_frames: int = 40, n_points: int = 100, seed: int = 0) -> Trajectory:
    """A travelling wave (DMD's part) plus a non-linear wobble DMD does not resolve at low rank."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, size=(n_points, 2))
    t = 0.05 * np.arange(n_frames)[:, None]
    x, y = pts[None, :, 0], pts[None, :, 1]
    u = 1.0 + np.sin(2 * np.pi * (x - 0.7 * t)) + 0.2 * np.sin(2 * np.pi * y * (1 + 0.3 * np.sin(9 * t)))
    return Trajectory(points=pts, fields=u[..., None].astype(np.float32), times=t[:, 0], field_layout=[("u", 1)])


class ZeroResidual:
    """Test double for the ECHO part: predicts a zero residual, counts its calls."""

    n_observed_frames, segment_frames, default_steps, default_sampler = 1, 4, 1, "euler"
    device = torch.device("cpu")

    def __init__(self) -> None:
        self.calls = 0

    def rollout(self, points, observed, n_frames, **kw) -> RolloutResult:
        self.calls += 1
        zero = np.zeros((n_frames,) + observed.shape[1:], np.float32)
        return RolloutResult(mean=zero, std=None, samples=None, times=np.arange(1, n_frames + 1.0), field_layout=[])


def _dmd(traj: Trajectory, rank: int = 2) -> DMDSurrogate:
    return DMDSurrogate.fit_trajectories([traj.fields], traj.points, traj.field_layout, dt=0.05,
                                         cfg=DMDConfig(rank=rank))


def test_residual_windows_are_what_a_dmd_fitted_up_to_each_start_gets_wrong():
    from echo_model.dmd import Choice, fit

    traj = _run()
    dmd = _dmd(traj)
    windows = list(residual_windows(dmd, traj, window=5, stride=2))
    first = 7  # the first start with 8 frames to fit on
    assert len(windows) == len(range(first, 36, 2)) and windows[0].fields.shape == (5, 100, 1)
    w, s = windows[3], first + 6
    assert w.times[0] == traj.times[s]
    # by hand: a DMD of the same rank fitted on frames 0..s only
    flat = dmd.stats.normalize(traj.fields).reshape(40, -1).astype(np.float64)
    op = fit([flat[:s + 1]], Choice(rank=dmd.op.rank, residual_gain=0.0, center=dmd.meta["center"]))
    coherent = dmd.stats.denormalize(op.forecast(flat[s], 4).reshape(4, -1, 1))
    np.testing.assert_allclose(w.fields[1:] + coherent, traj.fields[s + 1:s + 5], atol=1e-4)
    # a DMD fitted on every frame would leave far smaller residuals than these out-of-sample ones
    in_sample = traj.fields[s + 1:s + 5] - dmd.resolved_forecast(traj.fields[s], 4)
    assert np.abs(w.fields[1:]).mean() > np.abs(in_sample).mean()


def test_the_hybrid_forecast_is_the_dmd_resolved_forecast_plus_the_echo_residual_chained_per_segment():
    traj = _run()
    dmd, echo = _dmd(traj), ZeroResidual()
    hyb = HybridSurrogate(dmd, echo, {})
    res = hyb.rollout(traj.points, traj.fields[:20], n_frames=10, n_samples=2)
    assert echo.calls == 2 * 3  # 2 members x ceil(10 / 4) segments
    # with a zero residual, each segment restarts DMD from the resolved part of the last predicted state
    first = dmd.resolved_forecast(traj.fields[19], 4)
    np.testing.assert_allclose(res.mean[:4], first, atol=1e-5)
    second = dmd.resolved_forecast(first[-1], 4)
    np.testing.assert_allclose(res.mean[4:8], second, atol=1e-4)
    assert res.std is not None and float(np.abs(res.std).max()) < 1e-5


@pytest.mark.slow
def test_train_hybrid_end_to_end_writes_a_model_every_consumer_loads(tmp_path):
    from echo_model.data.store import write_dataset
    from echo_model.train.runs import HybridRun
    from echo_model.train.stage_hybrid import train_hybrid

    traj = _run()
    write_dataset(tmp_path / "run.h5", [traj], name="run", split={"train": [0]})
    path = train_hybrid(HybridRun(data=str(tmp_path / "run.h5"), run=str(tmp_path / "hyb"), ae_steps=3,
                                  dit_steps=3, threads=1, progress=False))
    sur = Surrogate.load(path, device="cpu", cache=False)
    assert isinstance(sur, HybridSurrogate) and sur.meta["kind"] == "echo-hybrid"
    rep = report_from_meta(sur.meta)
    assert rep is not None and rep.model_kind == "hybrid" and rep.source.startswith("held out: frames 30-39")
    assert "state_reference" in sur.meta
    res = sur.rollout(traj.points, traj.fields[:30], n_frames=6, n_samples=2, steps=2)
    assert res.mean.shape == (6, 100, 1) and np.isfinite(res.mean).all() and res.std is not None

"""DMD as a model kind: fit, rank choice on held-out frames, the model file, the rollout contract,
the skill report, and the refusals (another mesh, one frame, no training trajectory)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.dmd import DMDConfig, DMDSurrogate
from echo_model.errors import EchoUserError
from echo_model.rollout import Surrogate, clear_cache
from echo_model.skill import report_from_meta
from echo_model.train.runs import DMDRun
from echo_model.train.stage_dmd import train_dmd


def _waves(n_frames: int = 60, n_points: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two travelling waves on a mean flow plus a decaying mode: rank 5 with the mean, two fields."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, size=(n_points, 2))
    t = 0.05 * np.arange(n_frames)[:, None]
    x, y = pts[None, :, 0], pts[None, :, 1]
    u = 2.0 + np.sin(2 * np.pi * (x - 0.7 * t)) + 0.3 * np.cos(4 * np.pi * (y + 0.4 * t))
    p = 0.01 * (np.cos(2 * np.pi * (x - 0.7 * t)) + np.exp(-t) * np.sin(np.pi * y))
    return pts, np.stack([u, p], axis=-1).astype(np.float32)


def test_dmd_forecasts_travelling_waves_and_the_rank_is_chosen_on_held_out_frames():
    pts, frames = _waves()
    sur = DMDSurrogate.fit_trajectories([frames[:40]], pts, [("u", 1), ("p", 1)], dt=0.05)
    res = sur.rollout(pts, frames[39:40], n_frames=20)
    err = ((res.mean - frames[40:]) ** 2).sum() / (frames[40:] ** 2).sum()
    persistence = ((frames[39:40] - frames[40:]) ** 2).sum() / (frames[40:] ** 2).sum()
    assert err < 1e-6 * persistence
    assert 4 <= sur.op.rank <= 8  # the five modes (+ mean handling), not the largest candidate
    assert res.std is None and res.times[0] == pytest.approx(0.05)


def test_dmd_model_file_round_trip_through_surrogate_load(tmp_path):
    pts, frames = _waves()
    sur = DMDSurrogate.fit_trajectories([frames[:40]], pts, [("u", 1), ("p", 1)], dt=0.05)
    path = sur.save(tmp_path / "dmd.safetensors")
    clear_cache()
    loaded = Surrogate.load(path, device="cpu")
    assert isinstance(loaded, DMDSurrogate)
    assert loaded.field_layout == [("u", 1), ("p", 1)] and loaded.n_observed_frames == 1
    a = sur.rollout(pts, frames[39:40], n_frames=5).mean
    b = loaded.rollout(pts, frames[39:40], n_frames=5).mean
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dmd_refuses_another_mesh_and_accepts_the_same_points_in_another_order():
    pts, frames = _waves()
    sur = DMDSurrogate.fit_trajectories([frames[:40]], pts, [("u", 1), ("p", 1)], dt=0.05)
    with pytest.raises(EchoUserError, match="mesh it was fitted on"):
        sur.rollout(pts[:-1], frames[39:40, :-1], n_frames=3)
    with pytest.raises(EchoUserError, match="not the same ones"):
        sur.rollout(pts + 0.1, frames[39:40], n_frames=3)
    perm = np.random.default_rng(1).permutation(pts.shape[0])
    direct = sur.rollout(pts, frames[39:40], n_frames=3).mean
    permuted = sur.rollout(pts[perm], frames[39:40, perm], n_frames=3).mean
    np.testing.assert_allclose(permuted, direct[:, perm], rtol=1e-5, atol=1e-6)


def test_dmd_query_points_take_the_nearest_mesh_point():
    pts, frames = _waves()
    sur = DMDSurrogate.fit_trajectories([frames[:40]], pts, [("u", 1), ("p", 1)], dt=0.05)
    q = pts[[3, 7]] + 1e-4
    res = sur.rollout(pts, frames[39:40], n_frames=2, query_points=q)
    full = sur.rollout(pts, frames[39:40], n_frames=2).mean
    np.testing.assert_allclose(res.mean, full[:, [3, 7]])


def test_dmd_needs_enough_frames_to_choose_its_rank():
    pts, frames = _waves(n_frames=3)
    with pytest.raises(EchoUserError, match="at least 4"):
        DMDSurrogate.fit_trajectories([frames], pts, [("u", 1), ("p", 1)], dt=0.05)


def _dataset(tmp_path, frames, pts, split):
    traj = Trajectory(points=pts, fields=frames, times=0.05 * np.arange(frames.shape[0]),
                      field_layout=[("u", 1), ("p", 1)])
    path = tmp_path / "run.h5"
    write_dataset(path, [traj], name="run", split=split)
    return path


def test_train_dmd_writes_a_skill_report_that_info_shows(tmp_path):
    pts, frames = _waves()
    data = _dataset(tmp_path, frames[:40], pts, {"train": [0]})
    path = train_dmd(DMDRun(data=str(data), run=str(tmp_path / "dmd")))
    rep = report_from_meta(Surrogate.load(path, device="cpu", cache=False).meta)
    assert rep is not None and rep.model_kind == "dmd" and rep.n_frames == 10
    u = rep.fields[0]
    assert u.name == "u" and u.model < 1e-3 * u.persistence and u.beats_persistence_frames == 10
    out = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "info", str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert "skill u" in out and "beats persistence for 10 frame(s)" in out and "rank" in out


def test_train_dmd_refuses_an_empty_split(tmp_path):
    pts, frames = _waves()
    data = _dataset(tmp_path, frames, pts, {"train": [], "test": [0]})
    with pytest.raises(EchoUserError, match="no trajectory in its 'train' split"):
        train_dmd(DMDRun(data=str(data), run=str(tmp_path / "dmd")))


def test_dmd_config_refuses_bad_values():
    with pytest.raises(EchoUserError, match="rank"):
        DMDConfig(rank=-1)
    with pytest.raises(EchoUserError, match="holdout"):
        DMDConfig(holdout_fraction=0.0)


def test_state_check_flags_another_regime_and_passes_a_training_like_state(tmp_path):
    from echo_model.state_check import check_state

    pts, frames = _waves()
    data = _dataset(tmp_path, frames[:40], pts, {"train": [0]})
    sur = Surrogate.load(train_dmd(DMDRun(data=str(data), run=str(tmp_path / "dmd"))), device="cpu", cache=False)
    ref = sur.meta["state_reference"]
    assert ref["n"] >= 4 and ref["p90"] >= ref["median"] >= 0
    assert check_state(sur, pts, frames[45:46]) == []  # later frames of the same flow
    other = frames[:1].copy()
    other[..., 0] = 2.0 + np.sin(6 * np.pi * pts[:, 0]) * np.cos(2 * np.pi * pts[:, 1])  # another regime
    (warning,) = check_state(sur, pts, other)
    assert "unlike the training states" in warning and "start later" in warning

"""Decoder error feedback: the rollout adds gain x (known - decoded) of the last known frame."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import echo_model.anchor as anchor
from echo_model.rollout import create_untrained


def test_doctest_example():
    assert doctest.testmod(anchor).failed == 0


@pytest.fixture(scope="module")
def sur():
    return create_untrained([("w", 1)], 2, seed=3)


def _roll(sur, gains, n_frames, anchor_flag=None):
    sur.meta["anchor_gains"] = gains
    rng = np.random.default_rng(0)
    pts = rng.random((200, 2))
    obs = rng.standard_normal((1, 200, 1)).astype(np.float32)
    return sur.rollout(pts, obs, n_frames, seed=1, anchor=anchor_flag).mean


def test_feedback_adds_the_known_frames_reconstruction_error_scaled_by_the_gains(sur):
    seg = sur.segment_frames
    plain = _roll(sur, None, seg)
    ones = _roll(sur, [[1.0]] * seg, seg)
    half = _roll(sur, [[0.5]] * seg, seg)
    d = ones - plain  # the same correction field at every lead time (gain 1)
    assert np.abs(d).max() > 1e-3
    np.testing.assert_allclose(d, np.broadcast_to(d[:1], d.shape), atol=1e-5)
    np.testing.assert_allclose(half - plain, 0.5 * d, atol=1e-5)
    np.testing.assert_allclose(_roll(sur, [[1.0]] * seg, seg, anchor_flag=False), plain, atol=0)


def test_anchor_true_without_gains_is_refused(sur):
    from echo_model.errors import EchoUserError

    with pytest.raises(EchoUserError, match="no anchor gains"):
        _roll(sur, None, 2, anchor_flag=True)


def test_least_squares_gains_recover_a_known_share():
    """Residual built as 0.3 d: the least-squares gains come out 0.3 at every lead time."""
    resid = 0.3 * np.ones((2, 8, 10, 1))
    np.testing.assert_allclose(anchor.least_squares_gains(resid, np.ones_like(resid)), 0.3)



def test_gains_from_trajectories_with_their_own_meshes():
    """Cylinder families: every trajectory has its own point count."""
    r = [0.3 * np.ones((4, 10, 3)), 0.3 * np.ones((4, 17, 3))]
    np.testing.assert_allclose(anchor.least_squares_gains(r, [np.ones_like(x) for x in r]), 0.3)


def test_explicit_gains_match_the_same_gains_stored_in_the_model(sur):
    seg = sur.segment_frames
    stored = _roll(sur, [[0.5]] * seg, seg)
    explicit = _roll(sur, None, seg, anchor_flag=np.full((seg, 1), 0.5))
    np.testing.assert_allclose(explicit, stored, atol=0)
    assert sur.meta["anchor_gains"] is None  # explicit gains leave the model's own untouched


# --------------------------------------------------------------------------------------------
# safe gains: regularised, clamped, never worse than no feedback on the fitting frames
# --------------------------------------------------------------------------------------------
def _stats(ls_gains, dd=1.0, rr=10.0):
    """WindowStats of one window whose least-squares gains are `ls_gains` (T, C)."""
    g = np.asarray(ls_gains, dtype=np.float64)
    return anchor.WindowStats(rr=np.full(g.shape, rr), rd=g * dd, dd=np.full(g.shape, dd))


def test_gains_fitted_on_one_window_are_shrunk_clamped_and_say_so():
    fit = anchor.safe_gains([_stats([[3.0, 0.8], [-3.0, 0.4]])], n_frames=9, n_traj=1)
    assert fit.gains.min() >= 0.0 and fit.gains.max() <= 1.0
    assert not fit.cross_validated and fit.clamped == 2
    text = " ".join(fit.notes)
    assert "1 window(s), 9 frames of 1 trajectory(ies)" in text and "too few to cross-validate" in text
    assert "more trajectories with --max-traj" in text and "from -3 to 3" in text


def test_a_gain_that_would_raise_the_fitting_error_falls_back_to_no_feedback():
    # lead 1's least-squares gain is slightly negative; the shrinkage towards the channel's mean
    # (0.45) would make it positive, which raises that lead's error: it goes back to 0
    stats = [_stats([[1.0], [-0.1]])]
    fit = anchor.safe_gains(stats, n_frames=9, n_traj=1)
    assert fit.gains[1, 0] == 0.0 and fit.gains[0, 0] > 0.5 and fit.reverted == 1
    assert any("would raise the error on the fitting frames" in n for n in fit.notes)
    for st in stats:  # never worse than no feedback, lead by lead
        err = st.rr - 2 * fit.gains * st.rd + fit.gains**2 * st.dd
        assert np.all(err <= st.rr + 1e-12)


def test_enough_windows_are_cross_validated_and_keep_a_consistent_gain():
    rng = np.random.default_rng(0)
    stats = [_stats(0.6 + 0.02 * rng.standard_normal((4, 2))) for _ in range(6)]
    fit = anchor.safe_gains(stats, n_frames=60, n_traj=1)
    assert fit.cross_validated and fit.ridge in anchor.RIDGE_GRID
    np.testing.assert_allclose(fit.gains, 0.6, atol=0.03)
    assert fit.notes == []


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One short trajectory (one window: n_obs + one segment), U and p of different scales."""
    from echo_model.data.store import write_dataset
    from echo_model.data.trajectory import Trajectory

    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    layout = [("U", 2), ("p", 1)]
    model = create_untrained(layout, 2, seed=5)
    n = model.n_observed_frames + model.segment_frames
    rng = np.random.default_rng(4)
    pts = rng.random((150, 2))
    t = np.arange(n)[:, None]
    fields = np.stack([np.sin(5 * pts[:, 0] + 0.2 * t), np.cos(4 * pts[:, 1] + 0.2 * t),
                       30 * np.sin(3 * pts[:, 0] * pts[:, 1] + 0.3 * t)], -1).astype(np.float32)
    path = tmp_path_factory.mktemp("anchor") / "run.h5"
    write_dataset(path, [Trajectory(points=pts, fields=fields, times=np.arange(n) * 1.0, field_layout=layout)],
                  name="run", split={"train": [0], "val": [], "test": []})
    return model, path


def test_fit_on_one_short_trajectory_is_safe_and_does_not_raise_its_error(short_run):
    from echo_model.data.store import TrajectoryStore
    from echo_model.metrics import rel_mse

    sur, path = short_run
    sur.meta["anchor_gains"] = None
    with TrajectoryStore(path) as store:
        fit = anchor.fit_anchor_gains(sur, store, [0], progress=False)
        traj = store[0]
    n_obs, seg = sur.n_observed_frames, sur.segment_frames
    assert fit.gains.shape == (seg, 3) and fit.n_windows == 1 and fit.n_frames == n_obs + seg
    assert fit.gains.min() >= 0.0 and fit.gains.max() <= 1.0
    assert any(f"1 window(s), {n_obs + seg} frames of 1 trajectory(ies)" in n for n in fit.notes)
    truth = traj.fields[n_obs:]
    kw = dict(seed=0, n_frames=seg)  # the fit's noise for trajectory 0, window 0
    plain = sur.rollout(traj.points, traj.fields[:n_obs], anchor=False, **kw).mean
    anchored = sur.rollout(traj.points, traj.fields[:n_obs], anchor=fit.gains, **kw).mean
    for sl in (slice(0, 2), slice(2, 3)):  # U and p each: never worse than without the feedback
        assert rel_mse(anchored[..., sl], truth[..., sl]) <= rel_mse(plain[..., sl], truth[..., sl]) * (1 + 1e-5)


def test_anchor_gains_command_prints_the_notes_and_stores_the_fit(short_run, tmp_path, capsys):
    from echo_model.bundle import load_tensors
    from echo_paraview.cli import main

    sur, path = short_run
    sur.meta["anchor_gains"] = None
    model = sur.save(tmp_path / "m.safetensors")
    assert main(["anchor-gains", str(model), "--data", str(path), "--out", str(tmp_path / "a.safetensors"),
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "note: anchor gains fitted on 1 window(s)" in out
    _, meta = load_tensors(tmp_path / "a.safetensors")
    g = np.asarray(meta["anchor_gains"])
    assert g.min() >= 0.0 and g.max() <= 1.0
    assert meta["provenance"]["anchor_gains"]["n_windows"] == 1
    assert meta["provenance"]["anchor_gains"]["cross_validated"] is False


def test_windows_of_a_long_run_are_one_segment_apart():
    assert anchor._windows(30, 1, 8, 64) == [0, 8, 16]  # 16 + 9 <= 30 < 24 + 9
    assert anchor._windows(30, 1, 8, 2) == [0, 8] and anchor._windows(8, 1, 8, 64) == []


@pytest.mark.parametrize("extra, text", [
    (["--max-traj", "0"], "--max-traj 0: give 1 or more"),
    (["--max-windows", "0"], "--max-windows 0: give 1 or more"),
    (["--split", "val"], "split 'val' of .* is empty"),
], ids=["max-traj", "max-windows", "empty-split"])
def test_anchor_gains_option_mistakes_are_user_errors(short_run, tmp_path, extra, text):
    """Named as what they are (an empty split used to read 'the longest given has 0 frames: import more')."""
    import argparse

    from echo_model.errors import EchoUserError

    sur, path = short_run
    model = sur.save(tmp_path / "m.safetensors")
    parser = argparse.ArgumentParser()
    anchor.add_arguments(parser)
    args = parser.parse_args([str(model), "--data", str(path), "--out", str(tmp_path / "a.safetensors"),
                              "--threads", "1", *extra])
    with pytest.raises(EchoUserError, match=text):
        anchor.run(args)

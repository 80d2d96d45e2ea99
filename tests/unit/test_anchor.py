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
    with pytest.raises(ValueError, match="no anchor gains"):
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

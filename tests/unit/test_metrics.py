"""Metrics: known answers for rel-MSE / rel-L2 reductions, spectra, correlation time, spread-skill."""
import numpy as np
import pytest

from echo_model import metrics as M


def test_reductions_are_per_trajectory_then_mean():
    u = np.ones((2, 3, 4, 1))
    p = u.copy()
    p[0] *= 1.1  # trajectory 0: rel-MSE 0.01, rel-L2 0.1
    p[1] *= 1.3  # trajectory 1: rel-MSE 0.09, rel-L2 0.3
    assert M.rel_mse(p, u) == pytest.approx(0.05)
    assert M.rel_l2(p, u) == pytest.approx(0.2)
    assert M.rel_mse(p[0], u[0]) == pytest.approx(0.01)  # (T, N, C) is one trajectory
    np.testing.assert_allclose(M.rel_mse_per_step(p, u), [0.05] * 3)
    with pytest.raises(ValueError, match="shape"):
        M.rel_mse(p[:, :2], u)


def test_energy_spectrum_peak_and_parseval():
    n = 32
    x = np.arange(n) / n
    xx, yy = np.meshgrid(x, x)
    f = np.sin(2 * np.pi * 5 * xx) + 0.5 * np.cos(2 * np.pi * 3 * yy)
    k, e = M.energy_spectrum(f)
    assert k[np.argmax(e)] == 5
    assert e[3] == pytest.approx(0.0625, rel=1e-6)  # 1/2 <(0.5 cos)^2> of the k = 3 mode
    assert e.sum() == pytest.approx(0.5 * np.mean(f**2), rel=1e-6)
    assert M.spectrum_error(f, f) == 0.0
    g = np.random.default_rng(0).standard_normal((n, n))  # energy in every shell
    assert M.spectrum_error(2 * g, g, k_max=8) == pytest.approx(np.log10(4.0), rel=1e-6)


def _grid(shape):
    """Coordinates in [0, 1) along each axis of a periodic grid, as broadcastable arrays."""
    return np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")


def test_energy_spectrum_3d_single_mode_in_its_shell():
    z, y, x = _grid((12, 8, 16))  # not a cube: every axis gets its own wavenumbers
    f = np.cos(2 * np.pi * (1 * z + 2 * y + 2 * x))  # |k| = sqrt(1 + 4 + 4) = 3
    k, e = M.energy_spectrum(f, dim=3)
    assert list(k) == [0, 1, 2, 3, 4]  # kmax = min(12, 8, 16) // 2
    assert e[3] == pytest.approx(0.25, rel=1e-12)  # 1/2 <cos^2>, all of it in shell 3
    assert np.delete(e, 3) == pytest.approx(0.0, abs=1e-20)
    # a velocity (D, H, W, 3): channels last and summed, each in its own shell
    z, y, x = _grid((16, 16, 16))
    u = np.stack([np.sin(2 * np.pi * 4 * x), 0.5 * np.cos(2 * np.pi * (z + y + x)), np.zeros_like(x)], -1)
    k, e = M.energy_spectrum(u, dim=3)
    assert e[4] == pytest.approx(0.25, rel=1e-12)  # |k| = 4
    assert e[2] == pytest.approx(0.0625, rel=1e-12)  # |k| = sqrt(3) rounds to shell 2
    assert e.sum() == pytest.approx(0.5 * np.mean((u**2).sum(-1)), rel=1e-12)  # Parseval
    with pytest.raises(ValueError, match="dim=3"):
        M.energy_spectrum(u[0, ..., 0], dim=3)  # (H, W): too few axes for a 3D field


def test_grid_detection_order():
    x = np.arange(4) / 4.0
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    perm = np.random.default_rng(0).permutation(16)
    h, w, order = M.grid_shape(pts[perm])
    assert (h, w) == (4, 4)
    np.testing.assert_allclose(pts[perm][order].reshape(4, 4, 2)[..., 0], xx)
    assert M.grid_shape(pts[:-1]) is None


def test_correlation_time_and_spread_skill():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((1, 10, 200, 1))
    p = u.copy()
    p[:, 4:] = rng.standard_normal((1, 6, 200, 1))  # decorrelates after 4 frames
    assert M.correlation_time(p, u, 0.8, dt=0.5) == pytest.approx(2.0)
    # calibrated ensemble: truth and members drawn from the same distribution around a mean
    mean = rng.standard_normal((1, 5, 500, 1))
    truth = mean + rng.standard_normal(mean.shape)
    members = mean[:, None] + rng.standard_normal((1, 16) + mean.shape[1:])  # (B, K, T, N, C)
    ssr = M.spread_skill_ratio(members, truth)
    assert 0.85 < ssr < 1.15
    assert M.spread_skill_ratio(mean[:, None] + 0.1 * rng.standard_normal((1, 16) + mean.shape[1:]), truth) < 0.3
    assert M.spread_skill_ratio(members[0], truth[0]) == pytest.approx(ssr)  # (K, T, N, C) for one trajectory


def _u_exact_p_noise(T=10, n=300):
    """U forecast exactly, p (100x larger values) forecast badly from the first frame."""
    rng = np.random.default_rng(1)
    true = np.concatenate([rng.standard_normal((1, T, n, 2)), 100 * rng.standard_normal((1, T, n, 1))], -1)
    pred = true.copy()
    pred[..., 2] = 0.3 * true[..., 2] + 90 * rng.standard_normal((1, T, n))
    return pred, true


def test_correlation_time_is_per_field_not_decided_by_the_field_with_the_largest_values():
    pred, true = _u_exact_p_noise()
    layout = [("U", 2), ("p", 1)]
    scores = M.per_field_scores(pred, true, layout)
    assert scores["U"]["correlation_time_steps"] == 10.0  # never decorrelates
    assert scores["p"]["correlation_time_steps"] == 0.0   # below 0.8 from the first frame
    assert scores["U"]["rel_mse"] == 0.0 and 0.5 < scores["p"]["rel_mse"] < 1.5
    res = M.summarize(pred, true, field_layout=layout)
    assert res["correlation_time_steps_per_field"] == {"U": 10.0, "p": 0.0}
    assert res["correlation_threshold"] == 0.8
    assert res["per_field"]["U"]["rel_mse_first_frame"] == 0.0
    assert res["per_field"]["p"]["rel_mse"] == pytest.approx(M.rel_mse(pred[..., 2:], true[..., 2:]))


def test_a_uniform_truth_frame_does_not_end_the_correlation_time():
    """A run that starts at rest: the first frame's truth is uniform, its correlation undefined."""
    rng = np.random.default_rng(2)
    true = rng.standard_normal((1, 6, 50, 1))
    true[:, 0] = 0.0
    pred = true + 0.01 * rng.standard_normal(true.shape)
    corr = M.correlation_per_step(pred, true)
    assert np.isnan(corr[0]) and np.all(corr[1:] > 0.99)
    assert M.correlation_time(pred, true) == 6.0
    assert M.per_field_scores(pred, true, [("w", 1)])["w"]["correlation_per_step"][0] is None

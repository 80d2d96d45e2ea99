"""Pseudo-spectral Navier–Stokes (2D vorticity, 3D velocity): exact solutions, conservation, dealiasing,
reproducibility, and the `echopv generate ns2d/ns3d` commands. Small grids, float64 where it matters."""
import math

import numpy as np
import pytest
import torch

from echo_model.cases import spectral_ns as sns
from echo_model.data.store import TrajectoryStore
from echo_model.errors import EchoUserError

torch.set_num_threads(2)


def _solver2d(n=32, scheme="cn_heun", dtype="float64", forcing=0.0, **kw):
    return sns.VorticitySolver2D(
        sns.SolverSettings(resolution=n, scheme=scheme, dtype=dtype, forcing_amplitude=forcing, **kw)
    )


def _solver3d(n=16, scheme="cn_heun", dtype="float64", forcing=0.0, **kw):
    return sns.VelocitySolver3D(
        sns.SolverSettings(resolution=n, scheme=scheme, dtype=dtype, forcing_amplitude=forcing, **kw)
    )


@pytest.mark.parametrize("scheme", sns.SCHEMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 2])
def test_taylor_green_2d_decays_at_exact_rate(scheme, dtype, k):
    # w = sin(2 pi k x) sin(2 pi k y): u . grad w = 0, so w(t) = w(0) exp(-2 nu (2 pi k)^2 t)
    nu, t_end = 0.01, 0.5
    solver = _solver2d(16, scheme, dtype)
    w = solver.simulate(sns.taylor_green_2d(16, k, amplitude=2.0), nu, [0.0, t_end])
    rate = -math.log(float(w[0, 1].double().norm() / w[0, 0].double().norm())) / t_end
    exact = 2 * nu * (2 * math.pi * k) ** 2
    assert abs(rate / exact - 1) < 1e-3
    # and the shape is unchanged: still the same single mode
    expected = w[0, 0].double() * math.exp(-exact * t_end)
    assert float((w[0, 1].double() - expected).norm() / expected.norm()) < 1e-3


def test_taylor_green_2d_float64_error_is_tiny():
    # CN's per-step error is (nu k^2 dt)^3 / 12: the rate error must be ~1e-5 or better here
    solver = _solver2d(16, "cn_heun", "float64")
    nu = 0.01
    w = solver.simulate(sns.taylor_green_2d(16, 1), nu, [0.0, 0.5])
    rate = -math.log(float(w[0, 1].norm() / w[0, 0].norm())) / 0.5
    assert abs(rate / (2 * nu * (2 * math.pi) ** 2) - 1) < 2e-5
    solver = _solver2d(16, "ifrk4", "float64")
    w = solver.simulate(sns.taylor_green_2d(16, 1), nu, [0.0, 0.5])
    rate = -math.log(float(w[0, 1].norm() / w[0, 0].norm())) / 0.5
    assert abs(rate / (2 * nu * (2 * math.pi) ** 2) - 1) < 1e-10


def test_nonlinear_term_conserves_energy_and_enstrophy_2d():
    # the 2/3-rule Galerkin truncation conserves both quadratic invariants exactly
    solver = _solver2d(32, forcing=0.0)
    w_hat = solver.to_hat(np.stack([sns.gaussian_random_vorticity(32, sns.trajectory_rng(1, i)) for i in range(3)]))
    n_hat, _ = solver.rhs(w_hat)
    assert float(n_hat.abs().max()) > 1e-6  # the random field does advect itself
    w = solver.to_physical(w_hat)
    n = solver.to_physical(n_hat)
    psi = solver.to_physical(w_hat * solver.grid.inv_k2)
    scale = (w * w).mean().sqrt() * (n * n).mean().sqrt()
    assert float((w * n).mean(dim=(-2, -1)).abs().max() / scale) < 1e-12  # enstrophy
    scale_e = (psi * psi).mean().sqrt() * (n * n).mean().sqrt()
    assert float((psi * n).mean(dim=(-2, -1)).abs().max() / scale_e) < 1e-12  # energy
    # dealiasing: nothing outside the 2/3 band
    assert float(n_hat[..., ~solver.grid.mask].abs().max()) == 0.0


def test_state_stays_band_limited_and_forcing_drives_flow():
    solver = _solver2d(32, forcing=0.1)
    w = solver.simulate(np.zeros((1, 32, 32)), 1e-3, [0.0, 0.5])
    assert float(w[0, 1].abs().max()) > 1e-3  # forcing injects vorticity from rest
    w_hat = torch.fft.rfft2(w[0, 1])
    assert float(w_hat[~solver.grid.mask].abs().max()) < 1e-12 * float(w_hat.abs().max())
    # the forcing 0.1(sin + cos) 2 pi(x+y) is the single (1, 1) mode (its conjugate is implied by rfft)
    f_hat = solver.f_hat
    assert int((f_hat.abs() > 1e-9).sum()) == 1 and float(f_hat[1, 1].abs()) > 0


@pytest.mark.parametrize("scheme", sns.SCHEMES)
def test_3d_beltrami_and_linear_taylor_green_decay(scheme):
    solver = _solver3d(12, scheme)
    nu, t_end = 0.01, 0.25
    # ABC flow: u x omega = 0 with the full nonlinear term -> |u|^2 decays as exp(-2 nu (2 pi)^2 t)
    u = solver.simulate(sns.abc_flow_3d(12), nu, [0.0, t_end])
    e0, e1 = sns.energy_3d(u[:, 0]), sns.energy_3d(u[:, 1])
    assert abs(-math.log(float(e1 / e0)) / t_end / (2 * nu * (2 * math.pi) ** 2) - 1) < 1e-3
    # Taylor–Green in the linear regime (amplitude 1e-6): k^2 = 3 (2 pi)^2
    u = solver.simulate(1e-6 * sns.taylor_green_3d(12), nu, [0.0, t_end])
    e0, e1 = sns.energy_3d(u[:, 0]), sns.energy_3d(u[:, 1])
    assert abs(-math.log(float(e1 / e0)) / t_end / (2 * nu * 3 * (2 * math.pi) ** 2) - 1) < 1e-3


def test_3d_taylor_green_energy_budget_and_nonlinear_transfer():
    # dE/dt = -2 nu Omega exactly for the dealiased system (the nonlinear term conserves energy);
    # at amplitude 1 the cascade makes E fall below the linear-decay curve.
    solver = _solver3d(12, "ifrk4")
    nu, h = 0.01, 0.01
    times = [0.0, 0.25 - h, 0.25, 0.25 + h]
    u_hats = []
    solver.simulate_hat(solver.to_hat(sns.taylor_green_3d(12)), torch.tensor([nu]), times, lambda j, s: u_hats.append(s))
    e = [float(sns.energy_3d(solver.to_physical(s))) for s in u_hats]
    w = solver.vorticity(u_hats[2])
    enstrophy = 0.5 * float((w * w).sum(1).mean())
    dedt = (e[3] - e[1]) / (2 * h)
    assert abs(dedt / (-2 * nu * enstrophy) - 1) < 1e-3
    linear = e[0] * math.exp(-2 * nu * 3 * (2 * math.pi) ** 2 * 0.25)
    assert e[2] < linear * 0.999  # energy went to smaller scales and dissipated faster
    div = sum(k * s for k, s in zip(solver.grid.k, u_hats[2][0]))
    assert float(div.abs().max()) < 1e-10 * float(u_hats[2].abs().max())  # divergence free


def test_cfl_controls_the_step():
    solver = _solver2d(32, forcing=0.0, cfl=0.1, dt_max=1.0)
    w0 = sns.taylor_green_2d(32, 1, amplitude=10.0)
    u, v = solver.velocity(solver.to_hat(w0))
    umax = float(torch.sqrt(u * u + v * v).max())
    solver.simulate(w0, 1e-3, [0.0, 0.2])
    expected = 0.2 * umax / (0.1 / 32)
    assert expected <= solver.n_steps <= expected + 2
    capped = _solver2d(32, forcing=0.0, cfl=0.1, dt_max=1e-2)
    capped.simulate(sns.taylor_green_2d(32, 1, amplitude=1e-3), 1e-3, [0.0, 0.2])
    assert capped.n_steps == 20  # dt_max binds


def test_gaussian_random_field_is_resolution_consistent_and_has_fno_variance():
    w32 = sns.gaussian_random_vorticity(32, sns.trajectory_rng(0, 5))
    w64 = sns.gaussian_random_vorticity(64, sns.trajectory_rng(0, 5))
    h32 = np.fft.rfft2(w32) / 32**2
    h64 = np.fft.rfft2(w64) / 64**2
    # identical coefficients on the modes both grids hold (|k| < 16)
    for kx in range(-15, 16):
        for ky in range(0, 16):
            assert abs(h32[kx % 32, ky] - h64[kx % 64, ky]) < 1e-12
    assert abs(w32.mean()) < 1e-12
    # FNO's GaussianRF: pointwise variance = 2 sum_{k != 0} 7^3 (4 pi^2 |k|^2 + 49)^-2.5
    k = np.arange(-256, 257)
    k2 = 4 * math.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    var = 2 * ((7.0**3 * (k2 + 49.0) ** -2.5).sum() - 7.0**3 * 49.0**-2.5)
    samples = np.stack([sns.gaussian_random_vorticity(32, sns.trajectory_rng(3, i)) for i in range(40)])
    assert 0.7 < samples.var() / var < 1.3


def test_grid_helpers_use_vtk_order():
    pts = sns.grid_points(4, 2)
    assert pts.shape == (16, 2) and np.allclose(pts[1], [0.25, 0.0]) and np.allclose(pts[4], [0.0, 0.25])
    field = np.zeros((4, 4))
    field[1, 2] = 7.0  # x index 1, y index 2
    assert sns.to_points_order(field, 2)[2 * 4 + 1] == 7.0
    pts3 = sns.grid_points(4, 3)
    f3 = np.zeros((2, 4, 4, 4))
    f3[1, 3, 0, 2] = 1.0
    flat = sns.to_points_order(f3, 3)
    i = int(np.argmax(flat[1]))
    assert np.allclose(pts3[i], [0.75, 0.0, 0.5])
    conn, offsets, types = sns.grid_cells(4, 2)
    assert types.shape == (9,) and (types == 9).all() and offsets[-1] == conn.shape[0] == 36
    quad = pts[conn[:4]]
    assert np.allclose(quad, [[0, 0], [0.25, 0], [0.25, 0.25], [0, 0.25]])
    conn3, off3, types3 = sns.grid_cells(4, 3)
    assert (types3 == 12).all() and types3.shape == (27,) and conn3.max() == 63
    hexa = pts3[conn3[:8]]
    assert np.allclose(hexa.max(0) - hexa.min(0), 0.25)


def test_settings_reject_bad_values():
    with pytest.raises(EchoUserError, match="scheme"):
        sns.SolverSettings(scheme="euler")
    with pytest.raises(EchoUserError, match="cfl"):
        sns.SolverSettings(cfl=0.0)
    with pytest.raises(EchoUserError, match="even"):
        sns.SpectralGrid(33, 2)
    with pytest.raises(EchoUserError, match="nu_min"):
        sns.log_uniform(np.random.default_rng(0), 1e-3, 1e-4)


# --------------------------------------------------------------------------------------------
# generators and CLI
# --------------------------------------------------------------------------------------------
def _small_ns2d(**kw):
    from echo_model.cases.ns2d import NS2DConfig

    base = dict(n_traj=3, resolution=16, frames=3, dt_frame=0.1, burn_in=0.1, nu_min=1e-3, nu_max=1e-2, seed=4)
    base.update(kw)
    return NS2DConfig(**base)


def test_ns2d_trajectories_do_not_depend_on_batching_and_follow_the_seed():
    from echo_model.cases.ns2d import iter_trajectories

    a = list(iter_trajectories(_small_ns2d(), batch=1, progress=False))
    b = list(iter_trajectories(_small_ns2d(), batch=3, progress=False))
    c = list(iter_trajectories(_small_ns2d(seed=5), batch=3, progress=False))
    for ta, tb in zip(a, b):
        assert ta.params == tb.params
        np.testing.assert_allclose(ta.fields, tb.fields, rtol=0, atol=1e-5)
    assert not np.allclose(a[0].fields, c[0].fields)
    assert len({t.params["nu"] for t in a}) == 3
    assert all(1e-3 <= t.params["nu"] <= 1e-2 for t in a)
    np.testing.assert_allclose(a[0].times, [0.1, 0.2, 0.3])
    assert not np.allclose(a[0].fields[0], a[0].fields[-1])  # dynamics visible between frames


def test_cli_generate_ns2d_full_grid_and_point_subsets(tmp_path):
    from echo_paraview.cli import main

    out = tmp_path / "ns2d.h5"
    argv = ["generate", "ns2d", "--n-traj", "3", "--resolution", "16", "--frames", "2", "--dt-frame", "0.1",
            "--burn-in", "0", "--nu-min", "1e-3", "--nu-max", "1e-3", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    with TrajectoryStore(out) as store:
        assert len(store) == 3 and store.info.field_layout == [("vorticity", 1)]
        assert store.info.domain.periodic == (True, True)
        assert np.allclose(store.info.domain.hi, 1.0)
        t = store[0]
        assert t.fields.shape == (2, 256, 1) and t.cells is not None and t.cells.n_cells == 225
        assert t.params == {"nu": pytest.approx(1e-3)} and not t.has_nan()
        assert store.info.extra["config"]["resolution"] == 16
    sub = tmp_path / "sub.h5"
    assert main(argv[:-1] + [str(sub), "--keep-fraction", "0.5"]) == 0
    with TrajectoryStore(sub) as store:
        t0, t1 = store[0], store[1]
        assert t0.n_points == 128 and t0.cells is None
        assert not np.array_equal(t0.points, t1.points)  # a different subset per trajectory
    # bad options are user errors, not tracebacks
    assert main(argv[:-1] + [str(tmp_path / "x.h5"), "--keep-fraction", "0"]) == 2


def test_cli_generate_ns3d(tmp_path):
    from echo_paraview.cli import main

    out = tmp_path / "ns3d.h5"
    argv = ["generate", "ns3d", "--n-traj", "2", "--resolution", "8", "--frames", "2", "--dt-frame", "0.05",
            "--vorticity", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    with TrajectoryStore(out) as store:
        assert store.info.field_layout == [("velocity", 3), ("vorticity_magnitude", 1)]
        t = store[1]
        assert t.fields.shape == (2, 512, 4) and t.cells is not None and t.cells.n_cells == 343
        assert store.info.domain.periodic == (True, True, True)
        assert (t.fields[:, :, 3] >= 0).all() and not t.has_nan()
        # energy decays
        e = (t.fields[:, :, :3] ** 2).sum(-1).mean(-1)
        assert e[1] < e[0]


def test_ensure_dataset_generates_once_into_the_cache(tmp_path, monkeypatch):
    from echo_model.cases.cached import ensure_dataset

    monkeypatch.setenv("ECHOPV_CACHE", str(tmp_path))
    small = dict(n_traj=2, resolution=16, frames=2, burn_in=0.0, dt_frame=0.1)
    p1 = ensure_dataset("ns2d-64-sample", progress=False, **small)
    assert p1.parent == tmp_path and p1.exists()
    mtime = p1.stat().st_mtime_ns
    assert ensure_dataset("ns2d-64-sample", progress=False, **small) == p1
    assert p1.stat().st_mtime_ns == mtime
    p2 = ensure_dataset("ns2d-64-sample", progress=False, **{**small, "seed": 1})
    assert p2 != p1
    with pytest.raises(EchoUserError, match="unknown dataset"):
        ensure_dataset("nope")

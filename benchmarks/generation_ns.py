"""Cost of the spectral Navier–Stokes generators on this machine, plus their physics checks.

Prints a table of seconds per trajectory (2D: 64^2, 128^2, 256^2; 3D: 32^3) with the settings of
the committed samples (sample_cases/ns2d_vorticity, sample_cases/ns3d_taylor_green), the
Taylor–Green decay-rate errors, and writes
    benchmarks/results/generation_ns.md
    sample_cases/ns2d_vorticity/preview.png   (vorticity snapshots of the 64^2 sample)

    .venv/bin/python benchmarks/generation_ns.py            # everything simulated (~2-4 min here)
    .venv/bin/python benchmarks/generation_ns.py --quick    # 256^2 estimated from its step cost

The --quick 256^2 estimate is an upper bound: a 256^2 trajectory takes at most twice the steps of
its 128^2 twin (same initial field and nu; twice where the CFL limit binds, fewer where dt_max
does); time = 2 x steps(128^2) x measured s/step(256^2).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import echo_model  # noqa: E402,F401  (applies the OpenMP thread policy before torch loads)
import torch  # noqa: E402

from echo_model.cases import spectral_ns as sns  # noqa: E402
from echo_model.cases.ns2d import NS2DConfig, iter_trajectories  # noqa: E402
from echo_model.cases.ns3d import NS3DConfig  # noqa: E402
from echo_model.cases.ns3d import iter_trajectories as iter3d  # noqa: E402

SAMPLE_2D = dict(frames=21, dt_frame=0.5, burn_in=5.0, nu_min=2e-4, nu_max=2e-3, seed=0)
SAMPLE_3D = dict(frames=5, dt_frame=0.3, nu_min=2e-3, nu_max=1e-2, seed=0, cells=False)


def _time_generator(case: str, trajectories, n_traj: int, batch: int) -> dict:
    t0 = time.perf_counter()
    trajs = list(trajectories)
    wall = time.perf_counter() - t0
    steps = [t.metadata["solver_steps"] for t in trajs]
    return dict(case=case, n_traj=n_traj, batch=batch, wall=wall, per_traj=wall / n_traj,
                steps=int(np.mean(steps)), how="measured")


def time_2d(n: int, n_traj: int, batch: int) -> dict:
    cfg = NS2DConfig(n_traj=n_traj, resolution=n, cells=False, **SAMPLE_2D)
    return _time_generator(f"ns2d {n}^2", iter_trajectories(cfg, batch=batch, progress=False), n_traj, batch)


def step_cost_2d(n: int, batch: int, repeats: int = 20) -> float:
    """Seconds per time step for a batch on a developed random field."""
    solver = sns.VorticitySolver2D(sns.SolverSettings(resolution=n))
    w0 = np.stack([sns.gaussian_random_vorticity(n, sns.trajectory_rng(0, i)) for i in range(batch)]) * 5
    w_hat = solver.to_hat(w0)
    nu = torch.full((batch,), 1e-3, dtype=torch.float64)
    solver.advance(w_hat, nu, 1e-3)  # warm-up (FFT plans)
    t0 = time.perf_counter()
    for _ in range(repeats):
        n0, _ = solver.rhs(w_hat)
        w_hat = solver._step(w_hat, solver._nu_shape(nu), torch.full((batch,), 1e-4, dtype=torch.float64), n0)
    return (time.perf_counter() - t0) / repeats


def largest_step_costs() -> list[tuple[str, float]]:
    """ms per time step at the largest supported sizes (batch 1, float32), after a warm-up."""
    out = []
    s2 = sns.VorticitySolver2D(sns.SolverSettings(resolution=1024))
    w0 = sns.gaussian_random_vorticity(1024, sns.trajectory_rng(0, 0))[None]
    s2.simulate(w0, 1e-5, [0.0, 1e-3])
    s2.n_steps = 0
    t0 = time.perf_counter()
    s2.simulate(w0, 1e-5, [0.0, 0.02])
    out.append(("ns2d 1024^2 (1,048,576 points)", (time.perf_counter() - t0) / s2.n_steps * 1e3))
    s3 = sns.VelocitySolver3D(sns.SolverSettings(resolution=64))
    u0 = sns.taylor_green_3d(64)[None]
    s3.simulate(u0, 1e-3, [0.0, 1e-3])
    s3.n_steps = 0
    t0 = time.perf_counter()
    s3.simulate(u0, 1e-3, [0.0, 0.02])
    out.append(("ns3d 64^3 (262,144 points)", (time.perf_counter() - t0) / s3.n_steps * 1e3))
    return out


def time_3d(n: int, n_traj: int, batch: int) -> dict:
    cfg = NS3DConfig(n_traj=n_traj, resolution=n, **SAMPLE_3D)
    return _time_generator(f"ns3d {n}^3", iter3d(cfg, batch=batch, progress=False), n_traj, batch)


def decay_errors() -> list[tuple[str, float]]:
    out = []
    nu = 0.01
    for scheme in sns.SCHEMES:
        for dtype in ("float32", "float64"):
            s = sns.VorticitySolver2D(sns.SolverSettings(resolution=32, scheme=scheme, dtype=dtype, forcing_amplitude=0))
            w = s.simulate(sns.taylor_green_2d(32, 1), nu, [0.0, 1.0])
            rate = -math.log(float(w[0, 1].double().norm() / w[0, 0].double().norm()))
            out.append((f"2D Taylor-Green k=1, nu=0.01, t=1, {scheme}, {dtype}", abs(rate / (2 * nu * (2 * math.pi) ** 2) - 1)))
    for scheme in sns.SCHEMES:
        s = sns.VelocitySolver3D(sns.SolverSettings(resolution=16, scheme=scheme, dtype="float64", forcing_amplitude=0))
        u = s.simulate(1e-6 * sns.taylor_green_3d(16), nu, [0.0, 0.5])
        rate = -math.log(float(sns.energy_3d(u[:, 1]) / sns.energy_3d(u[:, 0]))) / 0.5
        out.append((f"3D Taylor-Green linear regime (A=1e-6), 16^3, {scheme}, float64", abs(rate / (2 * nu * 3 * (2 * math.pi) ** 2) - 1)))
        u = s.simulate(sns.abc_flow_3d(16), nu, [0.0, 0.5])
        rate = -math.log(float(sns.energy_3d(u[:, 1]) / sns.energy_3d(u[:, 0]))) / 0.5
        out.append((f"3D ABC (Beltrami, full nonlinear term), 16^3, {scheme}, float64", abs(rate / (2 * nu * (2 * math.pi) ** 2) - 1)))
    return out


def scheme_comparison(n: int = 64, batch: int = 4, nu: float = 1e-5, t_end: float = 20.0) -> str:
    """Accuracy/cost of the two integrators at low viscosity against ifrk4 at CFL 0.05 (float64)."""
    w0 = np.stack([sns.gaussian_random_vorticity(n, sns.trajectory_rng(0, i)) for i in range(batch)])
    lines = [
        f"# Time integrators at low viscosity ({n}^2, nu = {nu:g}, t = {t_end:g}, batch {batch}, float64, dt_max 1e-2)",
        "",
        "| scheme | CFL | steps | wall s | max abs w | rel. L2 vs ifrk4 CFL 0.05 |",
        "|---|---|---|---|---|---|",
    ]
    ref = None
    for scheme, cfl in [("ifrk4", 0.05), ("cn_heun", 0.1), ("cn_heun", 0.3), ("ifrk4", 0.3), ("ifrk4", 1.0)]:
        solver = sns.VorticitySolver2D(sns.SolverSettings(resolution=n, scheme=scheme, cfl=cfl, dtype="float64"))
        t0 = time.perf_counter()
        try:
            w = solver.simulate(w0, nu, [0.0, t_end])[:, -1]
        except ValueError:
            lines.append(f"| {scheme} | {cfl} | {solver.n_steps} | {time.perf_counter() - t0:.1f} | blew up | |")
            continue
        wall = time.perf_counter() - t0
        ref = w if ref is None else ref
        err = float((w - ref).norm() / ref.norm())
        lines.append(f"| {scheme} | {cfl} | {solver.n_steps} | {wall:.1f} | {float(w.abs().max()):.2f} | {err:.1e} |")
    lines += ["", "Command: `.venv/bin/python benchmarks/generation_ns.py --schemes`"]
    return "\n".join(lines) + "\n"


def preview(path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from echo_model.data.store import TrajectoryStore

    with TrajectoryStore(path) as store:
        picks = [0, 1, 2, 3]
        frames = [0, 5, 10, 20]
        fig, axes = plt.subplots(len(picks), len(frames), figsize=(2.4 * len(frames), 2.4 * len(picks)))
        for r, i in enumerate(picks):
            t = store[i]
            n = t.metadata["grid"][0]
            w = t.field("vorticity")
            vmax = float(np.abs(w).max())
            for c, j in enumerate(frames):
                ax = axes[r, c]
                ax.imshow(w[j].reshape(n, n), origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"t = {t.times[j]:g}")
                if c == 0:
                    ax.set_ylabel(f"traj {i}, nu = {t.params['nu']:.1e}")
        fig.suptitle("ns2d_64: vorticity (periodic unit square, FNO forcing)")
        fig.tight_layout()
        fig.savefig(out, dpi=80)
        plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="estimate 256^2 from its step cost instead of simulating it")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "generation_ns.md"))
    ap.add_argument("--preview", default=str(ROOT / "sample_cases" / "ns2d_vorticity" / "preview.png"))
    ap.add_argument("--schemes", action="store_true",
                    help="only compare the integrators at nu = 1e-5 (writes results/generation_ns_schemes.md)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.schemes:
        text = scheme_comparison()
        print(text)
        (Path(args.results).parent / "generation_ns_schemes.md").write_text(text)
        return 0
    load0 = os.getloadavg()[0]

    rows = [time_2d(64, 8, 8), time_2d(128, 2, 2)]
    if not args.quick:
        rows.append(time_2d(256, 1, 1))
    else:
        s_step = step_cost_2d(256, 1, repeats=10)
        steps = 2 * rows[1]["steps"]
        rows.append(dict(case="ns2d 256^2", n_traj=1, batch=1, wall=float("nan"), per_traj=steps * s_step,
                         steps=steps, how=f"estimated (upper bound): {steps} steps x {s_step * 1e3:.1f} ms/step"))
    rows.append(time_3d(32, 1, 1))
    big = largest_step_costs()
    errors = decay_errors()
    load1 = os.getloadavg()[0]

    lines = [
        "# Spectral Navier-Stokes generation cost and physics checks",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} threads, float32, scheme cn_heun, CFL 0.1, dt_max 1e-2. "
        f"Load average {load0:.1f} -> {load1:.1f} during the run (the machine is shared: an idle machine is faster).",
        "",
        "2D settings = the ns2d_vorticity sample: 21 frames every 0.5 after a burn-in of 5 (15 time units), "
        "nu log-uniform in [2e-4, 2e-3]. 3D = the ns3d_taylor_green sample: 5 frames every 0.3 (1.2 time units), "
        "nu in [2e-3, 1e-2].",
        "",
        "| case | trajectories | batch | mean steps | s per trajectory | how |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | {r['n_traj']} | {r['batch']} | {r['steps']} | {r['per_traj']:.2f} | {r['how']} |")
    lines += ["", "| largest sizes, batch 1 | ms per time step |", "|---|---|"]
    lines += [f"| {name} | {ms:.1f} |" for name, ms in big]
    lines += ["", "| decay-rate check | relative error |", "|---|---|"]
    lines += [f"| {name} | {err:.2e} |" for name, err in errors]
    lines += ["", "Command: `.venv/bin/python benchmarks/generation_ns.py" + (" --quick`" if args.quick else "`")]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text)
    sample = ROOT / "sample_cases" / "ns2d_vorticity" / "ns2d_64.h5"
    if sample.exists():
        preview(sample, Path(args.preview))
        print(f"wrote {args.results} and {args.preview}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generate 3D periodic Navier–Stokes trajectories (pseudo-spectral, velocity form) as an ECHO dataset.

Default: decaying Taylor–Green vortex on the unit cube, u = (sin X cos Y cos Z, -cos X sin Y cos Z, 0)
with X = 2 pi x, plus a small random divergence-free perturbation (--perturbation, relative rms)
so trajectories differ beyond their viscosity nu (log-uniform in [--nu-min, --nu-max], stored as
parameter `nu`; Re = 1 / (2 pi nu) in the usual 2 pi-box units). --init random starts from a
random solenoidal field (decaying turbulence); --forcing A > 0 adds a Kolmogorov forcing
A sin(2 pi y) e_x (forced turbulence). Saved field: velocity (3 components), optionally the
vorticity magnitude (--vorticity).

Example:  echopv generate ns3d --n-traj 3 --resolution 32 --frames 5 --dt-frame 0.3 --out ns3d_32.h5
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..data.store import DatasetInfo
from ..data.trajectory import Trajectory
from ..errors import EchoUserError
from . import _grid
from . import spectral_ns as sns
from ._grid import GridConfigMixin, add_common_arguments

GENERATOR_VERSION = 1
INITS = ("taylor-green", "random")


@dataclass
class NS3DConfig(GridConfigMixin):
    n_traj: int = 4
    resolution: int = 32
    frames: int = 11
    dt_frame: float = 0.1
    burn_in: float = 0.0
    nu_min: float = 2e-3
    nu_max: float = 1e-2
    seed: int = 0
    keep_fraction: float = 1.0
    cells: bool = True
    init: str = "taylor-green"
    perturbation: float = 0.1
    forcing_amplitude: float = 0.0
    vorticity: bool = False
    cfl: float = 0.1
    dt_max: float = 1e-2
    scheme: str = "cn_heun"
    dtype: str = "float32"

    MAX_RESOLUTION = 256  # 3D: 256^3 is already 16.8 M points
    CASE, DIM = "ns3d", 3

    def describe(self) -> str:
        return (
            f"3D incompressible Navier-Stokes, periodic unit cube, {self.resolution}^3 pseudo-spectral "
            f"({self.scheme}), init {self.init}, nu log-uniform in [{self.nu_min:g}, {self.nu_max:g}]"
        )

    def validate(self) -> None:
        if self.init not in INITS:
            raise EchoUserError(f"--init must be one of {INITS}, got {self.init!r}")
        super().validate()


def initial_velocity(config: NS3DConfig, rng: np.random.Generator) -> np.ndarray:
    n = config.resolution
    if config.init == "taylor-green":
        u = sns.taylor_green_3d(n)
        if config.perturbation > 0:
            rms = config.perturbation * float(np.sqrt((u**2).sum(0).mean() / 3))
            u = u + sns.random_solenoidal_3d(n, rng, rms=rms)
        return u
    return sns.random_solenoidal_3d(n, rng, rms=0.5)  # per component, |u| ~ 0.9


def _simulate_batch(
    config: NS3DConfig, solver: sns.VelocitySolver3D, u0: np.ndarray, nus: list[float], sim_times: list[float], skip: int
) -> np.ndarray:
    """Saved frames (B, T, N, C) of one batch: velocity, then the vorticity magnitude if asked."""
    frames: list[np.ndarray] = []

    def keep(j: int, u_hat: torch.Tensor) -> None:
        if j < skip:
            return
        u = solver.to_physical(u_hat)  # (B, 3, n, n, n)
        parts = [sns.to_points_order(u, 3)]  # (B, 3, N)
        if config.vorticity:
            w = solver.vorticity(u_hat)
            parts.append(sns.to_points_order(torch.sqrt((w * w).sum(1, keepdim=True)), 3))
        frames.append(np.concatenate(parts, axis=1).transpose(0, 2, 1))  # (B, N, C)

    solver.simulate_hat(solver.to_hat(u0), torch.tensor(nus, dtype=torch.float64), sim_times, keep)
    return np.stack(frames, axis=1)


def iter_trajectories(
    config: NS3DConfig, device: str = "cpu", batch: int = 4, progress: bool = True
) -> Iterator[Trajectory]:
    config.validate()
    run = _grid.grid_run(config, device)
    solver = sns.VelocitySolver3D(run.solver_settings)
    n = config.resolution
    layout = [("velocity", 3)] + ([("vorticity_magnitude", 1)] if config.vorticity else [])
    for idx in _grid.batches(config.n_traj, batch, f"ns3d {n}^3", progress):
        rngs = [sns.trajectory_rng(config.seed, i) for i in idx]
        nus = [sns.log_uniform(r, config.nu_min, config.nu_max) for r in rngs]
        u0 = np.stack([initial_velocity(config, r) for r in rngs])
        steps0 = solver.n_steps
        t0 = time.perf_counter()
        data = _simulate_batch(config, solver, u0, nus, run.sim_times, run.skip)  # (B, T, N, C)
        stats = _grid.BatchStats(solver.n_steps - steps0, time.perf_counter() - t0)
        for b, i in enumerate(idx):
            yield _grid.grid_trajectory(config, run, i, data[b], rngs[b], {"nu": nus[b]}, layout, stats,
                                  extra_meta={"init": config.init})


def generate(
    config: NS3DConfig, out: str | os.PathLike, device: str = "cpu", batch: int = 4, progress: bool = True
) -> DatasetInfo:
    """Simulate and write the dataset atomically to `out`."""
    trajectories = iter_trajectories(config, device=device, batch=batch, progress=progress)
    return _grid.write_grid_dataset(out, trajectories, config, GENERATOR_VERSION)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = NS3DConfig()
    add_common_arguments(parser, d)
    parser.set_defaults(batch=4)
    parser.add_argument("--init", choices=INITS, default=d.init, help="initial field (%(default)s)")
    parser.add_argument("--perturbation", type=float, default=d.perturbation,
                        help="relative rms of the random solenoidal perturbation added to Taylor-Green (%(default)s)")
    parser.add_argument("--forcing", type=float, default=d.forcing_amplitude,
                        help="Kolmogorov forcing amplitude A sin(2 pi y) e_x; 0 = decaying (%(default)s)")
    parser.add_argument("--vorticity", action="store_true", help="also save the vorticity magnitude")


def run(args: argparse.Namespace) -> int:
    config = NS3DConfig(
        init=args.init,
        perturbation=args.perturbation,
        forcing_amplitude=args.forcing,
        vorticity=args.vorticity,
        **_grid.common_config_kwargs(args),
    )
    return _grid.run_generator(generate, config, args)

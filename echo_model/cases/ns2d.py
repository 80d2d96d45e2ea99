"""Generate 2D Navier–Stokes vorticity trajectories (FNO's set-up, pseudo-spectral) as an ECHO dataset.

Each trajectory: viscosity nu drawn log-uniformly from [--nu-min, --nu-max] (stored as parameter
`nu`), initial vorticity from FNO's Gaussian random field, forcing 0.1(sin 2pi(x+y) + cos 2pi(x+y)),
integrated for --burn-in time units, then --frames frames saved every --dt-frame. Trajectory i
depends only on (--seed, i), not on --batch or --device, and on --resolution only through
truncation: the same seed at 128^2 is the 2x-resolution twin of the 64^2 set.

Example:  echopv generate ns2d --n-traj 32 --resolution 64 --frames 21 --dt-frame 0.5 \\
              --burn-in 5 --out ns2d_64.h5
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
from . import _grid
from . import spectral_ns as sns
from ._grid import GridConfigMixin, add_common_arguments

GENERATOR_VERSION = 1


@dataclass
class NS2DConfig(GridConfigMixin):
    """Everything that determines the data (device/batch/threads only change speed)."""

    n_traj: int = 32
    resolution: int = 64
    frames: int = 21
    dt_frame: float = 0.5
    burn_in: float = 5.0
    nu_min: float = 2e-4
    nu_max: float = 2e-3
    seed: int = 0
    keep_fraction: float = 1.0
    cells: bool = True
    forcing_amplitude: float = 0.1
    cfl: float = 0.1
    dt_max: float = 1e-2
    scheme: str = "cn_heun"
    dtype: str = "float32"

    CASE, DIM = "ns2d", 2

    def describe(self) -> str:
        return (
            f"2D incompressible Navier-Stokes, vorticity form, periodic unit square, {self.resolution}^2 "
            f"pseudo-spectral ({self.scheme}), FNO forcing, nu log-uniform in [{self.nu_min:g}, {self.nu_max:g}]"
        )


def _draw(config: NS2DConfig, index: int) -> tuple[float, np.ndarray, np.random.Generator]:
    rng = sns.trajectory_rng(config.seed, index)
    nu = sns.log_uniform(rng, config.nu_min, config.nu_max)
    w0 = sns.gaussian_random_vorticity(config.resolution, rng)
    return nu, w0, rng


def iter_trajectories(
    config: NS2DConfig, device: str = "cpu", batch: int = 32, progress: bool = True
) -> Iterator[Trajectory]:
    """Simulate in batches and yield one Trajectory per index, in order."""
    config.validate()
    run = _grid.grid_run(config, device)
    solver = sns.VorticitySolver2D(run.solver_settings)
    n = config.resolution
    for idx in _grid.batches(config.n_traj, batch, f"ns2d {n}x{n}", progress):
        draws = [_draw(config, i) for i in idx]
        nus = torch.tensor([d[0] for d in draws], dtype=torch.float64)
        w0 = np.stack([d[1] for d in draws])
        steps0 = solver.n_steps
        t0 = time.perf_counter()
        w = solver.simulate(w0, nus, run.sim_times)[:, run.skip:]  # (B, T, n, n)
        stats = _grid.BatchStats(solver.n_steps - steps0, time.perf_counter() - t0)
        flat = sns.to_points_order(w, 2)  # (B, T, n*n)
        for b, i in enumerate(idx):
            nu, _, rng = draws[b]
            fields = flat[b][:, :, None]
            yield _grid.grid_trajectory(config, run, i, fields, rng, {"nu": nu}, [("vorticity", 1)], stats)


def generate(
    config: NS2DConfig, out: str | os.PathLike, device: str = "cpu", batch: int = 32, progress: bool = True
) -> DatasetInfo:
    """Simulate and write the dataset atomically to `out`."""
    trajectories = iter_trajectories(config, device=device, batch=batch, progress=progress)
    return _grid.write_grid_dataset(out, trajectories, config, GENERATOR_VERSION)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NS2DConfig())
    parser.add_argument("--forcing", type=float, default=NS2DConfig.forcing_amplitude,
                        help="forcing amplitude A in A(sin 2pi(x+y) + cos 2pi(x+y)) (%(default)s)")


def run(args: argparse.Namespace) -> int:
    config = NS2DConfig(forcing_amplitude=args.forcing, **_grid.common_config_kwargs(args))
    return _grid.run_generator(generate, config, args)

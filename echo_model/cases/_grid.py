"""What the two spectral generators (ns2d, ns3d) share: config checks, the grid set-up, the batch
loop with its progress bar, one Trajectory per simulated grid series, and their common CLI options.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..data.normalize import Domain
from ..data.store import DatasetInfo, write_dataset
from ..data.trajectory import Cells, Trajectory
from ..errors import EchoUserError
from ..threads import set_threads
from . import spectral_ns as sns


class GridConfigMixin:
    """Checks and helpers shared by the ns2d and ns3d configs (their fields and defaults differ).

    A config class sets CASE (the generator's name) and DIM, and describes its physics in describe().
    """

    MAX_RESOLUTION = 1024
    CASE: str
    DIM: int

    def describe(self) -> str:
        raise NotImplementedError

    def validate(self) -> None:
        if self.n_traj < 1:
            raise EchoUserError(f"--n-traj must be >= 1, got {self.n_traj}")
        if self.frames < 1:
            raise EchoUserError(f"--frames must be >= 1, got {self.frames}")
        if self.dt_frame <= 0 or self.burn_in < 0:
            raise EchoUserError("--dt-frame must be > 0 and --burn-in >= 0")
        if not 0 < self.keep_fraction <= 1:
            raise EchoUserError(f"--keep-fraction must be in (0, 1], got {self.keep_fraction}")
        top = self.MAX_RESOLUTION
        if self.resolution > top or self.resolution < 8 or self.resolution % 2:
            raise EchoUserError(f"--resolution must be even, 8..{top}, got {self.resolution}")
        sns.log_uniform(np.random.default_rng(0), self.nu_min, self.nu_max)  # range check
        sns.SolverSettings(cfl=self.cfl, dt_max=self.dt_max, scheme=self.scheme)
        sns.parse_dtype(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def times(self) -> np.ndarray:
        return self.burn_in + self.dt_frame * np.arange(self.frames)


@dataclass
class GridRun:
    """What both spectral generators set up before their batch loop (2D and 3D alike)."""

    case: str  # "ns2d" | "ns3d": the metadata's case name
    dim: int
    solver_settings: sns.SolverSettings
    points: np.ndarray  # (n^d, d) grid nodes, x fastest
    cells: Cells | None  # quads/hexahedra for the full grid, None for point subsets
    out_times: np.ndarray  # saved frame times
    sim_times: list[float]  # times handed to the solver (0 first when there is a burn-in)
    skip: int  # leading solver frames that are not saved


def grid_run(config: GridConfigMixin, device: str) -> GridRun:
    settings = sns.SolverSettings(
        resolution=config.resolution,
        dt_max=config.dt_max,
        cfl=config.cfl,
        scheme=config.scheme,
        device=device,
        dtype=config.dtype,
        forcing_amplitude=config.forcing_amplitude,
    )
    n, dim = config.resolution, config.DIM
    cells = Cells(*sns.grid_cells(n, dim)) if config.cells and config.keep_fraction >= 1 else None
    out_times = config.times()
    sim_times = [0.0] + list(out_times) if config.burn_in > 0 else list(out_times)
    skip = 1 if config.burn_in > 0 else 0
    return GridRun(config.CASE, dim, settings, sns.grid_points(n, dim), cells, out_times, sim_times, skip)


def batches(n_traj: int, batch: int, desc: str, progress: bool) -> Iterator[list[int]]:
    """Trajectory indices in batches, with a progress bar advanced after each batch."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_traj, desc=desc, unit="traj")
    try:
        for start in range(0, n_traj, max(1, batch)):
            idx = list(range(start, min(n_traj, start + max(1, batch))))
            yield idx
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()


@dataclass
class BatchStats:
    """Solver cost of one simulated batch, recorded in each of its trajectories' metadata."""

    solver_steps: int
    wall_s: float


def grid_trajectory(
    config: GridConfigMixin,
    run: GridRun,
    index: int,
    fields: np.ndarray,
    rng: np.random.Generator,
    params: dict[str, float],
    layout: list[tuple[str, int]],
    stats: BatchStats,
    extra_meta: dict[str, Any] | None = None,
) -> Trajectory:
    """One simulated trajectory (fields (T, n^d, C) on the full grid) with its metadata, thinned to a
    random point subset (drawn from the trajectory's own rng) when config.keep_fraction < 1."""
    n = config.resolution
    points, cells = run.points, run.cells
    meta = {
        "case": run.case,
        **(extra_meta or {}),
        "index": index,
        "seed": config.seed,
        "grid": [n] * run.dim,
        "point_order": "x fastest (VTK)",
        "spacing": 1.0 / n,
        "burn_in": config.burn_in,
        "solver_steps": stats.solver_steps,
        "wall_s_batch": round(stats.wall_s, 3),
    }
    if config.keep_fraction < 1:
        k = max(1, int(round(config.keep_fraction * n**run.dim)))
        ids = np.sort(rng.choice(n**run.dim, size=k, replace=False))
        points, fields = points[ids], fields[:, ids]
        meta["keep_fraction"] = config.keep_fraction  # kept nodes = the stored points
    return Trajectory(
        points=points,
        fields=fields,
        times=run.out_times,
        field_layout=layout,
        params=params,
        cells=cells,
        metadata=meta,
    )


# --------------------------------------------------------------------------------------------
# CLI pieces shared by `generate ns2d` and `generate ns3d`
# --------------------------------------------------------------------------------------------
def add_common_arguments(parser: argparse.ArgumentParser, defaults: Any) -> None:
    """Options shared by `generate ns2d` and `generate ns3d`."""
    d = defaults
    parser.add_argument("--out", required=True, help="output dataset path (.h5)")
    parser.add_argument("--n-traj", type=int, default=d.n_traj, help="number of trajectories (%(default)s)")
    parser.add_argument("--resolution", type=int, default=d.resolution, help="grid points per side (%(default)s)")
    parser.add_argument("--frames", type=int, default=d.frames, help="saved frames per trajectory (%(default)s)")
    parser.add_argument("--dt-frame", type=float, default=d.dt_frame, help="time between saved frames (%(default)s)")
    parser.add_argument("--burn-in", type=float, default=d.burn_in, help="time simulated before the first saved frame (%(default)s)")
    parser.add_argument("--nu-min", type=float, default=d.nu_min, help="smallest viscosity, log-uniform (%(default)s)")
    parser.add_argument("--nu-max", type=float, default=d.nu_max, help="largest viscosity (%(default)s)")
    parser.add_argument("--seed", type=int, default=d.seed, help="base seed; trajectory i uses (seed, i) (%(default)s)")
    parser.add_argument("--keep-fraction", type=float, default=d.keep_fraction,
                        help="fraction of grid points kept per trajectory, random per trajectory; 1 = full grid with cells (%(default)s)")
    parser.add_argument("--no-cells", action="store_true", help="do not store quad/hex cells for the full grid")
    parser.add_argument("--cfl", type=float, default=d.cfl, help="CFL number of the adaptive step (%(default)s)")
    parser.add_argument("--dt-max", type=float, default=d.dt_max, help="largest time step (%(default)s)")
    parser.add_argument("--scheme", choices=sns.SCHEMES, default=d.scheme,
                        help="cn_heun: Crank-Nicolson + Heun (FNO); ifrk4: integrating-factor RK4 (%(default)s)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype, help="solver precision (%(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (%(default)s)")
    parser.add_argument("--batch", type=int, default=32, help="trajectories simulated together (%(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (%(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# config fields that `add_common_arguments` exposes under the same name (`cells` is `--no-cells`)
COMMON_FIELDS = ("n_traj", "resolution", "frames", "dt_frame", "burn_in", "nu_min", "nu_max", "seed",
                 "keep_fraction", "cfl", "dt_max", "scheme", "dtype")


def common_config_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {**{name: getattr(args, name) for name in COMMON_FIELDS}, "cells": not args.no_cells}


def report(info: DatasetInfo, out: str | os.PathLike, wall: float) -> None:
    size = Path(out).stat().st_size
    print(
        f"wrote {out}: {info.n_trajectories} trajectories, fields {info.field_layout}, "
        f"{size / 1e6:.2f} MB, {wall:.1f} s ({wall / max(info.n_trajectories, 1):.3f} s per trajectory)"
    )


def write_grid_dataset(
    out: str | os.PathLike, trajectories: Iterator[Trajectory], config: GridConfigMixin, generator_version: int
) -> DatasetInfo:
    """Write a generator's trajectories atomically, on the periodic unit box, with its config."""
    case, dim = config.CASE, config.DIM
    return write_dataset(
        out,
        trajectories,
        name=f"{case}_{config.resolution}",
        domain=Domain(np.zeros(dim), np.ones(dim), periodic=(True,) * dim),
        description=config.describe(),
        extra={"generator": f"echo_model.cases.{case}", "generator_version": generator_version,
               "config": config.to_dict()},
    )


def run_generator(generate: Callable[..., DatasetInfo], config: GridConfigMixin, args: argparse.Namespace) -> int:
    """The body of `echopv generate ns2d|ns3d`: threads, generate with a progress bar, report."""
    set_threads(max(1, args.threads))
    t0 = time.perf_counter()
    info = generate(config, args.out, device=args.device, batch=args.batch, progress=not args.quiet)
    report(info, args.out, time.perf_counter() - t0)
    return 0

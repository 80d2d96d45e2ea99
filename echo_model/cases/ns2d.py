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
import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

# Why: on a shared, oversubscribed machine OpenMP's default spin-waiting makes every parallel torch
# op wait for a descheduled sibling thread (measured here, load 9 on 2 cores: one 64^2 x 8 RHS took
# 77 ms with 2 spinning threads, 0.65 ms with PASSIVE). Only effective if torch is not imported yet.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

from ..data.normalize import Domain
from ..data.store import DatasetInfo, write_dataset
from ..data.trajectory import Cells, Trajectory
from . import spectral_ns as sns

GENERATOR_VERSION = 1


class GridConfigMixin:
    """Checks and helpers shared by the ns2d and ns3d configs (their fields and defaults differ)."""

    MAX_RESOLUTION = 1024

    def validate(self) -> None:
        if self.n_traj < 1:
            raise ValueError(f"--n-traj must be >= 1, got {self.n_traj}")
        if self.frames < 1:
            raise ValueError(f"--frames must be >= 1, got {self.frames}")
        if self.dt_frame <= 0 or self.burn_in < 0:
            raise ValueError("--dt-frame must be > 0 and --burn-in >= 0")
        if not 0 < self.keep_fraction <= 1:
            raise ValueError(f"--keep-fraction must be in (0, 1], got {self.keep_fraction}")
        top = self.MAX_RESOLUTION
        if self.resolution > top or self.resolution < 8 or self.resolution % 2:
            raise ValueError(f"--resolution must be even, 8..{top}, got {self.resolution}")
        sns.log_uniform(np.random.default_rng(0), self.nu_min, self.nu_max)  # range check
        sns.SolverSettings(cfl=self.cfl, dt_max=self.dt_max, scheme=self.scheme)
        sns.parse_dtype(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def times(self) -> np.ndarray:
        return self.burn_in + self.dt_frame * np.arange(self.frames)


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



@dataclass
class GridRun:
    """What both spectral generators set up before their batch loop (2D and 3D alike)."""

    solver_settings: sns.SolverSettings
    points: np.ndarray  # (n^d, d) grid nodes, x fastest
    cells: Cells | None  # quads/hexahedra for the full grid, None for point subsets
    out_times: np.ndarray  # saved frame times
    sim_times: list[float]  # times handed to the solver (0 first when there is a burn-in)
    skip: int  # leading solver frames that are not saved


def grid_run(config: Any, dim: int, device: str) -> GridRun:
    settings = sns.SolverSettings(
        resolution=config.resolution,
        dt_max=config.dt_max,
        cfl=config.cfl,
        scheme=config.scheme,
        device=device,
        dtype=config.dtype,
        forcing_amplitude=config.forcing_amplitude,
    )
    n = config.resolution
    cells = Cells(*sns.grid_cells(n, dim)) if config.cells and config.keep_fraction >= 1 else None
    out_times = config.times()
    sim_times = [0.0] + list(out_times) if config.burn_in > 0 else list(out_times)
    return GridRun(settings, sns.grid_points(n, dim), cells, out_times, sim_times, 1 if config.burn_in > 0 else 0)


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
    run = grid_run(config, 2, device)
    solver = sns.VorticitySolver2D(run.solver_settings)
    n = config.resolution
    full_points, full_cells, out_times, sim_times, skip = run.points, run.cells, run.out_times, run.sim_times, run.skip
    for idx in batches(config.n_traj, batch, f"ns2d {n}x{n}", progress):
        draws = [_draw(config, i) for i in idx]
        nus = torch.tensor([d[0] for d in draws], dtype=torch.float64)
        w0 = np.stack([d[1] for d in draws])
        steps0 = solver.n_steps
        t0 = time.perf_counter()
        w = solver.simulate(w0, nus, sim_times)[:, skip:]  # (B, T, n, n)
        wall = time.perf_counter() - t0
        flat = sns.to_points_order(w, 2)  # (B, T, n*n)
        for b, i in enumerate(idx):
            nu, _, rng = draws[b]
            fields = flat[b][:, :, None]
            points, cells = full_points, full_cells
            meta = {
                "case": "ns2d",
                "index": i,
                "seed": config.seed,
                "grid": [n, n],
                "point_order": "x fastest (VTK)",
                "spacing": 1.0 / n,
                "burn_in": config.burn_in,
                "solver_steps": solver.n_steps - steps0,
                "wall_s_batch": round(wall, 3),
            }
            if config.keep_fraction < 1:
                k = max(1, int(round(config.keep_fraction * n * n)))
                ids = np.sort(rng.choice(n * n, size=k, replace=False))
                points, fields = full_points[ids], fields[:, ids]
                meta["keep_fraction"] = config.keep_fraction  # kept nodes = the stored points
            yield Trajectory(
                points=points,
                fields=fields,
                times=out_times,
                field_layout=[("vorticity", 1)],
                params={"nu": nu},
                cells=cells,
                metadata=meta,
            )


def generate(
    config: NS2DConfig, out: str | os.PathLike, device: str = "cpu", batch: int = 32, progress: bool = True
) -> DatasetInfo:
    """Simulate and write the dataset atomically to `out`."""
    domain = Domain(np.zeros(2), np.ones(2), periodic=(True, True))
    desc = (
        f"2D incompressible Navier-Stokes, vorticity form, periodic unit square, {config.resolution}^2 "
        f"pseudo-spectral ({config.scheme}), FNO forcing, nu log-uniform in [{config.nu_min:g}, {config.nu_max:g}]"
    )
    return write_dataset(
        out,
        iter_trajectories(config, device=device, batch=batch, progress=progress),
        name=f"ns2d_{config.resolution}",
        domain=domain,
        description=desc,
        extra={"generator": "echo_model.cases.ns2d", "generator_version": GENERATOR_VERSION, "config": config.to_dict()},
    )


# --------------------------------------------------------------------------------------------
# CLI
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, NS2DConfig())
    parser.add_argument("--forcing", type=float, default=NS2DConfig.forcing_amplitude,
                        help="forcing amplitude A in A(sin 2pi(x+y) + cos 2pi(x+y)) (%(default)s)")


def _common_config_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(
        n_traj=args.n_traj,
        resolution=args.resolution,
        frames=args.frames,
        dt_frame=args.dt_frame,
        burn_in=args.burn_in,
        nu_min=args.nu_min,
        nu_max=args.nu_max,
        seed=args.seed,
        keep_fraction=args.keep_fraction,
        cells=not args.no_cells,
        cfl=args.cfl,
        dt_max=args.dt_max,
        scheme=args.scheme,
        dtype=args.dtype,
    )


def report(info: DatasetInfo, out: str | os.PathLike, wall: float) -> None:
    size = Path(out).stat().st_size
    print(
        f"wrote {out}: {info.n_trajectories} trajectories, fields {info.field_layout}, "
        f"{size / 1e6:.2f} MB, {wall:.1f} s ({wall / max(info.n_trajectories, 1):.3f} s per trajectory)"
    )


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(max(1, args.threads))
    config = NS2DConfig(forcing_amplitude=args.forcing, **_common_config_kwargs(args))
    t0 = time.perf_counter()
    info = generate(config, args.out, device=args.device, batch=args.batch, progress=not args.quiet)
    report(info, args.out, time.perf_counter() - t0)
    return 0


# --------------------------------------------------------------------------------------------
# on-demand datasets in a cache directory
# --------------------------------------------------------------------------------------------
# Named presets; `ensure_dataset(name, **overrides)` generates them once into the cache.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    # the committed sample's settings, at training scale
    "ns2d-64": ("ns2d", dict(n_traj=1000, resolution=64, frames=21, dt_frame=0.5, burn_in=5.0)),
    "ns2d-64-sample": ("ns2d", dict(n_traj=32, resolution=64, frames=21, dt_frame=0.5, burn_in=5.0)),
    "ns2d-128": ("ns2d", dict(n_traj=200, resolution=128, frames=21, dt_frame=0.5, burn_in=5.0)),
    "ns2d-256": ("ns2d", dict(n_traj=50, resolution=256, frames=21, dt_frame=0.5, burn_in=5.0)),
    "ns2d-64-irregular": ("ns2d", dict(n_traj=1000, resolution=64, frames=21, dt_frame=0.5, burn_in=5.0, keep_fraction=0.5)),
    "ns3d-32": ("ns3d", dict(n_traj=64, resolution=32, frames=13, dt_frame=0.1, cells=False)),
}


def cache_dir() -> Path:
    """$ECHOPV_CACHE, else ~/.cache/echopv."""
    return Path(os.environ.get("ECHOPV_CACHE") or Path.home() / ".cache" / "echopv")


def ensure_dataset(
    name: str,
    *,
    cache: str | os.PathLike | None = None,
    device: str = "cpu",
    batch: int = 32,
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Path of the named dataset in the cache, generating it first if it is not there yet.

    The file name carries a hash of the full generator configuration, so changed settings
    (overrides, or a new generator version) give a new file instead of a stale one.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(PRESETS)}")
    kind, preset = PRESETS[name]
    if kind == "ns2d":
        config: Any = NS2DConfig(**{**preset, **overrides})
        gen = generate
        version = GENERATOR_VERSION
    else:
        from . import ns3d

        config = ns3d.NS3DConfig(**{**preset, **overrides})
        gen = ns3d.generate
        version = ns3d.GENERATOR_VERSION
    config.validate()
    key = json.dumps({"kind": kind, "version": version, "config": config.to_dict()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    path = Path(cache or cache_dir()) / f"{name}-{digest}.h5"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    gen(config, path, device=device, batch=batch, progress=progress)
    (path.with_suffix(".json")).write_text(json.dumps(json.loads(key), indent=2))
    return path

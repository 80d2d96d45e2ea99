"""The solver's side of `echopv demo ns3d`: one fresh 3D Taylor-Green trajectory from the project's
spectral solver, written as ParaView users have such data: a `.pvd` of `.vti` image-data frames
with the velocity as point data and the viscosity as field data `param_nu` (which EchoRollout reads).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError


@dataclass
class SolverRun:
    """The demo trajectory: the `ns3d-32-tg` training preset's physics (decaying Taylor-Green with a
    20 % random solenoidal perturbation, nu log-uniform in [2e-3, 1e-2]) with another seed, so the
    model has not seen it; `dt_frame` comes from the model file."""

    frames: int = 17
    dt_frame: float = 0.15
    resolution: int = 32
    seed: int = 17
    nu: float | None = None  # None: drawn from the seed like the training set's
    perturbation: float = 0.2

    def validate(self) -> None:
        if self.frames < 2:
            raise EchoUserError(f"the demo needs at least 2 solver frames, got {self.frames}; raise --frames")
        if not 8 <= self.resolution <= 128:
            raise EchoUserError(f"--resolution {self.resolution}: use 8 .. 128 points per side "
                                "(32 is the training grid)")
        if self.nu is not None and not self.nu > 0:
            raise EchoUserError(f"--nu {self.nu}: the viscosity must be positive (the training range is 2e-3 .. 1e-2)")


def solve(run: SolverRun) -> Trajectory:
    """One trajectory of `echo_model.cases.ns3d` (points i/n in VTK order, field `velocity`).

    Example
    -------
    >>> traj = solve(SolverRun(frames=2, dt_frame=0.05, resolution=8))
    >>> traj.fields.shape
    (2, 512, 3)
    """
    from echo_model.cases.ns3d import NS3DConfig, iter_trajectories

    run.validate()
    nu_min, nu_max = (run.nu, run.nu) if run.nu is not None else (2e-3, 1e-2)
    config = NS3DConfig(n_traj=1, resolution=run.resolution, frames=run.frames, dt_frame=run.dt_frame,
                        perturbation=run.perturbation, nu_min=nu_min, nu_max=nu_max, seed=run.seed, cells=False)
    return next(iter(iter_trajectories(config, batch=1, progress=False)))


def write_image_series(traj: Trajectory, path: Path, resolution: int) -> Path:
    """`path` (.pvd) listing one `.vti` per frame in `<stem>/`: the n^3 grid over [0, 1)^3 (spacing 1/n),
    the trajectory's fields as point data, `param_<name>` field data for its parameters."""
    from vtkmodules.vtkIOXML import vtkXMLImageDataWriter

    from . import convert
    from .io.pvd import write_pvd_index

    n = int(resolution)
    if traj.n_points != n**3:
        raise ValueError(f"{traj.n_points} points are no {n}^3 grid")
    folder = path.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{folder.name}_*.vti"):  # an earlier, longer series'
        stale.unlink()
    writer = vtkXMLImageDataWriter()
    writer.SetCompressorTypeToZLib()
    rows = []
    for i, t in enumerate(np.asarray(traj.times, dtype=float)):
        img = convert.make_image_data((n, n, n), spacing=(1.0 / n,) * 3)
        convert.add_fields(img, traj.fields[i], traj.field_layout)
        convert.set_field_data(img, {"TimeValue": float(t), **{f"param_{k}": float(v) for k, v in traj.params.items()}})
        name = f"{folder.name}_{i:04d}.vti"
        writer.SetInputData(img)
        writer.SetFileName(str(folder / name))
        if writer.Write() != 1:
            raise OSError(f"VTK could not write {folder / name} (disk full or not writable?)")
        rows.append((float(t), f"{folder.name}/{name}"))
    write_pvd_index(path, rows)
    return path

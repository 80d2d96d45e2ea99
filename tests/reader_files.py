"""Small files for the reader tests (ECHO datasets and The Well files), written by the project's
own writers. A helper module, not a test: the reader tests in tests/vtk, tests/paraview and
tests/gui import it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.io_well import grid_cells, grid_points


def grid_trajectory(seed: int, shape: Sequence[int] = (6, 5), n_frames: int = 4,
                    layout: Sequence[tuple[str, int]] = (("u", 2), ("p", 1)),
                    spacing: Sequence[np.ndarray] | None = None, cells: bool = True) -> Trajectory:
    """Random fields on a regular grid ("ij" point order), params nu and Re, times 0.5 k + seed."""
    rng = np.random.default_rng(seed)
    axes = list(spacing) if spacing is not None else [np.linspace(0.0, 1.0, n) for n in shape]
    points = grid_points(axes)
    c = sum(k for _, k in layout)
    return Trajectory(
        points=points,
        fields=rng.standard_normal((n_frames, points.shape[0], c)).astype(np.float32),
        times=0.5 * np.arange(n_frames) + 0.25 * seed,
        field_layout=list(layout),
        params={"nu": 1e-3 * (seed + 1), "Re": 100.0 + seed},
        cells=grid_cells([len(a) for a in axes]) if cells else None,
    )


def write_small_dataset(path: Path, n_traj: int = 3, n_frames: int = 4, shape: Sequence[int] = (6, 5),
                        cells: bool = True, layout: Sequence[tuple[str, int]] = (("u", 2), ("p", 1))) -> Path:
    trajs = [grid_trajectory(s, shape, n_frames, layout, cells=cells) for s in range(n_traj)]
    split = {"train": list(range(max(1, n_traj - 1))), "val": [], "test": list(range(max(1, n_traj - 1), n_traj))}
    write_dataset(path, trajs, name="small", split=split)
    return path

"""Small real inputs for the issue-24 tests of training, caches and model headers (a helper module, not
a test): a 2-D dataset of 10 x 10 points, untrained autoencoder files, and model files whose JSON header
is edited (what a crafted or hand-edited file holds)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from echo_model.bundle import load_tensors, save_tensors
from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory

DOMAIN = Domain([0, 0], [1, 1], (True, True))
# options that keep a `train ae` run to a second on one core
AE_FAST = ["--threads", "1", "--no-progress", "--grid", "16", "--n-query", "64", "--batch-size", "1",
           "--frames", "5", "--ckpt-every", "0"]


def grid_quads(n: int):
    """VTK quads of an n x n point grid (row-major point ids)."""
    from echo_model.celltypes import CellType
    from echo_model.data.trajectory import Cells

    ids = np.arange(n * n).reshape(n, n)
    quads = np.stack([ids[:-1, :-1], ids[:-1, 1:], ids[1:, 1:], ids[1:, :-1]], axis=-1).reshape(-1, 4)
    k = quads.shape[0]
    return Cells(quads.reshape(-1), np.arange(0, 4 * k + 1, 4), np.full(k, CellType.QUAD, np.uint8))


def tiny_dataset(path: Path, n_traj: int = 2, n_frames: int = 7, times: np.ndarray | None = None,
                 cells: bool = False) -> Path:
    """Travelling sine waves on a periodic 10 x 10 grid (with quads when `cells`), one parameter nu, all
    trajectories in 'train'."""
    n = 10
    x = (np.arange(n) + 0.5) / n
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    t = 0.5 * np.arange(n_frames) if times is None else np.asarray(times, dtype=np.float64)

    def traj(s: int) -> Trajectory:
        f = np.stack([np.sin(2 * np.pi * (pts[:, 0] + 0.05 * k) + s) for k in range(len(t))])[..., None]
        return Trajectory(pts, f.astype(np.float32), t, [("w", 1)], params={"nu": 1e-3 * (1 + s)},
                          cells=grid_quads(n) if cells else None)

    write_dataset(path, (traj(s) for s in range(n_traj)), name="tiny", domain=DOMAIN,
                  split={"train": list(range(n_traj)), "val": [], "test": []}, compression=None)
    return path


def autoencoder_file(path: Path, seed: int = 0, n_frames: int = 5) -> Path:
    """An untrained autoencoder file (random weights of `seed`) for the tiny dataset's field."""
    from echo_model.nn.autoencoder import save_autoencoder
    from echo_model.rollout import create_untrained

    sur = create_untrained([("w", 1)], 2, domain=DOMAIN, seed=seed)
    save_autoencoder(path, sur.ae, meta={"field_layout": [["w", 1]], "stats": sur.stats.to_dict(),
                                         "domain": sur.domain.to_dict(), "dt": 0.5, "n_frames": n_frames})
    return path


def model_file(path: Path, seed: int = 0) -> Path:
    """An untrained complete model for the tiny dataset's field."""
    from echo_model.rollout import create_untrained

    create_untrained([("w", 1)], 2, domain=DOMAIN, dt=0.5, seed=seed).save(path)
    return path


def edit_header(src: Path, dst: Path, **changes: Any) -> Path:
    """A copy of a model file whose header has `changes` (a value of DELETE removes the key; a dotted
    key "stats__std" sets inside an object)."""
    tensors, meta = load_tensors(src)
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = meta
        for p in parents:
            node = node[p]
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    save_tensors(dst, tensors, meta)
    return dst


DELETE = object()

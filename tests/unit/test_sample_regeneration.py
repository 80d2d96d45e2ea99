"""The committed grid samples regenerate from their recorded config.json.

Points, cells, times, parameters and metadata must match exactly; the fields to float32 rounding
(the samples were written on another machine, whose FFT rounding differs in the last bits).
Only the first trajectory of each set is regenerated: trajectory i depends only on (seed, i).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_model.data.store import TrajectoryStore

torch.set_num_threads(1)
SAMPLES = Path(__file__).resolve().parents[2] / "sample_cases"


def _first_trajectory(case: str, config: dict):
    if case == "ns2d":
        from echo_model.cases.ns2d import NS2DConfig as Config, iter_trajectories
    else:
        from echo_model.cases.ns3d import NS3DConfig as Config, iter_trajectories
    return next(iter_trajectories(Config(**{**config, "n_traj": 1}), batch=1, progress=False))


@pytest.mark.parametrize("case, folder, file", [
    ("ns2d", "ns2d_vorticity", "ns2d_64.h5"),
    ("ns3d", "ns3d_taylor_green", "ns3d_32.h5"),
])
def test_committed_sample_regenerates(case, folder, file):
    recorded = json.loads((SAMPLES / folder / "config.json").read_text())
    assert recorded["generator"] == f"echo_model.cases.{case}"
    new = _first_trajectory(case, recorded["config"])
    with TrajectoryStore(SAMPLES / folder / file) as store:
        assert store.info.extra["config"] == recorded["config"]
        old = store[0]
    np.testing.assert_array_equal(new.points, old.points)
    np.testing.assert_array_equal(new.times, old.times)
    assert (new.cells is None) == (old.cells is None)
    if old.cells is not None:
        np.testing.assert_array_equal(new.cells.connectivity, old.cells.connectivity)
        np.testing.assert_array_equal(new.cells.types, old.cells.types)
    assert new.params == old.params and new.field_layout == old.field_layout
    drop = {"wall_s_batch", "solver_steps"}  # batch cost: the sample was made in one batch
    assert {k: v for k, v in new.metadata.items() if k not in drop} == {
        k: v for k, v in old.metadata.items() if k not in drop and k in new.metadata
    }
    scale = float(np.abs(old.fields).max())
    np.testing.assert_allclose(new.fields, old.fields, rtol=0, atol=2e-6 * scale)

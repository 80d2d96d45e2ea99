"""The cylinder FNO peer's grid resampling (benchmarks/cylinder_fno.py; needs no neuraloperator)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from cylinder_fno import LX, LY, RADIUS, CaseGrid, Grid, round_trip, scattered_to_points  # noqa: E402

CX, CY = 0.3, 0.2


def _cloud(n: int = 1500, seed: int = 0) -> np.ndarray:
    """Scattered points in the channel outside the cylinder, like a case's cell centres."""
    p = np.random.default_rng(seed).uniform([0.005, 0.005], [LX - 0.005, LY - 0.005], (3 * n, 2))
    return p[np.hypot(p[:, 0] - CX, p[:, 1] - CY) > RADIUS + 0.002][:n]


def _linear(p: np.ndarray) -> np.ndarray:
    return np.stack([1.0 + 2.0 * p[:, 0] - 3.0 * p[:, 1], -0.5 + 0.7 * p[:, 1]], axis=1)


def test_linear_field_reaches_the_grid_exactly_inside_the_hull() -> None:
    pts, nodes = _cloud(), Grid().nodes()
    st = scattered_to_points(pts, nodes)
    got, want = st(_linear(pts)), _linear(nodes)
    inside = st.w[:, 1:].any(1) | (st.w[:, 0] < 1)  # nodes that were interpolated, not nearest-filled
    assert inside.mean() > 0.85
    np.testing.assert_allclose(got[inside], want[inside], atol=1e-9)
    # nodes outside the hull (on the walls) take the nearest point's value: within one point spacing
    assert np.abs(got[~inside] - want[~inside]).max() < 3.5 * 0.05


def test_round_trip_reproduces_a_linear_field_away_from_the_cylinder() -> None:
    pts, grid = _cloud(), Grid()
    cg = CaseGrid.build(grid, pts, CX, CY)
    back = round_trip(grid, pts, _linear(pts)[None], CX, CY)[0]
    err = np.abs(back - _linear(pts)).max(1)
    # exact where the way back uses only fluid nodes that were interpolated (not nearest-filled)
    interpolated = (cg.to_grid.w[:, 0] < 1) & (cg.fluid == 1)
    clean = interpolated[cg.to_points.idx].all(1)
    assert clean.mean() > 0.8
    assert err[clean].max() < 1e-9
    assert err.max() < 0.2  # near the cylinder and the walls: about one grid spacing times the gradient (3.6)


def test_cylinder_mask_covers_the_nodes_inside() -> None:
    grid = Grid()
    cg = CaseGrid.build(grid, _cloud(), CX, CY)
    nodes = grid.nodes()
    inside = np.hypot(nodes[:, 0] - CX, nodes[:, 1] - CY) < RADIUS
    np.testing.assert_array_equal(cg.fluid == 0, inside)
    area = np.pi * RADIUS ** 2 / ((LX / (grid.nx - 1)) * (LY / (grid.ny - 1)))
    assert abs(inside.sum() - area) < 0.35 * area  # ~25 nodes for r = 0.05
    f = cg.fields_to_grid(np.ones((len(cg.to_points.idx), 2)))
    assert (f[inside] == 0).all()
    np.testing.assert_allclose(f[~inside], 1.0, atol=1e-12)
    # the way back never uses a solid node
    assert (cg.fluid[cg.to_points.idx][cg.to_points.w > 0] == 1).all()

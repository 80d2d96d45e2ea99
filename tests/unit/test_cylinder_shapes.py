"""Obstacle shapes and the rocked start of the cylinder generator (gmsh only; one short solver run)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from echo_model.cases.cylinder import FamilyConfig, draw_cases, generate_family
from echo_model.cases.cylinder_case import CylinderCase, read_force_coeffs, write_dictionaries
from echo_model.cases.cylinder_mesh import MESHES, RADIUS, SHAPES, Obstacle, write_mesh
from echo_model.errors import EchoUserError


def _polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_meshes_with_the_cylinders_area_and_its_outline_on_the_cylinder_patch(
        tmp_path: Path, shape: str) -> None:
    """The hole each obstacle leaves in the channel has the cylinder's area, and every face of the
    obstacle's outline is in the `cylinder` group (forces are integrated there), flat sides included."""
    import gmsh

    obstacle = Obstacle(shape, aspect=2.0 if shape == "ellipse" else 1.0, angle=0.0 if shape == "rsquare" else 25.0)
    n = write_mesh(tmp_path / "m.msh", 0.3, 0.2, MESHES["ci"], obstacle)
    assert n > 500
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(str(tmp_path / "m.msh"))
        groups = {gmsh.model.getPhysicalName(d, t): t for d, t in gmsh.model.getPhysicalGroups(2)}
        nodes, coords = gmsh.model.mesh.getNodesForPhysicalGroup(2, groups["cylinder"])
        xy = coords.reshape(-1, 3)[:, :2]
        wall_nodes, wall_coords = gmsh.model.mesh.getNodesForPhysicalGroup(2, groups["walls"])
    finally:
        gmsh.finalize()
    # the outline's nodes lie around the centre, within the shape's extent
    r = np.hypot(xy[:, 0] - 0.3, xy[:, 1] - 0.2)
    assert r.max() <= obstacle.extent() + 1e-6
    assert r.min() >= 0.3 * RADIUS
    # walls only at y = 0 and y = H: no flat side of the body was filed as a wall
    wy = wall_coords.reshape(-1, 3)[:, 1]
    assert np.all((np.abs(wy) < 1e-9) | (np.abs(wy - 0.41) < 1e-9))
    # area of the outline, nodes ordered by angle about the centre (star-shaped bodies)
    ring = xy[np.abs(coords.reshape(-1, 3)[:, 2]) < 1e-9]
    ring = ring[np.argsort(np.arctan2(ring[:, 1] - 0.2, ring[:, 0] - 0.3))]
    assert _polygon_area(ring) == pytest.approx(math.pi * RADIUS**2, rel=0.06)
    # the signed distance the peers get as an input vanishes on the meshed outline
    assert np.abs(obstacle.signed_distance(ring, 0.3, 0.2)).max() < 1e-3


@pytest.mark.parametrize("obstacle", [Obstacle(), Obstacle("ellipse", 2.5, 40.0), Obstacle("rsquare", 1.0, 20.0),
                                      Obstacle("triangle", 1.0, 70.0)])
def test_signed_distance_encloses_the_cylinders_area(obstacle: Obstacle) -> None:
    xy = np.random.default_rng(0).uniform(-0.12, 0.12, (60_000, 2)) + [0.3, 0.2]
    sd = obstacle.signed_distance(xy, 0.3, 0.2)
    assert (sd < 0).mean() * 0.24**2 == pytest.approx(math.pi * RADIUS**2, rel=0.05)
    far = np.array([[0.3 + 0.5, 0.2]])
    assert 0.5 - obstacle.extent() - 1e-9 <= obstacle.signed_distance(far, 0.3, 0.2)[0] < 0.5


def test_obstacles_are_checked_before_meshing() -> None:
    with pytest.raises(EchoUserError, match="unknown obstacle shape 'star'.*circle, ellipse"):
        Obstacle("star")
    with pytest.raises(EchoUserError, match="aspect ratio 9.0 is outside 1..4"):
        Obstacle("ellipse", aspect=9.0)
    with pytest.raises(EchoUserError, match="does not fit.*ellipse"):
        write_mesh("unused.msh", 0.3, 0.08, MESHES["ci"], Obstacle("ellipse", aspect=3.0, angle=90))


def test_the_kick_rocks_the_body_for_one_shedding_period_only(tmp_path: Path) -> None:
    write_dictionaries(tmp_path / "rest", CylinderCase())
    assert "cylinder\n    {\n        type noSlip;" in (tmp_path / "rest/0/U").read_text()
    case = CylinderCase(Um=1.5, kick=0.5)
    write_dictionaries(tmp_path / "kick", case)
    text = (tmp_path / "kick/0/U").read_text()
    period = case.D / (0.3 * case.U_mean)
    assert f"time() < {period:.6g} ?" in text
    assert f"{0.5 * 1.5 / RADIUS:.6g}*sin(" in text


def test_a_shape_family_draws_its_shapes_and_a_circle_family_keeps_its_cases() -> None:
    circles = draw_cases(FamilyConfig(n=5, seed=11))
    assert [c.shape for c in circles] == ["circle"] * 5
    # the draws of a circle family are those of before shapes existed (seed 11's first case, as cached)
    assert (circles[0].Um, circles[0].cx, circles[0].cy) == (1.0393, 0.2748, 0.2162)
    mixed = draw_cases(FamilyConfig(n=40, seed=3, shapes=("ellipse", "rsquare"), aspect_range=(1.5, 2.0),
                                    angle_range=(0, 90)))
    assert {c.shape for c in mixed} == {"ellipse", "rsquare"}
    assert all(1.5 <= c.aspect <= 2.0 for c in mixed if c.shape == "ellipse")
    assert all(c.aspect == 1.0 for c in mixed if c.shape == "rsquare")
    assert all(0 <= c.angle <= 90 for c in mixed)


def test_a_kicked_rounded_square_sheds_within_the_first_second(tmp_path: Path) -> None:
    """A real run on the ci mesh: rocked at the start, the square's wake sheds at once; its lift
    oscillates in [0.75, 1.5] s with an amplitude of the developed street, and the frames start at 1 s."""
    pytest.importorskip("gmsh")
    cfg = FamilyConfig(n=1, seed=2, mesh="ci", shapes=("rsquare",), kick=0.5, end_time=1.5, skip_time=1.0,
                       um_range=(2.0, 2.0), jobs=1, nice=0, keep_case=False)
    out = tmp_path / "sq.h5"
    rows = generate_family(cfg, out, tmp_path / "work", progress=False)
    assert rows[0]["shape"] == "rsquare" and rows[0]["n_frames"] == 21
    assert 0 < rows[0]["solve_cpu_s"] <= rows[0]["solve_s"] * 1.05 + 1  # the solver's own CPU, at most its wall
    coeffs = read_force_coeffs(tmp_path / "work/case_000")
    late = coeffs["Time"] >= 0.75
    assert 0.5 * np.ptp(coeffs["Cl"][late]) > 0.3
    assert 0.15 < rows[0]["strouhal"] < 0.35

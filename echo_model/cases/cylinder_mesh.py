"""gmsh mesh of the DFG / Schäfer–Turek 2D channel with an obstacle, one prism layer thick.

The obstacle is the DFG cylinder or another shape of the same area (`Obstacle`: ellipses of a given
aspect ratio, rounded squares, triangles, each turned by an angle), so one family can vary the shape
while the Reynolds number keeps the cylinder's diameter as its length.

Triangles (refined on the cylinder and in the wake) are extruded one layer in z, so OpenFOAM
sees a 3D slab whose front and back are an `empty` patch: a 2D computation on an unstructured
mesh. Written as MSH 2.2 ASCII, the format `gmshToFoam` (v1912) reads.

gmsh keeps global state and is not thread-safe: call `write_mesh` from one thread at a time.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EchoUserError

CHANNEL_LENGTH = 2.2
CHANNEL_HEIGHT = 0.41
RADIUS = 0.05
SLAB_DZ = 0.01  # one-cell thickness in z (irrelevant to the 2D solution)

_GMSH_LOCK = threading.Lock()


@dataclass(frozen=True)
class MeshSizes:
    """Target edge lengths (m): on the cylinder, in the wake box, and far away."""

    cylinder: float
    wake: float
    far: float
    wake_length: float = 1.2  # wake refinement box length downstream of the cylinder


# fine is the level benchmarks/cylinder_mesh_study.py picked (St 0.2956 at Re 100, DFG 0.295-0.305);
# ci is a few thousand cells for a test that must finish in well under a minute. medium and xfine
# fill the ladder (about 2x cells per level) for benchmarks/cylinder_mesh_study.py.
# Cells at centre (0.2, 0.2): ci 1,340, medium 3,989, coarse 8,376, fine 13,847, xfine 24,757.
MESHES: dict[str, MeshSizes] = {
    "xfine": MeshSizes(cylinder=0.003, wake=0.0065, far=0.025),
    "fine": MeshSizes(cylinder=0.004, wake=0.009, far=0.03),
    "coarse": MeshSizes(cylinder=0.005, wake=0.012, far=0.035),
    "medium": MeshSizes(cylinder=0.008, wake=0.018, far=0.045),
    "ci": MeshSizes(cylinder=0.012, wake=0.03, far=0.06, wake_length=0.6),
}

SHAPES = ("circle", "ellipse", "rsquare", "triangle")


@dataclass(frozen=True)
class Obstacle:
    """The body in the channel: a shape of the cylinder's area (pi r^2) turned by `angle` degrees.

    Parameters
    ----------
    shape: "circle" (the DFG cylinder), "ellipse" (semi-axes r sqrt(aspect) and r / sqrt(aspect)),
        "rsquare" (a square with corners rounded at a fifth of its side) or "triangle" (equilateral).
    aspect: the ellipse's axis ratio (>= 1); ignored by the other shapes.
    angle: anticlockwise turn in degrees (the ellipse's long axis from the x axis).

    Example
    -------
    >>> Obstacle("ellipse", aspect=2.0, angle=30.0).extent() > RADIUS
    True
    """

    shape: str = "circle"
    aspect: float = 1.0
    angle: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise EchoUserError(f"unknown obstacle shape {self.shape!r}: choose one of {', '.join(SHAPES)}")
        if not (1.0 <= self.aspect <= 4.0):
            raise EchoUserError(f"obstacle aspect ratio {self.aspect} is outside 1..4: choose a value in that range")

    def extent(self) -> float:
        """Radius of the smallest circle about the centre that holds the shape (for the fit check)."""
        if self.shape == "ellipse":
            return RADIUS * math.sqrt(self.aspect)
        if self.shape == "rsquare":
            return _square_side() / math.sqrt(2.0)
        if self.shape == "triangle":
            return _triangle_side() / math.sqrt(3.0)
        return RADIUS

    def signed_distance(self, xy: np.ndarray, cx: float, cy: float) -> np.ndarray:
        """(N,) distance from each point of `xy` (N, 2) to the body's outline, negative inside (exact for
        the circle, rounded square and triangle; for the ellipse to a 512-gon of its outline)."""
        t = math.radians(self.angle)
        d = np.asarray(xy, np.float64) - [cx, cy]
        x, y = d[:, 0] * math.cos(t) + d[:, 1] * math.sin(t), -d[:, 0] * math.sin(t) + d[:, 1] * math.cos(t)
        if self.shape == "ellipse":
            a, b = RADIUS * math.sqrt(self.aspect), RADIUS / math.sqrt(self.aspect)
            s = np.linspace(0, 2 * math.pi, 512, endpoint=False)
            outline = np.stack([a * np.cos(s), b * np.sin(s)], 1)
            dist = np.full(x.shape, np.inf)
            for ox, oy in outline:
                np.minimum(dist, np.hypot(x - ox, y - oy), out=dist)
            return np.where(np.hypot(x / a, y / b) < 1.0, -dist, dist)
        if self.shape == "rsquare":
            side = _square_side()
            rc, h = side / 5, side / 2
            qx, qy = np.abs(x) - (h - rc), np.abs(y) - (h - rc)
            return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - rc
        if self.shape == "triangle":
            return _triangle_sdf(x, y, self.extent())
        return np.hypot(x, y) - RADIUS

    def add_to(self, occ, cx: float, cy: float) -> int:
        """The shape as an OCC surface at (cx, cy); returns its tag."""
        if self.shape == "ellipse":
            a, b = RADIUS * math.sqrt(self.aspect), RADIUS / math.sqrt(self.aspect)
            tag = occ.addDisk(cx, cy, 0, a, b)
        elif self.shape == "rsquare":
            side = _square_side()
            tag = occ.addRectangle(cx - side / 2, cy - side / 2, 0, side, side, roundedRadius=side / 5)
        elif self.shape == "triangle":
            corners = [(cx + self.extent() * math.cos(math.pi / 2 + k * 2 * math.pi / 3),
                        cy + self.extent() * math.sin(math.pi / 2 + k * 2 * math.pi / 3)) for k in range(3)]
            points = [occ.addPoint(x, y, 0) for x, y in corners]
            lines = [occ.addLine(points[k], points[(k + 1) % 3]) for k in range(3)]
            tag = occ.addPlaneSurface([occ.addCurveLoop(lines)])
        else:
            return occ.addDisk(cx, cy, 0, RADIUS, RADIUS)
        if self.angle:
            occ.rotate([(2, tag)], cx, cy, 0, 0, 0, 1, math.radians(self.angle))
        return tag


def _square_side() -> float:
    """Side of the rounded square with the cylinder's area (corner radius side / 5)."""
    return RADIUS * math.sqrt(math.pi / (1.0 - (4.0 - math.pi) / 25.0))


def _triangle_sdf(x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Signed distance to the equilateral triangle with circumradius r and a corner on +y: the largest
    signed distance to its three edge lines, corrected to the corner distance where two lines are outside."""
    normals = [(math.cos(math.pi / 2 + math.pi / 3 + k * 2 * math.pi / 3),
                math.sin(math.pi / 2 + math.pi / 3 + k * 2 * math.pi / 3)) for k in range(3)]
    edge = np.stack([x * nx + y * ny - r / 2 for nx, ny in normals])  # inradius r / 2
    corners = np.array([(r * math.cos(math.pi / 2 + k * 2 * math.pi / 3), r * math.sin(math.pi / 2 + k * 2 * math.pi / 3))
                        for k in range(3)])
    to_corner = np.min(np.hypot(x[None] - corners[:, :1], y[None] - corners[:, 1:]), axis=0)
    outside_two = (edge > 0).sum(0) >= 2
    return np.where(outside_two, to_corner, edge.max(0))


def _triangle_side() -> float:
    """Side of the equilateral triangle with the cylinder's area."""
    return RADIUS * math.sqrt(4.0 * math.pi / math.sqrt(3.0))


# Patch names as they appear in OpenFOAM after gmshToFoam, with the types set afterwards.
PATCH_TYPES = {
    "inlet": "patch",
    "outlet": "patch",
    "walls": "wall",
    "cylinder": "wall",
    "frontAndBack": "empty",
}


def _gmsh():
    try:
        import gmsh
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EchoUserError(
            "meshing the cylinder case needs the gmsh Python API: `pip install gmsh` "
            "(or `pip install echo-paraview[tools]`)"
        ) from exc
    return gmsh


def write_mesh(path: str | Path, cx: float, cy: float, sizes: MeshSizes, obstacle: Obstacle = Obstacle()) -> int:
    """Mesh the channel with `obstacle` at (cx, cy) into `path` (MSH 2.2); returns the prism count."""
    r = obstacle.extent()
    if not (r < cx < CHANNEL_LENGTH - r and r + 0.01 < cy < CHANNEL_HEIGHT - r - 0.01):
        raise EchoUserError(
            f"obstacle centre ({cx}, {cy}) does not fit in the {CHANNEL_LENGTH} x {CHANNEL_HEIGHT} "
            f"channel with a {obstacle.shape} reaching {r:.3f} from it: keep it {r + 0.01:.3f} from the walls"
        )
    gmsh = _gmsh()
    with _GMSH_LOCK:
        # interruptible=False: gmsh would install a SIGINT handler, which fails off the main thread
        gmsh.initialize(interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.model.add("cylinder")
            occ = gmsh.model.occ
            box = occ.addRectangle(0, 0, 0, CHANNEL_LENGTH, CHANNEL_HEIGHT)
            body = obstacle.add_to(occ, cx, cy)
            cut, _ = occ.cut([(2, box)], [(2, body)])
            surface = cut[0][1]
            occ.synchronize()
            outline = [
                c for _, c in gmsh.model.getBoundary([(2, surface)], oriented=False)
                if not _on_channel_edge(gmsh, c)
            ]
            _size_fields(gmsh, outline, cx, cy, sizes)
            ext = occ.extrude([(2, surface)], 0, 0, SLAB_DZ, numElements=[1], recombine=True)
            occ.synchronize()
            _physical_groups(gmsh, [t for d, t in ext if d == 3])
            gmsh.model.mesh.generate(3)
            gmsh.option.setNumber("Mesh.MshFileVersion", 2.2)
            gmsh.option.setNumber("Mesh.Binary", 0)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            gmsh.write(str(path))
            n_prisms = 0
            for etype, tags, _ in zip(*gmsh.model.mesh.getElements(3)):
                n_prisms += len(tags)
            return n_prisms
        finally:
            gmsh.finalize()


def _size_fields(gmsh, circle: list[int], cx: float, cy: float, sizes: MeshSizes) -> None:
    """Background size: fine near the cylinder (distance threshold) and in the wake box, far elsewhere."""
    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    field.setNumbers(dist, "CurvesList", circle)
    field.setNumber(dist, "Sampling", 200)
    near = field.add("Threshold")
    field.setNumber(near, "InField", dist)
    field.setNumber(near, "SizeMin", sizes.cylinder)
    field.setNumber(near, "SizeMax", sizes.far)
    field.setNumber(near, "DistMin", 0.0)
    field.setNumber(near, "DistMax", 0.25)
    wake = field.add("Box")
    field.setNumber(wake, "VIn", sizes.wake)
    field.setNumber(wake, "VOut", sizes.far)
    field.setNumber(wake, "XMin", cx - 2 * RADIUS)
    field.setNumber(wake, "XMax", min(cx + sizes.wake_length, CHANNEL_LENGTH))
    field.setNumber(wake, "YMin", max(cy - 2.5 * RADIUS, 0.0))
    field.setNumber(wake, "YMax", min(cy + 2.5 * RADIUS, CHANNEL_HEIGHT))
    field.setNumber(wake, "Thickness", 0.1)
    both = field.add("Min")
    field.setNumbers(both, "FieldsList", [near, wake])
    field.setAsBackgroundMesh(both)
    for opt in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{opt}", 0)
    gmsh.option.setNumber("Mesh.Algorithm", 6)  # Frontal-Delaunay: well-shaped triangles


def _physical_groups(gmsh, volume: list[int]) -> None:
    """Name the slab's surfaces by where they lie (the OpenFOAM patches) and its volume "fluid"."""
    groups: dict[str, list[int]] = {k: [] for k in PATCH_TYPES}
    for dim, tag in gmsh.model.getEntities(2):
        x0, y0, z0, x1, y1, z1 = gmsh.model.getBoundingBox(dim, tag)
        tol = 1e-6
        if abs(z1 - z0) < tol:
            groups["frontAndBack"].append(tag)
        elif abs(x1 - x0) < tol and abs(x0) < tol:
            groups["inlet"].append(tag)
        elif abs(x1 - x0) < tol and abs(x0 - CHANNEL_LENGTH) < tol:
            groups["outlet"].append(tag)
        elif abs(y1 - y0) < tol and (abs(y0) < tol or abs(y0 - CHANNEL_HEIGHT) < tol):
            groups["walls"].append(tag)  # a flat side of the obstacle is not a wall
        else:
            groups["cylinder"].append(tag)
    for name, tags in groups.items():
        if not tags:
            raise RuntimeError(f"gmsh: no surface classified as {name}")
        gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, tags), name)
    gmsh.model.setPhysicalName(3, gmsh.model.addPhysicalGroup(3, volume), "fluid")


def _on_channel_edge(gmsh, curve: int) -> bool:
    """The curve is part of the channel's outline (inlet, outlet or a wall), not of the obstacle."""
    x0, y0, _, x1, y1, _ = gmsh.model.getBoundingBox(1, curve)
    tol = 1e-6
    return ((abs(x1 - x0) < tol and (abs(x0) < tol or abs(x0 - CHANNEL_LENGTH) < tol))
            or (abs(y1 - y0) < tol and (abs(y0) < tol or abs(y0 - CHANNEL_HEIGHT) < tol)))

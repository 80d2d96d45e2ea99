"""gmsh mesh of the DFG / Schäfer–Turek 2D channel with a cylinder, one prism layer thick.

Triangles (refined on the cylinder and in the wake) are extruded one layer in z, so OpenFOAM
sees a 3D slab whose front and back are an `empty` patch: a 2D computation on an unstructured
mesh. Written as MSH 2.2 ASCII, the format `gmshToFoam` (v1912) reads.

gmsh keeps global state and is not thread-safe: call `write_mesh` from one thread at a time.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

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


# fine reproduces the 13.4k-cell mesh measured in the reference notes (St 0.298 at Re 100);
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
        raise ImportError(
            "meshing the cylinder case needs the gmsh Python API: `pip install gmsh` "
            "(or `pip install echo-paraview[tools]`)"
        ) from exc
    return gmsh


def write_mesh(path: str | Path, cx: float, cy: float, sizes: MeshSizes) -> int:
    """Mesh the channel with a cylinder at (cx, cy) into `path` (MSH 2.2); returns the prism count."""
    if not (RADIUS < cx < CHANNEL_LENGTH - RADIUS and RADIUS < cy < CHANNEL_HEIGHT - RADIUS):
        raise EchoUserError(
            f"cylinder centre ({cx}, {cy}) does not fit in the {CHANNEL_LENGTH} x {CHANNEL_HEIGHT} "
            f"channel with radius {RADIUS}: choose 0.1 <= x <= 2.1 and 0.06 <= y <= 0.35"
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
            disk = occ.addDisk(cx, cy, 0, RADIUS, RADIUS)
            cut, _ = occ.cut([(2, box)], [(2, disk)])
            surface = cut[0][1]
            occ.synchronize()
            circle = [
                c for _, c in gmsh.model.getBoundary([(2, surface)], oriented=False)
                if _is_circle(gmsh, c, cx, cy)
            ]
            _size_fields(gmsh, circle, cx, cy, sizes)
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
        elif abs(y1 - y0) < tol:
            groups["walls"].append(tag)
        else:
            groups["cylinder"].append(tag)
    for name, tags in groups.items():
        if not tags:
            raise RuntimeError(f"gmsh: no surface classified as {name}")
        gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, tags), name)
    gmsh.model.setPhysicalName(3, gmsh.model.addPhysicalGroup(3, volume), "fluid")


def _is_circle(gmsh, curve: int, cx: float, cy: float) -> bool:
    x0, y0, _, x1, y1, _ = gmsh.model.getBoundingBox(1, curve)
    return abs(x0 - (cx - RADIUS)) < 1e-3 and abs(y1 - (cy + RADIUS)) < 1e-3

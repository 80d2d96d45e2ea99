"""OpenFOAM case reader (hand-written files, no solver) and the cylinder generator (needs OpenFOAM)."""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from echo_model.cases import openfoam as of
from echo_model.cases.cylinder import FamilyConfig, generate_family, strouhal

HEADER = """FoamFile
{{
    version     2.0;
    format      {fmt};
    arch        "LSB;label=32;scalar=64";
    class       {cls};
    location    "{loc}";
    object      {obj};
}}
// comment line
"""


def _write(path: Path, cls: str, obj: str, body: str | bytes, fmt: str = "ascii", loc: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = HEADER.format(fmt=fmt, cls=cls, obj=obj, loc=loc).encode()
    path.write_bytes(head + (body.encode() if isinstance(body, str) else body))


def _ascii_list(values: np.ndarray) -> str:
    if values.ndim == 1:
        return f"{len(values)}\n(\n" + "\n".join(f"{v:.10g}" for v in values) + "\n)\n"
    rows = "\n".join("(" + " ".join(f"{v:.10g}" for v in row) + ")" for row in values)
    return f"{len(values)}\n(\n{rows}\n)\n"


def write_box_mesh(case: Path, nx: int, ny: int, dx: float, dy: float, dz: float, skew: float = 0.0) -> np.ndarray:
    """A one-cell-thick nx x ny hexahedral slab in OpenFOAM polyMesh format; returns the exact centres.

    `skew` shears x by skew*y, so cells are parallelograms (centres are still the vertex means).
    """
    ij = [(i, j) for j in range(ny + 1) for i in range(nx + 1)]
    pid = {(i, j, k): k * len(ij) + n for k in range(2) for n, (i, j) in enumerate(ij)}
    pts = np.array([[i * dx + skew * j * dy, j * dy, k * dz] for k in range(2) for (i, j) in ij])

    def cell(i, j):
        return j * nx + i

    internal, boundary = [], {"walls": [], "frontAndBack": []}
    # x-faces (normal +x), owner left
    for j in range(ny):
        for i in range(nx + 1):
            f = [pid[i, j, 0], pid[i, j + 1, 0], pid[i, j + 1, 1], pid[i, j, 1]]
            if 0 < i < nx:
                internal.append((f, cell(i - 1, j), cell(i, j)))
            elif i == nx:
                boundary["walls"].append((f, cell(i - 1, j)))
            else:
                boundary["walls"].append((f[::-1], cell(0, j)))
    for i in range(nx):
        for j in range(ny + 1):
            f = [pid[i, j, 0], pid[i, j, 1], pid[i + 1, j, 1], pid[i + 1, j, 0]]
            if 0 < j < ny:
                internal.append((f, cell(i, j - 1), cell(i, j)))
            elif j == ny:
                boundary["walls"].append((f, cell(i, j - 1)))
            else:
                boundary["walls"].append((f[::-1], cell(i, 0)))
    for j in range(ny):
        for i in range(nx):
            bottom = [pid[i, j, 0], pid[i, j + 1, 0], pid[i + 1, j + 1, 0], pid[i + 1, j, 0]]
            top = [pid[i, j, 1], pid[i + 1, j, 1], pid[i + 1, j + 1, 1], pid[i, j + 1, 1]]
            boundary["frontAndBack"] += [(bottom, cell(i, j)), (top, cell(i, j))]
    faces = [f for f, _, _ in internal] + [f for p in boundary.values() for f, _ in p]
    owner = [o for _, o, _ in internal] + [o for p in boundary.values() for _, o in p]
    neighbour = [n for _, _, n in internal]
    mesh = case / "constant" / "polyMesh"
    _write(mesh / "points", "vectorField", "points", _ascii_list(pts))
    _write(mesh / "faces", "faceList", "faces",
           f"{len(faces)}\n(\n" + "\n".join(f"4({' '.join(map(str, f))})" for f in faces) + "\n)\n")
    _write(mesh / "owner", "labelList", "owner", _ascii_list(np.array(owner)))
    _write(mesh / "neighbour", "labelList", "neighbour", _ascii_list(np.array(neighbour)))
    start = len(internal)
    entries = []
    for name, ptype in (("walls", "wall"), ("frontAndBack", "empty")):
        n = len(boundary[name])
        entries.append(f"{name}\n{{\n type {ptype};\n nFaces {n};\n startFace {start};\n}}")
        start += n
    _write(mesh / "boundary", "polyBoundaryMesh", "boundary", f"2\n(\n" + "\n".join(entries) + "\n)\n")
    (case / "system").mkdir(exist_ok=True)
    centres = np.array([[(i + 0.5) * dx + skew * (j + 0.5) * dy, (j + 0.5) * dy, 0.5 * dz]
                        for j in range(ny) for i in range(nx)])
    return centres


BOUNDARY = """
boundaryField
{
    walls { type zeroGradient; }
    frontAndBack { type empty; }
}
"""


def test_hand_written_case_is_read_exactly(tmp_path: Path) -> None:
    nx, ny = 4, 3
    exact = write_box_mesh(tmp_path, nx, ny, dx=0.5, dy=0.25, dz=0.1, skew=0.3)
    n = nx * ny
    centres = of.cell_centres(tmp_path)
    np.testing.assert_allclose(centres, exact, atol=1e-12)

    rng = np.random.default_rng(0)
    u1 = rng.normal(size=(n, 3))
    p1 = rng.normal(size=n)
    # t = 0.5: ASCII nonuniform lists (with a block comment in between)
    _write(tmp_path / "0.5" / "U", "volVectorField", "U",
           "dimensions [0 1 -1 0 0 0 0];\n/* a comment ( ) ; */\ninternalField   nonuniform List<vector> "
           + _ascii_list(u1) + ";\n" + BOUNDARY)
    _write(tmp_path / "0.5" / "p", "volScalarField", "p",
           "dimensions [0 2 -2 0 0 0 0];\ninternalField nonuniform List<scalar> " + _ascii_list(p1) + ";\n" + BOUNDARY)
    # t = 1: uniform values, p gzip-compressed
    _write(tmp_path / "1" / "U", "volVectorField", "U", "internalField uniform (1.5 -2 0);\n" + BOUNDARY)
    _write(tmp_path / "1" / "p.tmp", "volScalarField", "p", "internalField   uniform 3.25;\n" + BOUNDARY)
    raw = (tmp_path / "1" / "p.tmp").read_bytes()
    (tmp_path / "1" / "p.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "1" / "p.tmp").unlink()
    # t = 2: binary U, the N{value} short form for p
    u2 = rng.normal(size=(n, 3))
    _write(tmp_path / "2" / "U", "volVectorField", "U",
           b"internalField   nonuniform List<vector> " + f"{n}\n(".encode()
           + u2.astype("<f8").tobytes() + b")\n;\n" + BOUNDARY.encode(), fmt="binary")
    _write(tmp_path / "2" / "p", "volScalarField", "p", f"internalField nonuniform List<scalar> {n}{{-0.5}};\n" + BOUNDARY)
    # noise that must be ignored: a non-numeric folder and the initial time
    (tmp_path / "postProcessing").mkdir()
    _write(tmp_path / "0" / "p", "volScalarField", "p", "internalField uniform 99;\n" + BOUNDARY)

    traj = of.read_case(tmp_path, ("U", "p"), params={"Re": 100})
    assert traj.points.shape == (n, 2)  # the empty z direction is dropped
    np.testing.assert_allclose(traj.points, exact[:, :2], atol=1e-12)
    np.testing.assert_array_equal(traj.times, [0.5, 1.0, 2.0])
    assert traj.field_layout == [("U", 2), ("p", 1)]
    assert traj.fields.shape == (3, n, 3)
    np.testing.assert_allclose(traj.fields[0, :, :2], u1[:, :2], rtol=1e-6)
    np.testing.assert_allclose(traj.fields[0, :, 2], p1, rtol=1e-6)
    np.testing.assert_allclose(traj.fields[1], np.tile([1.5, -2.0, 3.25], (n, 1)))
    np.testing.assert_allclose(traj.fields[2, :, :2], u2[:, :2], rtol=1e-6)
    np.testing.assert_allclose(traj.fields[2, :, 2], -0.5)
    assert traj.params == {"Re": 100.0}
    assert traj.metadata["dropped_axis"] == "z"

    window = of.read_case(tmp_path, ("p",), t_min=0.9, t_max=1.5, include_zero=True)
    np.testing.assert_array_equal(window.times, [1.0])
    with_zero = of.read_case(tmp_path, ("p",), include_zero=True, t_max=0.1)
    np.testing.assert_allclose(with_zero.fields, 99.0)

    with pytest.raises(FileNotFoundError, match="'T' is not in"):
        of.read_case(tmp_path, ("T",))
    with pytest.raises(FileNotFoundError, match="no time directories"):
        of.read_case(tmp_path, t_min=5.0)


def test_strouhal_of_a_synthetic_lift_signal() -> None:
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 6, 4000))  # uneven steps, as with an adjustable time step
    f, D, U = 3.0, 0.1, 1.0
    cl = 0.2 + 1.0 * np.sin(2 * np.pi * f * t + 0.3) * np.minimum(1.0, t / 2)
    assert strouhal(t, cl, D, U) == pytest.approx(f * D / U, rel=2e-3)
    # a few periods only: FFT fallback, coarser but close
    assert strouhal(t, cl, D, U, t_start=5.5) == pytest.approx(0.3, rel=0.1)
    assert np.isnan(strouhal(t, np.full_like(t, 0.7), D, U))


needs_openfoam = pytest.mark.skipif(
    shutil.which("pimpleFoam") is None,
    reason="pimpleFoam not found: install Debian's OpenFOAM (`apt-get install -y openfoam`)",
)


@pytest.mark.openfoam
@needs_openfoam
def test_generate_import_ci_cylinder_case(tmp_path: Path) -> None:
    """A 1 s case on the ~1.3k-cell CI mesh (a few seconds of solver time)."""
    from echo_model.data.store import TrajectoryStore

    cfg = FamilyConfig(n=1, seed=3, mesh="ci", end_time=1.0, write_interval=0.05, skip_time=0.2,
                       jobs=1, nice=0, keep_case=True)
    out = tmp_path / "cyl.h5"
    rows = generate_family(cfg, out, tmp_path / "work", progress=False)
    assert len(rows) == 1
    with TrajectoryStore(out) as store:
        assert len(store) == 1
        traj = store[0]
    assert traj.points.shape[1] == 2
    n = traj.n_points
    assert 1000 < n < 2000
    assert traj.fields.shape == (17, n, 3)  # t = 0.2 .. 1.0 every 0.05
    assert traj.field_layout == [("U", 2), ("p", 1)]
    np.testing.assert_allclose(traj.times, np.arange(4, 21) * 0.05, atol=1e-9)
    assert np.all(np.diff(traj.times) > 0)
    assert not traj.has_nan()
    # geometry: inside the channel, nothing inside the cylinder
    x, y = traj.points.T
    assert x.min() > 0 and x.max() < 2.2 and y.min() > 0 and y.max() < 0.41
    cx, cy = traj.params["cx"], traj.params["cy"]
    assert np.hypot(x - cx, y - cy).min() > 0.05
    # velocities plausible: bounded by a few times the peak inflow, mean flow downstream
    um = traj.params["Um"]
    speed = np.linalg.norm(traj.field("U"), axis=-1)
    assert speed.max() < 3.0 * um
    ux_mean = traj.field("U")[..., 0].mean()
    assert 0.3 * um < ux_mean < 1.2 * um
    assert traj.params["Re"] == pytest.approx(2 / 3 * um * 0.1 / 1e-3)
    assert "strouhal" in traj.metadata and traj.metadata["n_cells"] == n

    # the numpy cell centres agree with OpenFOAM's own writeCellCentres
    case = tmp_path / "work" / "case_000"
    env = {**os.environ, "WM_PROJECT_DIR": "/usr/share/openfoam"}
    subprocess.run(["postProcess", "-func", "writeCellCentres", "-time", "0"], cwd=case, env=env,
                   check=True, capture_output=True)
    foam_c, _ = of.read_internal_field(case / "0" / "C")
    np.testing.assert_allclose(of.cell_centres(case), foam_c, atol=1e-5)
    assert traj.points == pytest.approx(foam_c[:, :2], abs=1e-5)


@pytest.mark.openfoam
@pytest.mark.slow
@needs_openfoam
def test_dfg_reference_strouhal(tmp_path: Path) -> None:
    """Physics check: the DFG 2D-2 case (Re 100) on the coarse mesh sheds at St within 5 % of 0.30.

    6 s of flow on ~8.4k cells: ~70 s on an idle core, minutes on a busy one.
    """
    cfg = FamilyConfig(n=0, include_reference=True, mesh="coarse", end_time=6.0, write_interval=0.5,
                       skip_time=5.0, jobs=1, nice=0)
    rows = generate_family(cfg, tmp_path / "ref.h5", tmp_path / "work", progress=False)
    assert rows[0]["Re"] == pytest.approx(100.0)
    assert rows[0]["strouhal"] == pytest.approx(0.30, rel=0.05)
    assert 0.8 < rows[0]["cl_amp"] < 1.4  # DFG: Cl max ~1.0

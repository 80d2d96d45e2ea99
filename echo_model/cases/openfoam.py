"""Pure-numpy reader of an OpenFOAM case directory into a Trajectory (no VTK, no OpenFOAM needed).

What it reads: the numeric time directories, the `internalField` of volScalarField and
volVectorField files (ASCII `uniform` / `nonuniform List<...>`, the `N{value}` short form, binary
lists, and `.gz` compressed files), and the polyMesh (points, faces, owner, neighbour) to compute
cell centres exactly as OpenFOAM does (pyramid decomposition about the face-centre average). A `C`
field written by `postProcess -func writeCellCentres` is used instead when present.

Points are the cell centres, because cell values are the solver's unknowns. A 2D case is a slab
one cell thick between the two halves of an `empty` patch: then z is dropped (points (N, 2)) and so
is the z component of every vector field.

Cells for display are left as None on purpose: the 2D cells (the triangles of the empty patch)
live on the mesh points, not on the cell centres where the data is, and a Delaunay triangulation
of the centres would fill the cylinder hole. Display the original case (ParaView's OpenFOAM
reader) or the points as a point cloud instead.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError

_NCOMP = {"scalar": 1, "vector": 3, "symmTensor": 6, "tensor": 9, "sphericalTensor": 1, "label": 1}
_CLASS_TYPE = {
    "volScalarField": "scalar",
    "volVectorField": "vector",
    "volSymmTensorField": "symmTensor",
    "volTensorField": "tensor",
}


# --------------------------------------------------------------------------------------------
# low-level file parsing
# --------------------------------------------------------------------------------------------
def _open_bytes(path: Path) -> bytes:
    """Contents of `path`, or of `path.gz` when only the compressed file exists."""
    if path.exists():
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gzip.decompress(gz.read_bytes())
    raise FileNotFoundError(f"no OpenFOAM file {path} (nor {gz.name})")


def _exists(path: Path) -> bool:
    return path.exists() or path.with_name(path.name + ".gz").exists()


_COMMENT_RE = re.compile(rb"/\*.*?\*/", re.S)


def _header(data: bytes) -> dict[str, str]:
    """Entries of the FoamFile { ... } header (format, class, object, arch)."""
    start = data.find(b"FoamFile")
    if start < 0:
        return {}
    open_ = data.find(b"{", start)
    close = data.find(b"}", open_)
    out: dict[str, str] = {}
    for line in data[open_ + 1 : close].decode(errors="replace").split(";"):
        words = line.split(None, 1)
        if len(words) == 2:
            out[words[0]] = words[1].strip().strip('"')
    return out


def _label_bytes(header: dict[str, str]) -> tuple[np.dtype, np.dtype]:
    arch = header.get("arch", "")
    label = np.dtype("<i8") if "label=64" in arch else np.dtype("<i4")
    scalar = np.dtype("<f4") if "scalar=32" in arch else np.dtype("<f8")
    return label, scalar


def _skip_ws(data: bytes, pos: int) -> int:
    n = len(data)
    while pos < n:
        if data[pos : pos + 1].isspace():
            pos += 1
        elif data.startswith(b"//", pos):
            nl = data.find(b"\n", pos)
            pos = n if nl < 0 else nl + 1
        elif data.startswith(b"/*", pos):
            end = data.find(b"*/", pos)
            pos = n if end < 0 else end + 2
        else:
            break
    return pos


_FIX = ("the file is truncated or damaged: write it again from OpenFOAM (re-run the solver for that time, or "
        "foamFormatConvert), or copy the case again")


def _at(path: Path, data: bytes, pos: int, binary: bool = False) -> str:
    """`path, line L` (ASCII) or `path, byte B` (binary): where a parse error is, for the message."""
    if binary:
        return f"{path}, byte {pos}"
    line = data.count(b"\n", 0, max(0, min(pos, len(data)))) + 1
    return f"{path}, line {line}"


def _floats(text: bytes, path: Path, data: bytes, pos: int, what: str) -> np.ndarray:
    """Whitespace-separated numbers; a token that is not one is named with its line."""
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError:
        bad = next(t for t in text.split() if not _is_number(t))
        line = _at(path, data, pos + max(0, text.find(bad)))
        raise EchoUserError(f"{line}: {what} holds {bad[:40].decode(errors='replace')!r}, which is not a number; "
                            f"{_FIX}") from None


def _is_number(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _parse_list(data: bytes, pos: int, ncomp: int, binary: bool, dtype: np.dtype,
                path: Path = Path("<OpenFOAM file>")) -> tuple[np.ndarray, int]:
    """Parse `N ( ... )` or `N{v}` at pos. Returns (values (N, ncomp) or (N,), position after).

    Errors name `path` and the line (byte, in a binary file) and say how to restore the file."""
    pos = _skip_ws(data, pos)
    m = re.compile(rb"(\d+)").match(data, pos)
    if not m:
        raise EchoUserError(f"{_at(path, data, pos)}: expected a list size, found {data[pos:pos + 40]!r}; {_FIX}")
    n = int(m.group(1))
    pos = _skip_ws(data, m.end())
    shape = (n, ncomp) if ncomp > 1 else (n,)
    if data[pos : pos + 1] == b"{":  # uniform short form N{value}
        end = data.find(b"}", pos)
        if end < 0:
            raise EchoUserError(f"{_at(path, data, pos)}: the uniform list {n}{{...}} has no closing '}}'; {_FIX}")
        value = _floats(data[pos + 1 : end].replace(b"(", b" ").replace(b")", b" "), path, data, pos + 1,
                        f"the uniform list {n}{{...}}")
        if value.size != ncomp:
            raise EchoUserError(f"{_at(path, data, pos)}: the uniform list {n}{{...}} has {value.size} components, "
                                f"expected {ncomp}; {_FIX}")
        return np.broadcast_to(value if ncomp > 1 else value[0], shape).copy(), end + 1
    if data[pos : pos + 1] != b"(":
        raise EchoUserError(f"{_at(path, data, pos)}: expected '(' after the list size {n}, found "
                            f"{data[pos:pos + 40]!r}; {_FIX}")
    start = pos
    pos += 1
    if binary:
        nbytes = n * ncomp * dtype.itemsize
        end = data.find(b")", pos + nbytes)
        if pos + nbytes > len(data) or end < 0:
            raise EchoUserError(f"{_at(path, data, start, True)}: the binary list announces {n} x {ncomp} values "
                                f"({nbytes} bytes) but the file ends {len(data) - pos} bytes later; {_FIX}")
        values = np.frombuffer(data, dtype=dtype, count=n * ncomp, offset=pos).reshape(shape)
        return values.astype(np.float64 if dtype.kind == "f" else np.int64), end + 1
    if n == 0:
        end = data.find(b")", pos)
        return np.zeros(shape), end + 1
    if ncomp == 1:
        end = data.find(b")", pos)
        if end < 0:
            raise EchoUserError(f"{_at(path, data, start)}: unterminated list: the list of {n} values opened here "
                                f"has no closing ')'; {_FIX}")
        body = data[pos:end]
    else:
        # the list closes at the first ')' followed (after whitespace) by ')' or ';' or end
        m_end = re.compile(rb"\)\s*\)").search(data, pos)
        if not m_end:
            raise EchoUserError(f"{_at(path, data, start)}: unterminated vector list: the list of {n} vectors opened "
                                f"here has no closing '))'; {_FIX}")
        end = m_end.end() - 1
        body = data[pos:end].replace(b"(", b" ").replace(b")", b" ")
    values = _floats(body, path, data, pos, f"the list of {n} {'vectors' if ncomp > 1 else 'values'}")
    if values.size != n * ncomp:
        raise EchoUserError(f"{_at(path, data, start)}: the list announces {n} x {ncomp} values but holds "
                            f"{values.size}; {_FIX}")
    return values.reshape(shape), end + 1


def read_internal_field(path: str | Path, n_cells: int | None = None) -> tuple[np.ndarray, str]:
    """(values (N,) or (N, k), field class) of a vol*Field file's internalField.

    A `uniform` internalField needs n_cells to be expanded to one value per cell.
    """
    path = Path(path)
    data = _open_bytes(path)
    header = _header(data)
    cls = header.get("class", "")
    if cls not in _CLASS_TYPE:
        raise EchoUserError(f"{path} is a {cls or 'file without FoamFile header'}, not a volScalarField/volVectorField: "
                            "pick cell fields with --fields (e.g. --fields U,p), or restore the file's FoamFile header")
    ncomp = _NCOMP[_CLASS_TYPE[cls]]
    binary = header.get("format", "ascii") == "binary"
    _, scalar_t = _label_bytes(header)
    body = _COMMENT_RE.sub(lambda m: b" " * len(m.group(0)), data) if not binary else data
    m = re.compile(rb"(?m)^\s*internalField\s+").search(body)
    if not m:
        raise EchoUserError(f"{path} has no internalField entry; {_FIX}")
    pos = m.end()
    if body.startswith(b"uniform", pos):
        end = body.find(b";", pos)
        if end < 0:
            raise EchoUserError(f"{_at(path, body, pos)}: the uniform internalField has no closing ';'; {_FIX}")
        value = _floats(body[pos + 7 : end].replace(b"(", b" ").replace(b")", b" "), path, body, pos + 7,
                        "the uniform internalField")
        if value.size != ncomp:
            raise EchoUserError(f"{_at(path, body, pos)}: the uniform internalField has {value.size} components, "
                                f"expected {ncomp} for a {cls}; {_FIX}")
        if n_cells is None:
            raise EchoUserError(f"{path} has a uniform internalField: pass n_cells to expand it")
        shape = (n_cells, ncomp) if ncomp > 1 else (n_cells,)
        return np.broadcast_to(value if ncomp > 1 else value[0], shape).copy(), cls
    if not body.startswith(b"nonuniform", pos):
        raise EchoUserError(f"{_at(path, body, pos)}: internalField is neither 'uniform' nor 'nonuniform' (found "
                            f"{body[pos:pos + 30]!r}); {_FIX}")
    m = re.compile(rb"nonuniform\s+List<\s*(\w+)\s*>").match(body, pos)
    if not m:
        raise EchoUserError(f"{_at(path, body, pos)}: cannot read the nonuniform List<type> (found "
                            f"{body[pos:pos + 40]!r}); {_FIX}")
    values, _ = _parse_list(body, m.end(), ncomp, binary, scalar_t, path)
    if n_cells is not None and values.shape[0] != n_cells:
        raise EchoUserError(f"{path} has {values.shape[0]} values but the mesh has {n_cells} cells: the field was "
                            "written for another mesh (a remeshed or decomposed case?); reconstruct the case "
                            "(reconstructPar) or import the times written on this mesh")
    return values, cls


def _read_mesh_list(path: Path, ncomp: int, integer: bool) -> np.ndarray:
    data = _open_bytes(path)
    header = _header(data)
    binary = header.get("format", "ascii") == "binary"
    label_t, scalar_t = _label_bytes(header)
    start = data.find(b"}", data.find(b"FoamFile")) + 1 if b"FoamFile" in data else 0
    body = data if binary else _COMMENT_RE.sub(lambda m: b" " * len(m.group(0)), data)
    values, _ = _parse_list(body, start, ncomp, binary, label_t if integer else scalar_t, path)
    return values.astype(np.int64) if integer else values


def _read_faces(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Faces as (offsets (F+1,), flat point ids): faceList (ASCII) or faceCompactList (binary)."""
    data = _open_bytes(path)
    header = _header(data)
    start = data.find(b"}", data.find(b"FoamFile")) + 1
    label_t, _ = _label_bytes(header)
    if header.get("class") == "faceCompactList":
        binary = header.get("format", "ascii") == "binary"
        body = data if binary else _COMMENT_RE.sub(lambda m: b" " * len(m.group(0)), data)
        offsets, pos = _parse_list(body, start, 1, binary, label_t, path)
        flat, _ = _parse_list(body, pos, 1, binary, label_t, path)
        return offsets.astype(np.int64), flat.astype(np.int64)
    body = _COMMENT_RE.sub(lambda m: b" " * len(m.group(0)), data)
    pos = _skip_ws(body, start)
    m = re.compile(rb"(\d+)\s*\(").match(body, pos)
    if not m:
        raise EchoUserError(f"{_at(path, body, pos)}: expected the face count and '(', found "
                            f"{body[pos:pos + 40]!r}; {_FIX}")
    n = int(m.group(1))
    end = body.rfind(b")")
    # each face is "k(i j l ...)": tokens are k then k ids
    try:
        tokens = np.array(body[m.end() : end].replace(b"(", b" ").replace(b")", b" ").split(), dtype=np.int64)
    except ValueError:
        raise EchoUserError(f"{path}: the face list holds an entry that is not a point index; {_FIX}") from None
    size_at = np.empty(n, dtype=np.int64)  # token index of each face's size
    tok = tokens.tolist()
    p = 0
    for i in range(n):  # O(F) walk over plain ints; cheap next to reading the fields
        if p >= len(tok) or tok[p] < 0:
            raise EchoUserError(f"{path}: the face list announces {n} faces but ends after {i}; {_FIX}")
        size_at[i] = p
        p += tok[p] + 1
    if p != tokens.size:
        raise EchoUserError(f"{path}: the face list of {n} faces has {tokens.size - p:+d} tokens more or less than "
                            f"its faces' sizes announce; {_FIX}")
    sizes = tokens[size_at]
    mask = np.ones(tokens.size, dtype=bool)
    mask[size_at] = False
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return offsets, tokens[mask]


# --------------------------------------------------------------------------------------------
# mesh geometry
# --------------------------------------------------------------------------------------------
def _face_geometry(points: np.ndarray, offsets: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face centres and area vectors as in OpenFOAM's primitiveMesh (triangle fan about the average)."""
    n_faces = offsets.shape[0] - 1
    sizes = np.diff(offsets)
    face_of = np.repeat(np.arange(n_faces), sizes)
    avg = np.zeros((n_faces, 3))
    np.add.at(avg, face_of, points[flat])
    avg /= sizes[:, None]
    # fan triangle j of face f: (p_j, p_{j+1}, avg)
    nxt = np.arange(flat.shape[0]) + 1
    last = offsets[1:] - 1
    nxt[last] = offsets[:-1]
    a = points[flat]
    b = points[flat[nxt]]
    c = avg[face_of]
    tri_c = a + b + c
    tri_n = np.cross(b - a, c - a)
    tri_a = np.linalg.norm(tri_n, axis=1)
    sum_n = np.zeros((n_faces, 3))
    np.add.at(sum_n, face_of, tri_n)
    sum_a = np.zeros(n_faces)
    np.add.at(sum_a, face_of, tri_a)
    sum_ac = np.zeros((n_faces, 3))
    np.add.at(sum_ac, face_of, tri_a[:, None] * tri_c)
    centres = np.where(sum_a[:, None] > 1e-300, sum_ac / (3.0 * np.maximum(sum_a, 1e-300))[:, None], avg)
    return centres, 0.5 * sum_n


def cell_centres(case_dir: str | Path) -> np.ndarray:
    """Cell centres (n_cells, 3) from constant/polyMesh, computed as OpenFOAM does."""
    mesh = Path(case_dir) / "constant" / "polyMesh"
    if not _exists(mesh / "points"):
        raise FileNotFoundError(
            f"no mesh in {mesh}: is {case_dir} an OpenFOAM case? (decomposed cases need reconstructPar first)"
        )
    points = _read_mesh_list(mesh / "points", 3, integer=False)
    offsets, flat = _read_faces(mesh / "faces")
    owner = _read_mesh_list(mesh / "owner", 1, integer=True)
    neighbour = _read_mesh_list(mesh / "neighbour", 1, integer=True)
    n_cells = int(owner.max()) + 1
    fc, fa = _face_geometry(points, offsets, flat)
    # estimated centre: average of face centres
    count = np.bincount(owner, minlength=n_cells) + np.bincount(neighbour, minlength=n_cells)
    est = np.zeros((n_cells, 3))
    np.add.at(est, owner, fc[: owner.shape[0]])
    np.add.at(est, neighbour, fc[: neighbour.shape[0]])
    est /= count[:, None]
    # pyramid volumes and centroids
    vol = np.zeros(n_cells)
    ctr = np.zeros((n_cells, 3))
    n_int = neighbour.shape[0]
    for cells, faces, sign in ((owner, np.arange(owner.shape[0]), 1.0), (neighbour, np.arange(n_int), -1.0)):
        pyr_vol = sign * np.einsum("ij,ij->i", fa[faces], fc[faces] - est[cells])
        pyr_vol = np.maximum(pyr_vol, 1e-300)
        pyr_ctr = 0.75 * fc[faces] + 0.25 * est[cells]
        np.add.at(vol, cells, pyr_vol)
        np.add.at(ctr, cells, pyr_vol[:, None] * pyr_ctr)
    return ctr / np.maximum(vol, 1e-300)[:, None]


# --------------------------------------------------------------------------------------------
# case level
# --------------------------------------------------------------------------------------------
def time_directories(case_dir: str | Path, include_zero: bool = False) -> list[tuple[float, Path]]:
    """Numeric time directories sorted by time."""
    out = []
    for p in Path(case_dir).iterdir():
        if not p.is_dir():
            continue
        try:
            t = float(p.name)
        except ValueError:
            continue
        if t == 0.0 and not include_zero:
            continue
        out.append((t, p))
    return sorted(out)


def empty_axis(case_dir: str | Path, centres: np.ndarray) -> int | None:
    """The axis a one-cell-thick 2D slab is flat along (cell centres all at one coordinate), or None."""
    boundary = Path(case_dir) / "constant" / "polyMesh" / "boundary"
    if _exists(boundary) and b"empty" not in _open_bytes(boundary):
        return None
    span = np.ptp(centres, axis=0)
    extent = max(float(span.max()), 1e-300)
    flat = [a for a in range(3) if span[a] <= 1e-9 * extent]
    return flat[0] if len(flat) == 1 else None


def _case_times(
    case_dir: Path, t_min: float | None, t_max: float | None, include_zero: bool
) -> list[tuple[float, Path]]:
    """The time directories within [t_min, t_max]; none is an error that says what to do."""
    times = [
        (t, p) for t, p in time_directories(case_dir, include_zero=include_zero)
        if (t_min is None or t >= t_min - 1e-9) and (t_max is None or t <= t_max + 1e-9)
    ]
    if not times:
        raise FileNotFoundError(
            f"no time directories in {case_dir}"
            + (f" between t={t_min} and t={t_max}" if t_min is not None or t_max is not None else "")
            + ": run the solver first (or pass include_zero=True for the initial state)"
        )
    return times


def _case_centres(case_dir: Path, first_time: Path) -> np.ndarray:
    """Cell centres: a written C field (first time, then constant/), else computed from the mesh."""
    if _exists(first_time / "C"):
        return read_internal_field(first_time / "C")[0]
    if _exists(case_dir / "constant" / "C"):
        return read_internal_field(case_dir / "constant" / "C")[0]
    return cell_centres(case_dir)


def read_case(
    case_dir: str | Path,
    fields: Sequence[str] = ("U", "p"),
    *,
    t_min: float | None = None,
    t_max: float | None = None,
    include_zero: bool = False,
    params: dict[str, float] | None = None,
    drop_empty: bool = True,
    progress: bool = False,
) -> Trajectory:
    """An OpenFOAM case as a Trajectory on its cell centres (2D slabs become (N, 2))."""
    case_dir = Path(case_dir)
    if not case_dir.is_dir():
        raise FileNotFoundError(f"no OpenFOAM case directory {case_dir}")
    times = _case_times(case_dir, t_min, t_max, include_zero)
    centres = _case_centres(case_dir, times[0][1])
    n_cells = centres.shape[0]
    axis = empty_axis(case_dir, centres) if drop_empty else None
    keep_axes = [a for a in range(3) if a != axis]

    layout: list[tuple[str, int]] = []
    first = times[0][1]
    for name in fields:
        if not _exists(first / name):
            have = sorted(p.name.removesuffix(".gz") for p in first.iterdir() if p.is_file())
            raise FileNotFoundError(f"field {name!r} is not in {first}; it has {have}")
    iterator = times
    if progress:
        from tqdm import tqdm

        iterator = tqdm(times, desc=f"reading {case_dir.name}", unit="time")
    frames = []
    for _, tdir in iterator:
        channels = []
        frame_layout = []
        for name in fields:
            values, cls = read_internal_field(tdir / name, n_cells)
            if values.ndim == 1:
                values = values[:, None]
            if cls == "volVectorField" and axis is not None:
                values = values[:, keep_axes]
            channels.append(values)
            frame_layout.append((name, values.shape[1]))
        if not layout:
            layout = frame_layout
        frames.append(np.concatenate(channels, axis=1).astype(np.float32))
    points = centres[:, keep_axes] if axis is not None else centres
    return Trajectory(
        points=points,
        fields=np.stack(frames),
        times=np.array([t for t, _ in times]),
        field_layout=layout,
        params=params or {},
        metadata={
            "source": "openfoam",
            "case": str(case_dir),
            "n_cells": int(n_cells),
            "dropped_axis": "xyz"[axis] if axis is not None else None,
        },
    )

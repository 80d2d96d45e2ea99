"""The Well HDF5 layout <-> Trajectory (h5py only, no VTK).

The Well (PolymathicAI) stores one parameter set per file as dense cubes on a uniform grid:

    /                  attrs dataset_name, grid_type, n_spatial_dims, n_trajectories,
                       simulation_parameters (+ one attr per listed parameter)
    /dimensions/       spatial_dims attr; one coordinate array per axis; `time` (T,) [or (B, T)]
    /boundary_conditions/<name>/   attrs bc_type, associated_dims, ...; datasets mask [, values]
    /scalars/          field_names attr; non-spatial scalars, () / (B,) / (T,) / (B, T)
    /t0_fields/ /t1_fields/ /t2_fields/
                       field_names attr; arrays ([B,] [T,] *grid_axes_where_dim_varying [, D [, D]]),
                       attrs sample_varying, time_varying, dim_varying (axes left out when False)

Reading gives one Trajectory per sample: points are the tensor-product grid (numpy "ij" order,
last axis fastest, the order the cubes are stored in), scalars become t0 channels, vectors keep D
components, tensors D*D (row-major), fields that do not vary in time or over an axis are
broadcast (the axis left out, or kept as a size-1 placeholder; any other shape raises
EchoUserError naming the field), non-time-varying scalars become `params`. Writing is the reverse for trajectories whose
points form a full regular grid; it adds `echo_*` attributes so that an ECHO -> Well -> ECHO
round trip restores the exact field layout and metadata.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .atomic import atomic_path
from .celltypes import CellType
from .data.normalize import Domain
from .data.trajectory import Cells, Trajectory
from .errors import EchoUserError

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EchoUserError("reading The Well files needs h5py: `pip install h5py`") from exc
    return h5py


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _str_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (str, bytes)):
        return [_str(v)]
    return [_str(x) for x in np.asarray(v).reshape(-1).tolist()]


def _bool_attr(attrs, key: str, default: bool = True) -> bool:
    return bool(attrs[key]) if key in attrs else default


# --------------------------------------------------------------------------------------------
# description
# --------------------------------------------------------------------------------------------
@dataclass
class WellField:
    group: str  # t0_fields / t1_fields / t2_fields
    name: str
    shape: tuple[int, ...]
    sample_varying: bool
    time_varying: bool
    dim_varying: tuple[bool, ...]

    @property
    def order(self) -> int:
        return FIELD_GROUPS.index(self.group)


@dataclass
class WellInfo:
    path: Path
    dataset_name: str
    grid_type: str
    n_spatial_dims: int
    n_trajectories: int
    spatial_dims: list[str]
    grid_shape: tuple[int, ...]
    n_steps: int
    fields: list[WellField]
    simulation_parameters: list[str]
    periodic: tuple[bool, ...]
    boundary_conditions: dict[str, dict] = field(default_factory=dict)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


def _n_trajectories(path: Path, declared: Any, held: list[int]) -> int:
    """The declared sample count, checked against what the sample-varying fields hold (at most that many)."""
    from .errors import EchoUserError

    fix = "write the file again (or fix its n_trajectories attribute to the samples its fields hold)"
    try:
        n = int(declared.item() if hasattr(declared, "item") else declared)
    except (TypeError, ValueError):
        raise EchoUserError(f"{path}: n_trajectories = {str(declared)[:40]!r} is not a whole number; {fix}") from None
    have = min(held, default=None)
    if n < 0 or (have is not None and n > have):
        raise EchoUserError(f"{path}: n_trajectories = {n} but its sample-varying fields hold "
                            f"{have if have is not None else 'no'} samples; {fix}")
    return n or (max(held) if held else 1)


def _read_info(f, path: Path) -> WellInfo:
    attrs = f.attrs
    _require_well_layout(f, path)
    d = int(attrs["n_spatial_dims"])
    names = _spatial_names(f["dimensions"], path, d)
    if "time" not in f["dimensions"]:
        raise EchoUserError(f"{path}: dimensions/time is missing")
    fields = _read_fields(f, d)
    bcs, periodic = _read_boundary_conditions(f, names)
    n_traj = _n_trajectories(path, attrs.get("n_trajectories", 0), [fl.shape[0] for fl in fields if fl.sample_varying])
    return WellInfo(
        path=path,
        dataset_name=_str(attrs.get("dataset_name", path.stem)),
        grid_type=_str(attrs.get("grid_type", "cartesian")),
        n_spatial_dims=d,
        n_trajectories=n_traj,
        spatial_dims=names,
        grid_shape=tuple(int(f["dimensions"][n].shape[-1]) for n in names),
        n_steps=int(f["dimensions"]["time"].shape[-1]),
        fields=fields,
        simulation_parameters=_str_list(attrs.get("simulation_parameters")),
        periodic=periodic,
        boundary_conditions=bcs,
    )


def _require_well_layout(f, path: Path) -> None:
    """A The Well file has the root attr n_spatial_dims, a dimensions/ group and a field group."""
    missing = [k for k in ("n_spatial_dims",) if k not in f.attrs]
    if "dimensions" not in f or missing or not any(g in f for g in FIELD_GROUPS):
        raise EchoUserError(
            f"{path} is not a The Well file (needs root attr n_spatial_dims, a dimensions/ group and "
            "t0_fields/t1_fields/t2_fields groups); is it an ECHO dataset? use it directly, or convert "
            "other HDF5 layouts to .pvd/.vtu first"
        )


def _spatial_names(dims, path: Path, d: int) -> list[str]:
    """The names of the d coordinate arrays in dimensions/ (its spatial_dims attr, else x, y, z)."""
    names = _str_list(dims.attrs.get("spatial_dims")) or [k for k in ("x", "y", "z") if k in dims][:d]
    if len(names) != d or any(n not in dims for n in names):
        raise EchoUserError(f"{path}: dimensions/ should hold coordinate arrays {names} for {d} spatial dims")
    return names


def _read_fields(f, d: int) -> list[WellField]:
    """Every field of the t0/t1/t2 groups, in each group's field_names order, with its varying flags."""
    fields: list[WellField] = []
    for gname in FIELD_GROUPS:
        if gname not in f:
            continue
        g = f[gname]
        order = _str_list(g.attrs.get("field_names")) or sorted(g.keys())
        for name in order:
            if name not in g:
                continue
            ds = g[name]
            fields.append(
                WellField(
                    group=gname,
                    name=name,
                    shape=tuple(ds.shape),
                    sample_varying=_bool_attr(ds.attrs, "sample_varying"),
                    time_varying=_bool_attr(ds.attrs, "time_varying"),
                    dim_varying=tuple(bool(x) for x in np.asarray(ds.attrs.get("dim_varying", [True] * d)).reshape(-1)),
                )
            )
    return fields


def _read_boundary_conditions(f, names: list[str]) -> tuple[dict[str, dict], tuple[bool, ...]]:
    """The boundary_conditions/ group's attributes per condition, and which axes are periodic."""
    bcs: dict[str, dict] = {}
    periodic = [False] * len(names)
    if "boundary_conditions" in f:
        for bname, bg in f["boundary_conditions"].items():
            info = {k: (_str_list(v) if k in ("associated_dims", "associated_fields") else
                        (_str(v) if isinstance(v, (str, bytes)) else np.asarray(v).tolist()))
                    for k, v in bg.attrs.items()}
            bcs[bname] = info
            if _str(bg.attrs.get("bc_type", "")).lower() == "periodic":
                for axis in _str_list(bg.attrs.get("associated_dims")):
                    if axis in names:
                        periodic[names.index(axis)] = True
    return bcs, tuple(periodic)


def well_info(path: str | os.PathLike) -> WellInfo:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no The Well file at {path}")
    with _h5py().File(path, "r") as f:
        return _read_info(f, path)


def is_well_file(path: str | os.PathLike) -> bool:
    """Cheap sniff: an HDF5 file with a dimensions/ group and a t*_fields group."""
    try:
        with _h5py().File(path, "r") as f:
            return "dimensions" in f and any(g in f for g in FIELD_GROUPS)
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# grid helpers
# --------------------------------------------------------------------------------------------
def grid_points(coords: Sequence[np.ndarray]) -> np.ndarray:
    """Tensor-product points in "ij" order (last axis fastest), (N, d) float64."""
    mesh = np.meshgrid(*[np.asarray(c, dtype=np.float64) for c in coords], indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1)


def grid_cells(shape: Sequence[int]) -> Cells:
    """Quads (2D) or hexahedra (3D) joining an "ij"-ordered grid, for display in ParaView."""
    shape = tuple(int(s) for s in shape)
    ids = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    if len(shape) == 2:
        a = ids[:-1, :-1]
        corners = [a, ids[1:, :-1], ids[1:, 1:], ids[:-1, 1:]]
        ctype, npc = CellType.QUAD, 4
    elif len(shape) == 3:
        lo = [ids[:-1, :-1, :-1], ids[1:, :-1, :-1], ids[1:, 1:, :-1], ids[:-1, 1:, :-1]]
        hi = [ids[:-1, :-1, 1:], ids[1:, :-1, 1:], ids[1:, 1:, 1:], ids[:-1, 1:, 1:]]
        corners = lo + hi
        ctype, npc = CellType.HEXAHEDRON, 8
    else:
        raise EchoUserError(f"grid cells need a 2D or 3D grid, got shape {shape}")
    conn = np.stack([c.reshape(-1) for c in corners], axis=1).reshape(-1)
    n_cells = conn.shape[0] // npc
    return Cells(
        connectivity=conn,
        offsets=np.arange(n_cells + 1, dtype=np.int64) * npc,
        types=np.full(n_cells, ctype, dtype=np.uint8),
    )


def regular_grid(points: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """If `points` are a full tensor-product grid (any order), return (axis coordinates, order)
    such that points[order] is that grid in "ij" order; raise EchoUserError otherwise."""
    pts = np.asarray(points, dtype=np.float64)
    coords = [np.unique(pts[:, a]) for a in range(pts.shape[1])]
    shape = tuple(len(c) for c in coords)
    if int(np.prod(shape)) != pts.shape[0]:
        raise EchoUserError(
            f"the {pts.shape[0]} points are not a full regular grid (axis values {shape} would give "
            f"{int(np.prod(shape))}): The Well stores uniform grids only; export unstructured data as .pvd"
        )
    idx = [np.searchsorted(c, pts[:, a]) for a, c in enumerate(coords)]
    flat = np.ravel_multi_index(idx, shape)
    order = np.full(pts.shape[0], -1, dtype=np.int64)
    order[flat] = np.arange(pts.shape[0])
    if np.any(order < 0):
        raise EchoUserError("points repeat a grid node: not a full regular grid")
    return coords, order


def well_domain(path: str | os.PathLike) -> Domain:
    """The domain box of a Well file; periodic axes extend one grid step past the last node."""
    info = well_info(path)
    with _h5py().File(path, "r") as f:
        lo, hi = [], []
        for axis, name in enumerate(info.spatial_dims):
            c = np.asarray(f["dimensions"][name][()], dtype=np.float64)
            lo.append(c.min())
            top = c.max()
            if info.periodic[axis] and c.shape[-1] > 1:
                top += float(np.mean(np.diff(c, axis=-1)))
            hi.append(top)
    return Domain(np.array(lo), np.array(hi), info.periodic)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _frame_slice(times: np.ndarray, every: int, skip_time: float | None) -> slice:
    if every < 1:
        raise EchoUserError(f"--every must be >= 1, got {every}")
    start = 0
    if skip_time is not None:
        keep = np.nonzero(times >= skip_time - 1e-12 * max(1.0, abs(skip_time)))[0]
        if keep.size == 0:
            raise EchoUserError(f"--skip-time {skip_time} drops every frame (last time is {times[-1]:g})")
        start = int(keep[0])
    return slice(start, None, every)


def field_grid_shape(fl: WellField, grid_shape: Sequence[int], path: str | os.PathLike = "") -> tuple[int, ...]:
    """The stored field's shape without its sample/time axes, as (*per-axis size, *tensor tail).

    Each spatial axis is either the grid's size or 1 (broadcast). The Well leaves non-varying axes
    out (dim_varying False); its own reader, and files written from it, keep them as size-1
    placeholders instead: both forms are accepted. Anything else raises EchoUserError naming the
    field and its shape (never a silent reinterpretation as extra components).
    """
    grid = tuple(int(g) for g in grid_shape)
    d, rank = len(grid), fl.order
    rest = tuple(fl.shape[int(fl.sample_varying) + int(fl.time_varying):])
    varying = list(fl.dim_varying[:d]) + [True] * max(0, d - len(fl.dim_varying))
    if len(rest) == d + rank and all(s in (g, 1) for s, g in zip(rest[:d], grid)):
        return rest  # every spatial axis present (size-1 placeholders included)
    n_var = sum(varying)
    if len(rest) == n_var + rank:
        sizes = iter(rest[:n_var])
        spatial = tuple(next(sizes) if v else 1 for v in varying)
        if all(s in (g, 1) for s, g in zip(spatial, grid)):
            return spatial + rest[n_var:]
    from .errors import EchoUserError

    tail = ["", " + (D,)", " + (D, D)"][rank]
    raise EchoUserError(
        f"{path}: field {fl.group}/{fl.name} has shape {tuple(fl.shape)}, which does not map onto the grid "
        f"{grid} (expected [B,] [T,] + one size per varying axis or a size-1 placeholder{tail}, with "
        f"sample_varying={fl.sample_varying}, time_varying={fl.time_varying}, dim_varying={tuple(varying)}); "
        f"fix the field's attributes or leave the field out (fields=[...], `echopv import --fields`)"
    )


def _read_field(ds, fl: WellField, b: int, frames: slice, n_frames: int, grid_shape: tuple[int, ...],
                path: str | os.PathLike = "") -> np.ndarray:
    """(T', N, k) float32 for sample b in "ij" point order, broadcasting the axes the file leaves out."""
    stored = field_grid_shape(fl, grid_shape, path)
    index: list[Any] = []
    if fl.sample_varying:
        index.append(b)
    if fl.time_varying:
        index.append(frames)
    arr = np.asarray(ds[tuple(index)] if index else ds[()], dtype=np.float32)
    if not fl.time_varying:
        arr = arr[None]
    arr = arr.reshape(arr.shape[0], *stored)
    d = len(grid_shape)
    tensor = stored[d:]
    arr = np.broadcast_to(arr, (n_frames, *grid_shape, *tensor))
    k = int(np.prod(tensor)) if tensor else 1
    return arr.reshape(n_frames, -1, k)


def _root_params(f, info: WellInfo) -> dict[str, float]:
    params: dict[str, float] = {}
    for name in info.simulation_parameters:
        if name in f.attrs:
            try:
                params[name] = float(np.asarray(f.attrs[name]).reshape(-1)[0])
            except (TypeError, ValueError):
                pass
    return params


def sample_scalars(f, info: WellInfo, b: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(params, time series) of sample b: simulation parameters (root attrs) and non-time-varying
    scalars are params; time-varying scalars are (T,) series."""
    params = _root_params(f, info)
    series: dict[str, np.ndarray] = {}
    for name, ds in (f["scalars"].items() if "scalars" in f else ()):
        sv = _bool_attr(ds.attrs, "sample_varying", False)
        tv = _bool_attr(ds.attrs, "time_varying", False)
        try:
            v = np.asarray(ds[b] if sv and ds.ndim > 0 else ds[()], dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if tv:
            series[name] = v.reshape(-1)
        else:
            params[name] = float(v.reshape(-1)[0])
    return params, series


def sample_times(f, b: int) -> np.ndarray:
    """All times of sample b (dimensions/time, shared or per sample)."""
    ds = f["dimensions"]["time"]
    sv = _bool_attr(ds.attrs, "sample_varying", False) or ds.ndim > 1
    return np.asarray(ds[b] if sv else ds[()], dtype=np.float64).reshape(-1)


def sample_axes(f, info: WellInfo, b: int) -> list[np.ndarray]:
    """Coordinate values per spatial axis for sample b."""
    out = []
    for name in info.spatial_dims:
        c = f["dimensions"][name]
        sv = _bool_attr(c.attrs, "sample_varying", False) or c.ndim > 1
        out.append(np.asarray(c[b] if sv else c[()], dtype=np.float64).reshape(-1))
    return out


def read_field_frames(f, info: WellInfo, name: str, b: int, frames: slice) -> np.ndarray:
    """(T', N, k) float32 of one field for sample b, "ij" point order; reads only those frames."""
    known = {fl.name: fl for fl in info.fields}
    if name not in known:
        raise EchoUserError(f"{info.path} has no field {name!r}; available: {info.field_names}")
    fl = known[name]
    n = len(range(*frames.indices(info.n_steps)))
    return _read_field(f[fl.group][fl.name], fl, b, frames, n, info.grid_shape, info.path)


def open_well(path: str | os.PathLike):
    """(h5py.File, WellInfo) for reading; the caller closes the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no The Well file at {path}")
    f = _h5py().File(path, "r")
    try:
        return f, _read_info(f, path)
    except Exception:
        f.close()
        raise


def iter_well_trajectories(
    path: str | os.PathLike,
    *,
    fields: Sequence[str] | None = None,
    every: int = 1,
    skip_time: float | None = None,
    trajectories: Sequence[int] | None = None,
    cells: bool = True,
) -> Iterator[Trajectory]:
    """Yield one Trajectory per sample of a The Well file, reading one sample at a time."""
    path = Path(path)
    f, info = open_well(path)
    with f:
        d = info.n_spatial_dims
        if d not in (2, 3):
            raise EchoUserError(
                f"{path} is {d}-D; ECHO trajectories need 2D or 3D points (n_spatial_dims = 2 or 3)"
            )
        chosen = _chosen_fields(path, info, fields)
        root = f.attrs
        layout_hint = json.loads(_str(root["echo_field_layout"])) if "echo_field_layout" in root else None
        traj_meta = json.loads(_str(root["echo_metadata"])) if "echo_metadata" in root else None
        static_cells = grid_cells(info.grid_shape) if cells else None
        samples = list(range(info.n_trajectories)) if trajectories is None else [int(i) for i in trajectories]
        for b in samples:
            if not 0 <= b < info.n_trajectories:
                raise EchoUserError(f"trajectory {b} out of range: {path} holds {info.n_trajectories}")
            all_times = sample_times(f, b)
            frames = _frame_slice(all_times, every, skip_time)
            points = grid_points(sample_axes(f, info, b))
            values, layout = _sample_values(f, info, b, chosen, frames)
            values, layout = _apply_layout_hint(values, layout, layout_hint)
            params, all_series = sample_scalars(f, info, b)
            series = {k: v[frames].tolist() for k, v in all_series.items()}
            meta = _sample_metadata(path, info, b, traj_meta[b] if traj_meta is not None and b < len(traj_meta) else {})
            if series:
                meta["time_varying_scalars"] = series
            yield Trajectory(
                points=points,
                fields=values,
                times=all_times[frames],
                field_layout=layout,
                params=params,
                cells=static_cells,
                metadata=meta,
            )


def _chosen_fields(path: Path, info: WellInfo, fields: Sequence[str] | None) -> list[WellField]:
    """The fields asked for by name (default all of them), in the asked order; at least one."""
    chosen = info.fields
    if fields:
        known = {fl.name: fl for fl in info.fields}
        unknown = [n for n in fields if n not in known]
        if unknown:
            raise EchoUserError(f"{path} has no field(s) {unknown}; available: {info.field_names}")
        chosen = [known[n] for n in fields]
    if not chosen:
        raise EchoUserError(f"{path} has no fields in t0_fields/t1_fields/t2_fields")
    return chosen


def _sample_values(f, info: WellInfo, b: int, chosen: list[WellField],
                   frames: slice) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Sample b's chosen fields over `frames`, side by side (T, N, C), and their (name, channels) layout."""
    blocks, layout = [], []
    for fl in chosen:
        block = read_field_frames(f, info, fl.name, b, frames)
        blocks.append(block)
        layout.append((fl.name, block.shape[2]))
    values = np.concatenate(blocks, axis=2) if len(blocks) > 1 else blocks[0]
    return values, layout


def _sample_metadata(path: Path, info: WellInfo, b: int, stored: dict) -> dict[str, Any]:
    """Sample b's metadata: what the file stored for it (echo_metadata), then where it came from and its grid."""
    meta: dict[str, Any] = dict(stored)
    meta.update(
        source="the_well",
        source_file=str(path),
        dataset_name=info.dataset_name,
        trajectory_index=b,
        grid_type=info.grid_type,
        grid_shape=list(info.grid_shape),
        spatial_dims=info.spatial_dims,
        periodic=list(info.periodic),
        boundary_conditions=info.boundary_conditions,
    )
    return meta


def _apply_layout_hint(values: np.ndarray, layout: list[tuple[str, int]], hint) -> tuple[np.ndarray, list]:
    """Regroup `name_0, name_1, ...` scalars written by write_well back into the original layout."""
    if not hint:
        return values, layout
    starts, pos = {}, 0
    for name, k in layout:
        starts[name] = (pos, k)
        pos += k
    cols, out = [], []
    for name, k in hint:
        k = int(k)
        if name in starts and starts[name][1] == k:
            s = starts[name][0]
            cols.extend(range(s, s + k))
        else:
            parts = [f"{name}_{i}" for i in range(k)]
            if not all(p in starts and starts[p][1] == 1 for p in parts):
                continue
            cols.extend(starts[p][0] for p in parts)
        out.append((name, k))
    if len(cols) != values.shape[2]:  # a field subset or a foreign file: keep the file's order
        return values, layout
    return np.ascontiguousarray(values[:, :, cols]), out


def read_well(path: str | os.PathLike, **kwargs) -> list[Trajectory]:
    return list(iter_well_trajectories(path, **kwargs))


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _compact(a: np.ndarray) -> np.ndarray:
    """float32 as the spec asks, unless that would change the values (then keep float64)."""
    a = np.asarray(a, dtype=np.float64)
    a32 = a.astype(np.float32)
    return a32 if np.array_equal(a32.astype(np.float64), a) else a


def _check_same_grid(trajs: list[Trajectory]) -> None:
    first = trajs[0]
    for i, t in enumerate(trajs[1:], 1):
        if t.points.shape != first.points.shape or not np.array_equal(t.points, first.points):
            raise EchoUserError(f"trajectory {i} has other points than trajectory 0: a Well file has one grid")
        if t.field_layout != first.field_layout:
            raise EchoUserError(f"trajectory {i} has fields {t.field_layout}, expected {first.field_layout}")
        if t.n_frames != first.n_frames:
            raise EchoUserError(f"trajectory {i} has {t.n_frames} frames, expected {first.n_frames}")


def _write_dimensions(f, trajs: list[Trajectory], names: list[str], coords: list[np.ndarray]) -> None:
    dims = f.create_group("dimensions")
    dims.attrs["spatial_dims"] = names
    for name, c in zip(names, coords):
        ds = dims.create_dataset(name, data=_compact(c))
        ds.attrs["sample_varying"] = False
        ds.attrs["time_varying"] = False
    first = trajs[0]
    same_times = all(np.array_equal(t.times, first.times) for t in trajs)
    tds = dims.create_dataset("time", data=_compact(first.times if same_times else np.stack([t.times for t in trajs])))
    tds.attrs["sample_varying"] = not same_times


def _write_boundaries(f, names: list[str], grid_shape: tuple[int, ...], periodic: Sequence[bool] | None) -> None:
    bcs = f.create_group("boundary_conditions")
    for axis, (name, per) in enumerate(zip(names, periodic or ())):
        g = bcs.create_group(f"{name}_{'periodic' if per else 'open'}")
        g.attrs["associated_dims"] = [name]
        g.attrs["associated_fields"] = []
        g.attrs["bc_type"] = "PERIODIC" if per else "OPEN"
        g.attrs["sample_varying"] = False
        g.attrs["time_varying"] = False
        mask = np.zeros(grid_shape[axis], dtype=bool)
        mask[[0, -1]] = True
        g.create_dataset("mask", data=mask)


def _write_scalars(f, trajs: list[Trajectory]) -> None:
    """params -> scalars (+ root attrs when constant over samples)."""
    keys = sorted({k for t in trajs for k in t.params})
    sc = f.create_group("scalars")
    sc.attrs["field_names"] = keys
    f.attrs["simulation_parameters"] = keys
    for k in keys:
        vals = np.array([t.params.get(k, np.nan) for t in trajs], dtype=np.float64)
        constant = bool(np.all(vals == vals[0]))
        ds = sc.create_dataset(k, data=_compact(vals[:1].reshape(()) if constant else vals))
        ds.attrs["sample_varying"] = not constant
        ds.attrs["time_varying"] = False
        if constant:
            f.attrs[k] = float(vals[0])


def _field_plan(layout: Sequence[tuple[str, int]], d: int) -> list[tuple[str, str, int, int, tuple[int, ...]]]:
    """(group, name, first channel, channels, tensor tail) per stored field."""
    plan: list[tuple[str, str, int, int, tuple[int, ...]]] = []
    start = 0
    for name, k in layout:
        if k == 1:
            plan.append(("t0_fields", name, start, 1, ()))
        elif k == d:
            plan.append(("t1_fields", name, start, k, (d,)))
        elif k == d * d:
            plan.append(("t2_fields", name, start, k, (d, d)))
        else:
            plan.extend(("t0_fields", f"{name}_{i}", start + i, 1, ()) for i in range(k))
        start += k
    return plan


def _write_fields(f, trajs: list[Trajectory], order: np.ndarray, grid_shape: tuple[int, ...],
                  compression: str | None) -> None:
    first = trajs[0]
    d, B, T = first.dim, len(trajs), first.n_frames
    groups = {g: f.create_group(g) for g in FIELD_GROUPS}
    listed: dict[str, list[str]] = {g: [] for g in FIELD_GROUPS}
    for gname, name, s, k, tail in _field_plan(first.field_layout, d):
        ds = groups[gname].create_dataset(
            name, shape=(B, T, *grid_shape, *tail), dtype=np.float32, chunks=(1, 1, *grid_shape, *tail),
            compression=compression,
        )
        ds.attrs["sample_varying"] = True
        ds.attrs["time_varying"] = True
        ds.attrs["dim_varying"] = np.ones(d, dtype=bool)
        if gname == "t2_fields":
            ds.attrs["symmetric"] = False
            ds.attrs["antisymmetric"] = False
        listed[gname].append(name)
        for b, t in enumerate(trajs):
            ds[b] = t.fields[:, order, s : s + k].reshape(T, *grid_shape, *tail)
    for gname, group in groups.items():
        group.attrs["field_names"] = listed[gname]


def write_well(
    path: str | os.PathLike,
    trajectories: Sequence[Trajectory],
    *,
    dataset_name: str = "echo",
    spatial_dims: Sequence[str] | None = None,
    periodic: Sequence[bool] | None = None,
    grid_type: str = "cartesian",
    compression: str | None = None,
) -> Path:
    """Write trajectories that share one regular grid, one field layout and one frame count.

    Scalars go to t0_fields, fields with D components to t1_fields, D*D to t2_fields (D x D,
    row-major), anything else is split into `name_i` scalars (regrouped on read via the
    `echo_field_layout` root attribute). Params constant over samples become root attributes +
    scalars; others are sample-varying scalars of shape (B,).
    """
    trajs = list(trajectories)
    if not trajs:
        raise EchoUserError("no trajectories to write")
    first = trajs[0]
    d = first.dim
    coords, order = regular_grid(first.points)
    grid_shape = tuple(len(c) for c in coords)
    _check_same_grid(trajs)
    names = list(spatial_dims or ["x", "y", "z"][:d])
    if len(names) != d:
        raise EchoUserError(f"spatial_dims {names} does not match {d}-D points")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, _h5py().File(tmp, "w") as f:
        f.attrs["dataset_name"] = dataset_name
        f.attrs["grid_type"] = grid_type
        f.attrs["n_spatial_dims"] = d
        f.attrs["n_trajectories"] = len(trajs)
        f.attrs["echo_field_layout"] = json.dumps(first.field_layout)
        f.attrs["echo_metadata"] = json.dumps([t.metadata for t in trajs], default=str)
        _write_dimensions(f, trajs, names, coords)
        _write_boundaries(f, names, grid_shape, periodic)
        _write_scalars(f, trajs)
        _write_fields(f, trajs, order, grid_shape, compression)
    return path

"""Trajectory <-> `.pvd` + one XML file per frame (vtkmodules only, no pyvista).

Writing: `write_pvd(traj, "out/run.pvd")` gives `out/run.pvd` and `out/run/run_0000.vtu`, ...,
referenced by paths relative to the .pvd so the folder can be moved. Every frame carries the
same mesh (cells, or one vertex per point when the trajectory has none), the fields as point
arrays (vectors keep their components), and FieldData provenance: `TimeValue`,
`is_prediction`, `echo_model_id`, `echo_params` (JSON) plus one `param_<name>` array per
parameter (visible in ParaView's spreadsheet), `echo_field_layout` and `echo_metadata` (JSON).

Reading: `read_series(src)` takes a `.pvd`, a `*.vtu.series`/`*.vtm.series` JSON file, a
directory (holding one .pvd/.series, or frames of one type), a glob, or an explicit list of
`.vtu/.vtp/.vti/.vts/.vtr/.vtm` files, and returns one Trajectory (points, cells from the first
frame; every frame must have the same number of points). Multiblock frames use the first
non-empty leaf block, or the block named by `block=`.
"""
from __future__ import annotations

import errno
import glob as _glob
import json
import os
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from echo_model.atomic import atomic_path, write_text_atomic
from echo_model.celltypes import CellType
from echo_model.data.trajectory import Trajectory
from echo_model.disk_space import (MARGIN, atomic_folder, disk_full_error, free_bytes, is_disk_full, remove_tree,
                                   require_space)
from echo_model.errors import EchoUserError

from .. import convert
from .time_range import select_time_range

FRAME_EXTENSIONS = (".vtu", ".vtp", ".vti", ".vts", ".vtr", ".vtm")
SERIES_SUFFIXES = tuple(ext + ".series" for ext in FRAME_EXTENSIONS)
COMPRESSORS = ("zlib", "lz4", "lzma", "none")


# --------------------------------------------------------------------------------------------
# collection files
# --------------------------------------------------------------------------------------------
@dataclass
class SeriesEntry:
    time: float | None
    path: Path


def _natural_key(p: Path) -> list:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)]


def parse_pvd(path: str | os.PathLike, part: int | None = None) -> list[SeriesEntry]:
    """DataSet entries of a ParaView collection: (timestep, file relative to the .pvd)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise EchoUserError(f"{path} is not valid XML ({exc}); is it a ParaView .pvd collection?") from exc
    coll = root.find("Collection")
    if root.tag != "VTKFile" or coll is None:
        raise EchoUserError(f"{path} is not a .pvd collection (expected <VTKFile type=\"Collection\"><Collection>)")
    rows = []
    for ds in coll.findall("DataSet"):
        f = ds.get("file")
        if not f:
            continue
        t = ds.get("timestep")
        rows.append((float(t) if t not in (None, "") else None, int(ds.get("part", "0") or 0), f))
    if not rows:
        raise EchoUserError(f"{path} lists no DataSet files")
    parts = sorted({r[1] for r in rows})
    wanted = parts[0] if part is None else part
    if wanted not in parts:
        raise EchoUserError(f"{path} has no part {wanted}; parts: {parts}")
    if part is None and len(parts) > 1:
        warnings.warn(f"{path} has parts {parts}; reading part {wanted} only (pass part= for another)")
    return [SeriesEntry(t, (path.parent / f)) for t, p, f in rows if p == wanted]


def parse_series_json(path: str | os.PathLike) -> list[SeriesEntry]:
    """ParaView's `*.vtu.series` JSON: {"file-series-version": "1.0", "files": [{name, time}]}."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EchoUserError(f"{path} is not valid JSON ({exc}); a .series file lists {{name, time}} entries") from exc
    files = doc.get("files") if isinstance(doc, dict) else None
    if not files:
        raise EchoUserError(f"{path} has no \"files\" list")
    return [SeriesEntry(float(e["time"]) if "time" in e else None, path.parent / e["name"]) for e in files]


def resolve_series(src: str | os.PathLike | Sequence[str | os.PathLike], part: int | None = None) -> list[SeriesEntry]:
    """Any supported source -> ordered frame entries (times may be None when unknown)."""
    if isinstance(src, (list, tuple)):
        paths = [Path(p) for p in src]
        if len(paths) == 1:
            return resolve_series(paths[0], part)
        for p in paths:
            if not p.exists():
                raise FileNotFoundError(f"frame file {p} does not exist")
        return [SeriesEntry(None, p) for p in paths]
    text = str(src)
    if any(ch in text for ch in "*?["):
        matches = sorted((Path(p) for p in _glob.glob(text)), key=_natural_key)
        matches = [p for p in matches if p.suffix.lower() in FRAME_EXTENSIONS]
        if not matches:
            raise FileNotFoundError(f"no .vtu/.vtp/.vti/.vts/.vtr/.vtm files match {text!r}")
        return [SeriesEntry(None, p) for p in matches]
    path = Path(src)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (give a .pvd, a .vtu.series, a folder of frames or a glob)")
    if path.is_dir():
        collections = sorted(path.glob("*.pvd")) + sorted(q for s in SERIES_SUFFIXES for q in path.glob("*" + s))
        if len(collections) == 1:
            return resolve_series(collections[0], part)
        by_ext: dict[str, list[Path]] = {}
        for q in path.iterdir():
            if q.is_file() and q.suffix.lower() in FRAME_EXTENSIONS:
                by_ext.setdefault(q.suffix.lower(), []).append(q)
        if len(collections) > 1 and not by_ext:
            raise EchoUserError(f"{path} holds several collections {[c.name for c in collections]}: name one")
        if not by_ext:
            raise FileNotFoundError(f"{path} holds no .pvd, .series or .vtu/.vtp/.vti/.vts/.vtr/.vtm frames")
        if len(by_ext) > 1:
            raise EchoUserError(
                f"{path} mixes frame types {sorted(by_ext)}; pass a glob such as '{path}/*.vtu'"
            )
        (frames,) = by_ext.values()
        return [SeriesEntry(None, p) for p in sorted(frames, key=_natural_key)]
    name = path.name.lower()
    if name.endswith(".pvd"):
        return parse_pvd(path, part)
    if name.endswith(".series"):
        return parse_series_json(path)
    if path.suffix.lower() in FRAME_EXTENSIONS:
        return [SeriesEntry(None, path)]
    raise EchoUserError(f"{path}: unknown series format (expected .pvd, .vtu.series, or .vtu/.vtp/.vti/.vts/.vtr/.vtm)")


# --------------------------------------------------------------------------------------------
# one frame
# --------------------------------------------------------------------------------------------
def _reader_for(path: Path):
    ext = path.suffix.lower()
    if ext == ".vtu":
        from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridReader as R
    elif ext == ".vtp":
        from vtkmodules.vtkIOXML import vtkXMLPolyDataReader as R
    elif ext == ".vti":
        from vtkmodules.vtkIOXML import vtkXMLImageDataReader as R
    elif ext == ".vts":
        from vtkmodules.vtkIOXML import vtkXMLStructuredGridReader as R
    elif ext == ".vtr":
        from vtkmodules.vtkIOXML import vtkXMLRectilinearGridReader as R
    elif ext == ".vtm":
        from vtkmodules.vtkIOXML import vtkXMLMultiBlockDataReader as R
    else:
        raise EchoUserError(f"{path}: cannot read {ext!r} frames (supported: {', '.join(FRAME_EXTENSIONS)})")
    return R()


def _pick_block(data, block: str | None, path: Path):
    """A leaf dataset of a multiblock: the one named `block`, else the first non-empty one."""
    from vtkmodules.vtkCommonDataModel import vtkCompositeDataSet, vtkDataSet

    if isinstance(data, vtkDataSet):
        return data
    it = data.NewIterator()
    it.SkipEmptyNodesOn()
    it.InitTraversal()
    names = []
    while not it.IsDoneWithTraversal():
        ds = it.GetCurrentDataObject()
        name = None
        if it.HasCurrentMetaData():
            md = it.GetCurrentMetaData()
            if md.Has(vtkCompositeDataSet.NAME()):
                name = md.Get(vtkCompositeDataSet.NAME())
        names.append(name)
        if isinstance(ds, vtkDataSet) and ds.GetNumberOfPoints() > 0 and (block is None or name == block):
            return ds
        it.GoToNextItem()
    if block is not None:
        raise EchoUserError(f"{path} has no non-empty block named {block!r}; blocks: {names}")
    raise EchoUserError(f"{path} is a multiblock with no non-empty dataset")


def read_frame(path: str | os.PathLike, block: str | None = None):
    """Read one XML VTK file; multiblocks are reduced to one leaf dataset."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"frame file {path} does not exist (moved without its .pvd folder?)")
    reader = _reader_for(path)
    reader.SetFileName(str(path))
    reader.Update()
    out = reader.GetOutputDataObject(0)
    if out is None:
        raise EchoUserError(f"could not read {path}")
    return _pick_block(out, block, path)


def _field_data(ds) -> dict[str, Any]:
    """FieldData as python values: 1-tuple numerics -> float, strings -> str."""
    fd = ds.GetFieldData()
    out: dict[str, Any] = {}
    if fd is None:
        return out
    for i in range(fd.GetNumberOfArrays()):
        arr = fd.GetAbstractArray(i)
        if arr is None or not arr.GetName():
            continue
        if arr.IsA("vtkStringArray"):
            if arr.GetNumberOfValues():
                out[arr.GetName()] = arr.GetValue(0)
        elif arr.GetNumberOfTuples() == 1 and arr.GetNumberOfComponents() == 1:
            out[arr.GetName()] = float(arr.GetTuple1(0))
    return out


# --------------------------------------------------------------------------------------------
# reading a series
# --------------------------------------------------------------------------------------------
def _frame_selection(times: np.ndarray, every: int, skip_time: float | None,
                     end_time: float | None = None, src: Any = "the series") -> np.ndarray:
    if every < 1:
        raise EchoUserError(f"--every must be >= 1, got {every}")
    idx = np.arange(times.shape[0])
    if skip_time is not None or end_time is not None:
        idx = select_time_range(times, skip_time, end_time, str(src))
    return idx[::every]


def _cell_centres(ds) -> np.ndarray:
    from vtkmodules.vtkFiltersCore import vtkCellCenters

    cc = vtkCellCenters()
    cc.SetInputData(ds)
    cc.VertexCellsOff()
    cc.Update()
    return convert.get_points(cc.GetOutput())


def read_series(
    src: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    fields: Sequence[str] | None = None,
    every: int = 1,
    skip_time: float | None = None,
    dim: int | None = None,
    block: str | None = None,
    part: int | None = None,
    end_time: float | None = None,
    association: str = "auto",
    with_cells: bool = True,
    progress: bool = False,
) -> Trajectory:
    """Read a time series of VTK frames into one Trajectory (see module docstring).

    Times come from the collection file, else from each frame's `TimeValue` field data, else
    0, 1, 2, ... . association: "point", "cell" (points become cell centres, no cells) or
    "auto" (point data when the first frame has any, else cell data). skip_time / end_time: keep
    the frames with skip_time <= t <= end_time (`echopv import --start-time/--end-time`).
    """
    entries = resolve_series(src, part)
    if association not in ("auto", "point", "cell"):
        raise EchoUserError(f"association must be auto, point or cell, got {association!r}")
    entries, times_all, chosen = _ordered_entries(src, entries, every, skip_time, end_time)
    first = read_frame(entries[int(chosen[0])].path, block)
    assoc = association
    if assoc == "auto":
        assoc = "point" if convert.point_field_names(first) else "cell"
    fd0 = _field_data(first)
    points = _series_points(first, assoc, dim, fd0, src)
    names = _field_names(first, fd0, assoc, fields)
    frames = _read_frames(entries, chosen, first, block, assoc, names, points, progress, times_all is None)
    times = np.asarray([times_all[int(i)] for i in chosen] if times_all is not None else frames.times,
                       dtype=np.float64)
    values = frames.values
    if times_all is None:
        if np.any(np.diff(times) <= 0):  # TimeValue missing or inconsistent: fall back to indices
            times = np.asarray(chosen, dtype=np.float64)
        if skip_time is not None or end_time is not None:
            keep = _frame_selection(times, every, skip_time, end_time, src)
            values = values[keep]
            times = times[keep]
    metadata = _series_metadata(fd0, entries, chosen, assoc)
    if frames.moved > 1e-6 * max(1.0, float(np.abs(points).max())):
        warnings.warn(f"{src}: point coordinates move by up to {frames.moved:g} between frames; using the first "
                      f"frame's points")
        metadata["points_moved_max"] = frames.moved
    return Trajectory(
        points=points,
        fields=values,
        times=times,
        field_layout=frames.layout or [],
        params=_series_params(fd0),
        cells=_display_cells(first, assoc, with_cells, points.shape[0], src),
        metadata=metadata,
    )


def _ordered_entries(
    src: Any, entries: list[SeriesEntry], every: int, skip_time: float | None, end_time: float | None = None
) -> tuple[list[SeriesEntry], np.ndarray | None, np.ndarray]:
    """Entries sorted by their known times, those times (None if any is unknown), the chosen indices."""
    known = [e.time for e in entries]
    if not all(t is not None for t in known):
        if every < 1:
            raise EchoUserError(f"--every must be >= 1, got {every}")
        # without times, the time range is applied after reading (on TimeValue or the frame index)
        ranged = skip_time is not None or end_time is not None
        return entries, None, np.arange(len(entries)) if ranged else np.arange(len(entries))[::every]
    order = np.argsort(np.asarray(known, dtype=np.float64), kind="stable")
    entries = [entries[i] for i in order]
    times_all = np.asarray([e.time for e in entries], dtype=np.float64)
    if np.any(np.diff(times_all) <= 0):
        dup = times_all[1:][np.diff(times_all) <= 0][0]
        raise EchoUserError(f"{src}: time {dup:g} appears more than once; pass part= or remove duplicates")
    return entries, times_all, _frame_selection(times_all, every, skip_time, end_time, src)


def _series_points(first, assoc: str, dim: int | None, fd0: Mapping[str, Any], src: Any) -> np.ndarray:
    """The trajectory's points (N, d): the first frame's points, or its cell centres for cell data."""
    xyz = convert.get_points(first) if assoc == "point" else _cell_centres(first)
    d = dim or (int(fd0["echo_dim"]) if "echo_dim" in fd0 else convert.infer_dim(xyz))
    if d == 2 and np.ptp(xyz[:, 2]) > 1e-12 * max(1.0, float(np.abs(xyz).max())):
        raise EchoUserError(f"{src}: the data is not planar (z varies) but dim=2 was asked for")
    return np.ascontiguousarray(xyz[:, :d]) if d == 2 else xyz


def _field_names(first, fd0: Mapping[str, Any], assoc: str, fields: Sequence[str] | None) -> list[str] | None:
    """The arrays to read (None: every numeric array of the first frame)."""
    if fields is None and "echo_field_layout" in fd0:
        # frames we wrote: our field order first (a tool may have reordered the arrays), then
        # whatever a tool added (e.g. a ParaView Calculator result)
        present = convert.array_names(first.GetPointData() if assoc == "point" else first.GetCellData())
        wanted = [n for n, _ in json.loads(fd0["echo_field_layout"])]
        return [n for n in wanted if n in present] + [n for n in present if n not in wanted] or None
    return list(fields) if fields else None


@dataclass
class _Frames:
    values: np.ndarray  # (T, N, C) float32
    layout: list[tuple[str, int]]
    times: list[float]  # each frame's TimeValue field data, else its index (when asked for)
    moved: float  # largest point displacement from the first frame


def _read_frames(
    entries: list[SeriesEntry],
    chosen: np.ndarray,
    first,
    block: str | None,
    assoc: str,
    names: list[str] | None,
    points: np.ndarray,
    progress: bool,
    want_times: bool,
) -> _Frames:
    """Every chosen frame's fields into one array, filled in place (no second copy of the series)."""
    n_ref = points.shape[0]
    values: np.ndarray | None = None
    frame_times: list[float] = []
    layout, moved = None, 0.0
    iterator: Iterable[int] = chosen
    if progress:
        from tqdm import tqdm

        iterator = tqdm(chosen, desc=f"reading {Path(str(entries[0].path)).parent.name or 'frames'}", unit="frame")
    for k, i in enumerate(iterator):
        e = entries[int(i)]
        ds = first if k == 0 else read_frame(e.path, block)
        v, lay = _frame_fields(ds, e.path, assoc, names, n_ref)
        if layout is not None and lay != layout:
            raise EchoUserError(f"{e.path.name} has fields {lay} but the first frame has {layout}")
        layout = lay
        if names is None:
            names = [nm for nm, _ in lay]
        if assoc == "point" and k > 0 and getattr(ds, "GetPoints", None) and ds.GetPoints() is not None:
            moved = max(moved, float(np.abs(convert.get_points(ds)[:, : points.shape[1]] - points).max()))
        if values is None:
            values = np.empty((len(chosen), n_ref, v.shape[1]), dtype=np.float32)
        values[k] = v
        if want_times:
            frame_times.append(_field_data(ds).get("TimeValue", float(i)))
    return _Frames(values, layout, frame_times, moved)


def _frame_fields(ds, path: Path, assoc: str, names: list[str] | None, n_ref: int):
    """(values (N, C), layout) of one frame, checked against the first frame's mesh size."""
    n = ds.GetNumberOfPoints() if assoc == "point" else ds.GetNumberOfCells()
    if n != n_ref:
        raise EchoUserError(
            f"{path.name} has {n} {'points' if assoc == 'point' else 'cells'} but the first frame has "
            f"{n_ref}: a trajectory needs one fixed mesh (remesh/resample the series first)"
        )
    try:
        v, lay = convert.get_fields(ds, names, assoc)
    except convert.MissingArrayError as exc:
        raise EchoUserError(f"{path.name}: {exc} (choose fields with --fields)") from exc
    if not lay:
        raise EchoUserError(f"{path.name} has no numeric {assoc} arrays to use as fields")
    return v, lay


def _series_params(fd0: Mapping[str, Any]) -> dict[str, float]:
    """PDE parameters: our echo_params JSON, else param_<name> numbers in the field data."""
    if "echo_params" in fd0:
        return {k: float(v) for k, v in json.loads(fd0["echo_params"]).items()}
    return {k[len("param_"):]: float(v) for k, v in fd0.items() if k.startswith("param_") and isinstance(v, float)}


def _series_metadata(fd0: Mapping[str, Any], entries: list[SeriesEntry], chosen: np.ndarray, assoc: str) -> dict:
    metadata: dict[str, Any] = {}
    if "echo_metadata" in fd0:
        try:
            metadata.update(json.loads(fd0["echo_metadata"]))
        except json.JSONDecodeError:
            pass
    for key in ("is_prediction", "echo_model_id"):
        if key in fd0:
            metadata[key.replace("echo_", "")] = bool(fd0[key]) if key == "is_prediction" else fd0[key]
    metadata.setdefault("source", "vtk_series")
    metadata["source_files"] = [str(entries[int(chosen[0])].path), str(entries[int(chosen[-1])].path)]
    metadata["association"] = assoc
    return metadata


def _display_cells(first, assoc: str, with_cells: bool, n_points: int, src: Any):
    """The first frame's cells for display (point data only; none for one vertex per point)."""
    if not with_cells or assoc != "point":
        return None
    try:
        cells = convert.get_cells(first)
    except convert.PolyhedraError as exc:  # keep the points, lose the display cells
        warnings.warn(f"{src}: cells dropped ({exc})")
        return None
    if cells is not None and cells.n_cells == n_points and np.all(cells.types == CellType.VERTEX):
        return None  # one vertex per point is what we write for cell-less trajectories
    return cells


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _writer(compressor: str, level: int | None):
    from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter

    w = vtkXMLUnstructuredGridWriter()
    w.SetDataModeToAppended()
    w.EncodeAppendedDataOff()  # raw binary: smaller and faster than base64
    if compressor not in COMPRESSORS:
        raise EchoUserError(f"compressor must be one of {COMPRESSORS}, got {compressor!r}")
    if compressor == "none":
        w.SetCompressorTypeToNone()
    else:
        {"zlib": w.SetCompressorTypeToZLib, "lz4": w.SetCompressorTypeToLZ4, "lzma": w.SetCompressorTypeToLZMA}[compressor]()
        if level is not None:
            w.SetCompressionLevel(int(level))
    return w


def series_bytes(n_frames: int, n_points: int, n_channels: int, cells: Any = None) -> int:
    """Uncompressed bytes of a .vtu series (every frame repeats points and cells): the space to check."""
    per_frame = n_points * (3 * 8 + 4 * n_channels) + 4096
    if cells is not None:
        per_frame += 8 * (len(cells.connectivity) + len(cells.offsets)) + len(cells.types)
    return int(n_frames * per_frame + 1024 * (n_frames + 1))


def write_pvd(
    traj: Trajectory,
    path: str | os.PathLike,
    *,
    provenance: Mapping[str, Any] | None = None,
    compressor: str = "zlib",
    level: int | None = 1,
    progress: bool = False,
) -> Path:
    """Write `path` (.pvd) and one .vtu per frame in the folder `<path without .pvd>/`.

    provenance: extra FieldData (e.g. is_prediction=True, model_id=..., checkpoint=...);
    `is_prediction` and `model_id` default to the trajectory metadata's values.
    Returns the .pvd path. The frames are written into a temporary folder that replaces the frame
    folder when complete, and the .pvd is written last and atomically, so a reader never sees a
    collection that lists missing frames, and a failure (a full disk) leaves nothing partial.

    Raises
    ------
    DiskFullError
        When the folder's disk has too little space for the series (checked first), or fills up.
    """
    path = Path(path)
    if path.suffix.lower() != ".pvd":
        path = path.with_suffix(".pvd")
    stem = path.stem
    require_space(path.parent, series_bytes(traj.n_frames, traj.n_points, traj.n_channels, traj.cells),
                  f"writing the series {path} ({traj.n_frames} frames)")
    grid = convert.make_unstructured_grid(traj.points, traj.cells)
    prov = {
        "is_prediction": bool(traj.metadata.get("is_prediction", False)),
        "echo_model_id": str(traj.metadata.get("model_id", "")),
    }
    for k, v in (provenance or {}).items():
        prov["echo_model_id" if k == "model_id" else k] = v
    static = dict(prov)
    static["echo_params"] = json.dumps(traj.params)
    static.update({f"param_{k}": float(v) for k, v in traj.params.items()})
    static["echo_field_layout"] = json.dumps(traj.field_layout)
    static["echo_dim"] = int(traj.dim)  # planar 3D data must not come back as 2D
    static["echo_metadata"] = json.dumps(traj.metadata, default=str)
    convert.set_field_data(grid, static)
    writer = _writer(compressor, level)
    writer.SetInputData(grid)
    with atomic_folder(path.parent / stem, f"writing the series {path}") as frame_dir:
        rows = _write_frames(traj, grid, writer, frame_dir, stem, path.name if progress else None)
    try:
        write_pvd_index(path, rows)
    except BaseException as exc:
        remove_tree(path.parent / stem)  # frames without their .pvd are of no use
        if is_disk_full(exc):
            raise disk_full_error(path.parent, f"writing the series {path}") from None
        raise
    return path


def _write_frames(traj: Trajectory, grid, writer, frame_dir: Path, stem: str, bar: str | None) -> list:
    """One .vtu per frame into `frame_dir`; returns the .pvd rows (time, `stem/name`)."""
    rows = []
    iterator: Iterable[int] = range(traj.n_frames)
    if bar is not None:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"writing {bar}", unit="frame")
    width = max(4, len(str(traj.n_frames - 1)))
    for i in iterator:
        convert.add_fields(grid, traj.fields[i], traj.field_layout)
        convert.set_field_data(grid, {"TimeValue": float(traj.times[i])})
        name = f"{stem}_{i:0{width}d}.vtu"
        writer.SetFileName(str(frame_dir / name))
        if writer.Write() != 1:
            raise OSError(errno.ENOSPC if _disk_full(frame_dir) else errno.EIO,
                          f"VTK could not write {frame_dir / name} (disk full or not writable?)")
        rows.append((float(traj.times[i]), f"{stem}/{name}"))
    return rows


def _disk_full(folder: Path) -> bool:
    """VTK's writer cannot say why it failed: a (nearly) full disk is the likely reason when space is short."""
    try:
        return free_bytes(folder) < MARGIN
    except OSError:
        return False


def write_pvd_index(path: Path, rows: Sequence[tuple[float, str]]) -> None:
    """The .pvd collection file (atomic) listing existing frame files as (time, path relative to it)."""
    root = ET.Element("VTKFile", type="Collection", version="0.1", byte_order="LittleEndian")
    coll = ET.SubElement(root, "Collection")
    for t, f in rows:
        ET.SubElement(coll, "DataSet", timestep=repr(float(t)), group="", part="0", file=f)
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)


def write_series_json(path: str | os.PathLike, rows: Sequence[tuple[float, str]]) -> Path:
    """A `*.vtu.series` file (ParaView's JSON alternative to .pvd) for existing frame files."""
    path = Path(path)
    doc = {"file-series-version": "1.0", "files": [{"name": f, "time": float(t)} for t, f in rows]}
    return write_text_atomic(path, json.dumps(doc, indent=1))

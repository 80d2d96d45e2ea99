"""The one on-disk training dataset format: a single HDF5 file, written atomically.

Why HDF5 (h5py): chunked per frame so a training window reads only the frames it needs,
lazily sliced (the file never has to fit in memory), portable, inspectable with h5dump, and
close to The Well's layout that peers use. Each trajectory has its own point set, because
unstructured CFD meshes differ per geometry.

Layout (format_version 1):
    /                         attrs: format="echo-dataset", format_version, name, field_layout (JSON),
                              domain (JSON), n_trajectories, description
    /stats/mean, /stats/std   (C,) per-channel z-score statistics over the training split
    /split/train|val|test     int64 trajectory indices
    /trajectories/<i:06d>/    points (N, d) f64, fields (T, N, C) f32 chunked (1, N, C),
                              times (T,) f64, attrs params (JSON) and metadata (JSON),
                              optional cells/{connectivity, offsets, types}
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..atomic import atomic_path
from ..disk_space import require_space
from ..errors import EchoUserError
from ..stale_temps import remove_stale_temps
from .array_checks import UnevenTimeStepWarning, check_cells, check_times, uneven_steps  # noqa: F401
from .h5_guard import check_links, require_stored
from .normalize import ChannelStats, Domain, RunningStats
from .trajectory import Cells, Trajectory

FORMAT = "echo-dataset"
FORMAT_VERSION = 1
_RECREATE = "re-create it with `echopv import` / `echopv generate`"


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading/writing ECHO datasets needs h5py: `pip install h5py` in the echo-paraview venv"
        ) from exc
    return h5py


@dataclass
class DatasetInfo:
    name: str
    field_layout: list[tuple[str, int]]
    n_trajectories: int
    domain: Domain
    stats: ChannelStats
    split: dict[str, np.ndarray]
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        return sum(n for _, n in self.field_layout)

    @property
    def dim(self) -> int:
        return self.domain.dim


def default_split(n: int, val: float = 0.1, test: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic shuffled split; at least one training trajectory, val/test only if n >= 3."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val)) if n >= 3 else 0
    n_test = int(round(n * test)) if n >= 3 else 0
    n_val = max(n_val, 1) if n >= 3 and val > 0 else n_val
    n_test = max(n_test, 1) if n >= 3 and test > 0 else n_test
    return {
        "train": np.sort(order[n_val + n_test :]),
        "val": np.sort(order[:n_val]),
        "test": np.sort(order[n_val : n_val + n_test]),
    }


def _write_trajectory(g, traj: Trajectory, compression: str | None) -> None:
    """One trajectory's group: points, per-frame field chunks, times, params, metadata, cells."""
    # points and cells of regular grids compress ~10x (fields of noisy floats hardly do)
    g.create_dataset("points", data=traj.points, compression=compression)
    g.create_dataset("fields", data=traj.fields, chunks=(1, traj.n_points, traj.n_channels),
                     compression=compression)
    g.create_dataset("times", data=traj.times)
    g.attrs["params"] = json.dumps(traj.params)
    g.attrs["metadata"] = json.dumps(traj.metadata, default=str)
    if traj.cells is not None:
        c = g.create_group("cells")
        for key, arr in (("connectivity", traj.cells.connectivity.astype(np.int64)),
                         ("offsets", traj.cells.offsets.astype(np.int64)),
                         ("types", traj.cells.types.astype(np.uint8))):
            c.create_dataset(key, data=arr, compression=compression)


def _merged_stats(parts: list[RunningStats]) -> ChannelStats:
    """Per-channel statistics of several trajectories, merged exactly (Chan et al.)."""
    total = RunningStats(len(parts[0].mean))
    for s in parts:
        if s.count == 0:
            continue
        delta = s.mean - total.mean
        tot = total.count + s.count
        total.mean = total.mean + delta * s.count / tot
        total.m2 = total.m2 + s.m2 + delta**2 * total.count * s.count / tot
        total.count = tot
    return total.result()


def write_dataset(
    path: str | os.PathLike,
    trajectories: Iterable[Trajectory],
    *,
    name: str,
    domain: Domain | None = None,
    split: dict[str, Sequence[int]] | None = None,
    description: str = "",
    compression: str | None = "gzip",
    extra: dict | None = None,
    progress: bool = False,
) -> DatasetInfo:
    """Stream trajectories into a new dataset file; the file appears only when complete.

    Statistics are computed over the training split. `trajectories` may be a generator, so a
    dataset larger than memory is written one trajectory at a time.

    Parameters
    ----------
    path : str or os.PathLike
        The .h5 file to create (written to a temporary name, then renamed: never half a file).
    trajectories : iterable of Trajectory
        All with the same field layout and dimension; meshes may differ between trajectories.
    name : str
        The dataset's name (shown by `echopv info`).
    domain : Domain, optional
        The box the points live in and its periodic axes; default the points' bounding box,
        not periodic.
    split : dict of str to sequence of int, optional
        Trajectory indices per split ("train", "val", "test"); default a deterministic shuffled
        80/10/10 split (`default_split`).
    description : str, optional
        Free text: the physics, the generator.
    compression : {"gzip", "lzf", None}, default "gzip"
        HDF5 compression of points, cells and fields (None: uncompressed, faster to write).
    extra : dict, optional
        JSON-serialisable metadata stored with the dataset (generator settings, provenance).
    progress : bool, default False
        Show a progress bar while writing.

    Returns
    -------
    DatasetInfo
        Name, field layout, trajectory count, domain, per-channel statistics and split, as a
        `TrajectoryStore` of the new file reports them.

    Example
    -------
    >>> import tempfile, numpy as np
    >>> from echo_model.data.trajectory import Trajectory
    >>> pts = np.random.default_rng(0).uniform(size=(50, 2))
    >>> trajs = [Trajectory(pts, np.full((3, 50, 1), float(i), np.float32), [0.0, 0.1, 0.2], [("p", 1)])
    ...          for i in range(4)]
    >>> info = write_dataset(tempfile.mkdtemp() + "/d.h5", trajs, name="demo",
    ...                      split={"train": [0, 1, 2], "test": [3]})
    >>> info.n_trajectories, info.field_layout, float(info.stats.mean[0])
    (4, [('p', 1)], 1.0)
    """
    h5py = _h5py()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)  # what a killed earlier write left behind
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        tally = _write_trajectories(f.create_group("trajectories"), _with_progress(trajectories, path, progress),
                                    path, tmp, compression)
        splits = _full_split(split, tally.n)
        stats_src = splits["train"] if len(splits["train"]) else np.arange(tally.n)
        stats = _merged_stats([tally.stats[int(i)] for i in stats_src])
        f.create_dataset("stats/mean", data=stats.mean)
        f.create_dataset("stats/std", data=stats.std)
        for key, idx in splits.items():
            f.create_dataset(f"split/{key}", data=idx)
        _write_attrs(f, tally, name=name, domain=domain or Domain(tally.lo, tally.hi, ()),
                     description=description, extra=extra)
    return read_info(path)


@dataclass
class _WriteTally:
    """What writing the trajectories learned about them: count, field layout, bounds, statistics."""

    n: int = 0
    layout: list[tuple[str, int]] | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    stats: list[RunningStats] = field(default_factory=list)

    def add(self, traj: Trajectory) -> None:
        rs = RunningStats(traj.n_channels)
        rs.update(traj.fields)
        self.stats.append(rs)
        tlo, thi = traj.bounds()
        self.lo = tlo if self.lo is None else np.minimum(self.lo, tlo)
        self.hi = thi if self.hi is None else np.maximum(self.hi, thi)
        self.n += 1


def _with_progress(trajectories: Iterable[Trajectory], path: Path, progress: bool) -> Iterable[Trajectory]:
    """The trajectories, behind a tqdm bar when `progress` is set."""
    if not progress:
        return trajectories
    from tqdm import tqdm

    return tqdm(trajectories, desc=f"writing {path.name}", unit="traj")


def _write_trajectories(group, trajectories: Iterable[Trajectory], path: Path, tmp: Path,
                        compression: str | None) -> _WriteTally:
    """Check and write each trajectory into `group` (one field layout, finite values, room on disk)."""
    tally = _WriteTally()
    for traj in trajectories:
        n = tally.n
        if tally.layout is None:
            tally.layout = list(traj.field_layout)
        elif list(traj.field_layout) != tally.layout:
            raise EchoUserError(
                f"trajectory {n} has fields {traj.field_layout}, expected {tally.layout}: "
                "a dataset holds one set of fields"
            )
        require_finite_trajectory(traj, f"trajectory {n} written to {path}")
        warn_uneven_steps(traj, f"trajectory {n} written to {path}")
        # HDF5 segfaults when a full disk stops it flushing: never start a trajectory that may not fit
        require_space(tmp.parent, trajectory_bytes(traj), f"writing trajectory {n} of {path}")
        _write_trajectory(group.create_group(f"{n:06d}"), traj, compression)
        tally.add(traj)
    if tally.n == 0 or tally.layout is None:
        raise EchoUserError("no trajectories to write")
    return tally


def _full_split(split: dict[str, Sequence[int]] | None, n: int) -> dict[str, np.ndarray]:
    """The given split (default `default_split(n)`) as int64 arrays, with every missing split empty."""
    splits = {k: np.asarray(v, dtype=np.int64) for k, v in (split or default_split(n)).items()}
    for key in ("train", "val", "test"):
        splits.setdefault(key, np.zeros(0, dtype=np.int64))
    return splits


def _write_attrs(f, tally: _WriteTally, *, name: str, domain: Domain, description: str,
                 extra: dict | None) -> None:
    """The file's root attributes: format, name, field layout, domain, count, extra metadata."""
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["name"] = name
    f.attrs["description"] = description
    f.attrs["field_layout"] = json.dumps(tally.layout)
    f.attrs["domain"] = json.dumps(domain.to_dict())
    f.attrs["n_trajectories"] = tally.n
    f.attrs["extra"] = json.dumps(extra or {}, default=str)


def trajectory_bytes(traj: Trajectory) -> int:
    """Uncompressed bytes of one trajectory's group (an upper bound of what it takes on disk)."""
    size = traj.points.nbytes + traj.fields.nbytes + np.asarray(traj.times).nbytes + 4096
    if traj.cells is not None:
        size += 8 * (len(traj.cells.connectivity) + len(traj.cells.offsets)) + len(traj.cells.types)
    return int(size)


def warn_uneven_steps(traj: Trajectory, where: str) -> None:
    """Warn (UnevenTimeStepWarning) when a trajectory's frames are not equally spaced in time."""
    import warnings

    text = uneven_steps(traj.times)
    if text is not None:
        meta = traj.metadata if isinstance(traj.metadata, dict) else {}
        source = meta.get("case") or meta.get("source")  # an OpenFOAM case's folder, else what the reader says
        warnings.warn(f"{where}{f' (from {source})' if source else ''} has uneven time steps: {text}; a missing "
                      "time directory or output step? Models assume one dt between frames, so they learn a wrong "
                      "step there: restore the missing output, or import an evenly spaced range (--skip-time, "
                      "--end-time)", UnevenTimeStepWarning, stacklevel=3)


def require_finite_trajectory(traj: Trajectory, where: str) -> None:
    """A dataset never stores NaN/Inf: its statistics and every model trained on it would be NaN.

    `where` names the trajectory for the message (its source file, or its slot in the dataset)."""
    if not np.isfinite(traj.points).all():
        raise EchoUserError(f"{where} has NaN/Inf point coordinates: fix the mesh and import again")
    finite = np.isfinite(traj.fields)
    if finite.all():
        return
    frame = int(np.argwhere(~finite.all(axis=(1, 2)))[0, 0])
    channel = int(np.argwhere(~finite[frame].all(axis=0))[0, 0])
    bounds = np.cumsum([0] + [c for _, c in traj.field_layout])
    name = traj.field_layout[int(np.searchsorted(bounds, channel, side="right")) - 1][0]
    raise EchoUserError(
        f"{where} has {int((~finite).sum())} NaN/Inf value(s), first in field {name!r} at frame {frame} "
        f"(t = {float(traj.times[frame]):g}): clean the source, or leave those time steps out "
        "(`echopv import --skip-time/--every`), and import again")


def read_info(path: str | os.PathLike) -> DatasetInfo:
    with TrajectoryStore(path) as store:
        return store.info


class TrajectoryStore:
    """Read access to a dataset file. Trajectories are loaded lazily, frames sliced on demand.

    Parameters
    ----------
    path : str or os.PathLike
        An ECHO dataset (.h5) written by `write_dataset` (`echopv generate`, `echopv import`).
        A missing file is a FileNotFoundError; a file that is not an ECHO dataset, or is
        truncated, an EchoUserError that says how to re-create it.

    Attributes
    ----------
    info : DatasetInfo
        Name, field layout, trajectory count, domain, statistics and split.

    Notes
    -----
    `len(store)`, `store[i]` (a whole Trajectory), `points(i)`, `times(i)`, `params(i)`,
    `cells(i)`, `read_fields(i, frames)` (only the asked frames are read), `split_indices(name)`.
    Use it as a context manager, or call `close()`.

    Example
    -------
    >>> with TrajectoryStore("sample_cases/ns2d_vorticity/ns2d_64.h5") as store:
    ...     print(len(store), store.info.field_layout, store.points(0).shape)
    ...     print(store.read_fields(0, [0, 20]).shape, store.split_indices("test").tolist())
    26 [('vorticity', 1)] (4096, 2)
    (2, 4096, 1) [2, 19, 25]
    """

    def __init__(self, path: str | os.PathLike) -> None:
        h5py = _h5py()
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no dataset at {self.path} (create one with `echopv generate` or `echopv import`)")
        self._file = None
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:  # h5py's message for a truncated or non-HDF5 file
            raise EchoUserError(f"{self.path} is not a readable ECHO dataset: HDF5 cannot open it ({exc}), it is "
                                "truncated or not an HDF5 file; "
                                "copy it again or re-create it with `echopv import` / `echopv generate`") from None
        attrs = self._file.attrs
        if attrs.get("format") != FORMAT:
            self._file.close()
            raise EchoUserError(
                f"{self.path} is not an ECHO dataset (format attribute {attrs.get('format')!r}); "
                "convert it with `echopv import`"
            )
        self._checked: set[int] = set()  # trajectories whose links and shapes were checked
        try:
            self._check_top_level()
            self.info = self._read_info(attrs)
        except EchoUserError:
            self._file.close()
            raise
        except (KeyError, TypeError, ValueError) as exc:
            self._file.close()
            raise EchoUserError(f"{self.path} says it is an ECHO dataset but is incomplete or damaged ({exc}); "
                                "re-create it with `echopv import` / `echopv generate`") from None

    def _check_top_level(self) -> None:
        """Links and stored sizes of what `info` reads; each trajectory is checked when first used."""
        f = self._file
        check_links(f, self.path, ("stats", "split", "trajectories"))
        for name in ("stats", "split"):
            if name in f:
                check_links(f[name], self.path)
                for ds in f[name].values():
                    if hasattr(ds, "dtype"):  # a group in their place fails later, as damaged
                        require_stored(ds, self.path)

    def _n_trajectories(self, attrs) -> int:
        n, present = int(attrs["n_trajectories"]), len(self._file["trajectories"])
        if not 0 <= n <= present:
            raise EchoUserError(f"{self.path} declares n_trajectories = {n} but holds {present} trajectory groups: "
                                f"the file is damaged or crafted; {_RECREATE}")
        return n

    def _read_info(self, attrs) -> DatasetInfo:
        if int(attrs["format_version"]) > FORMAT_VERSION:
            raise EchoUserError(f"{self.path} has format_version {attrs['format_version']}, newer than this "
                                "echo-paraview: update echo-paraview")
        return DatasetInfo(
            name=str(attrs["name"]),
            field_layout=[(str(a), int(b)) for a, b in json.loads(attrs["field_layout"])],
            n_trajectories=self._n_trajectories(attrs),
            domain=Domain.from_dict(json.loads(attrs["domain"])),
            stats=ChannelStats(self._file["stats/mean"][()], self._file["stats/std"][()]),
            split=self._read_split(n_trajectories=int(attrs["n_trajectories"])),
            description=str(attrs.get("description", "")),
            extra=json.loads(attrs.get("extra", "{}")),
        )

    def _read_split(self, n_trajectories: int) -> dict[str, np.ndarray]:
        """Each split a 1-D list of trajectory indices in [0, n_trajectories)."""
        split = {}
        for k in self._file["split"]:
            idx = np.asarray(self._file[f"split/{k}"][()])
            if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
                raise EchoUserError(f"{self.path}: split/{k} must be a 1-D list of trajectory indices, got "
                                    f"{idx.dtype} {idx.shape}; {_RECREATE}")
            bad = (idx < 0) | (idx >= n_trajectories)
            if bad.any():
                raise EchoUserError(f"{self.path}: split/{k} names trajectory {int(idx[bad][0])}, but the file holds "
                                    f"{n_trajectories} (indices 0..{n_trajectories - 1}); {_RECREATE}")
            split[k] = idx.astype(np.int64, copy=False)
        return split

    def _json_attr(self, i: int, name: str) -> Any:
        raw = self._group(i).attrs.get(name, "{}")
        try:
            obj = json.loads(raw)
        except RecursionError:
            obj = None
        except (TypeError, ValueError):
            raise EchoUserError(f"{self._where(i)}: its {name} attribute is not JSON ({str(raw)[:60]!r}); "
                                f"{_RECREATE}") from None
        if not isinstance(obj, dict):
            raise EchoUserError(f"{self._where(i)}: its {name} attribute must be a JSON object "
                                f"{{\"name\": value, ...}}, got {type(obj).__name__}; {_RECREATE}")
        return obj

    def require_finite(self) -> None:
        """Refuse a dataset whose statistics are NaN/Inf (it holds NaN/Inf values): checked at train start."""
        bad = [name for name, arr in (("mean", self.info.stats.mean), ("std", self.info.stats.std))
               if not np.isfinite(arr).all()]
        if bad:
            raise EchoUserError(f"{self.path} holds NaN or Inf values (its channel {' and '.join(bad)} are not "
                                "finite): clean the source data and import it again with `echopv import`")

    def __enter__(self) -> "TrajectoryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __len__(self) -> int:
        return self.info.n_trajectories

    def _group(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"trajectory {i} out of range (dataset has {len(self)})")
        if i not in self._checked:
            self._check_trajectory(i)
            self._checked.add(i)
        return self._file[f"trajectories/{i:06d}"]

    def _where(self, i: int) -> str:
        return f"{self.path} trajectory {i}"

    def _check_trajectory(self, i: int) -> None:
        """Before reading trajectory i: no links out, shapes that agree, every declared byte stored."""
        trajs = self._file["trajectories"]
        check_links(trajs, self.path, (f"{i:06d}",))
        if f"{i:06d}" not in trajs:
            raise EchoUserError(f"{self._where(i)} is missing (no group trajectories/{i:06d}); {_RECREATE}")
        g = trajs[f"{i:06d}"]
        check_links(g, self.path)
        arrays = {key: g.get(key) for key in ("points", "fields", "times")}
        if "cells" in g:
            check_links(g["cells"], self.path)
            arrays.update({f"cells/{key}": g["cells"].get(key) for key in ("connectivity", "offsets", "types")})
        for key, ds in arrays.items():
            if not hasattr(ds, "dtype"):
                raise EchoUserError(f"{self._where(i)} has no dataset {key!r}; {_RECREATE}")
            require_stored(ds, self.path)
        self._check_shapes(i, arrays["points"].shape, arrays["fields"].shape, arrays["times"].shape)

    def _check_shapes(self, i: int, points: tuple, fields: tuple, times: tuple) -> None:
        c = self.info.n_channels
        if len(fields) == 3 and times != fields[:1]:
            raise EchoUserError(f"{self._where(i)}: times has shape {times} but the fields hold {fields[0]} frames "
                                f"(one time per frame): the file is damaged or crafted; {_RECREATE}")
        ok = (len(points) == 2 and points[1] in (2, 3) and len(fields) == 3 and fields[1:] == (points[0], c)
              and times == fields[:1])
        if not ok:
            raise EchoUserError(f"{self._where(i)}: shapes points {points}, fields {fields}, times {times} do not fit "
                                f"together (expected (N, 2 or 3), (T, N, {c}), (T,)): the file is damaged or "
                                f"crafted; {_RECREATE}")

    def n_frames(self, i: int) -> int:
        return int(self._group(i)["fields"].shape[0])

    def n_points(self, i: int) -> int:
        return int(self._group(i)["points"].shape[0])

    def points(self, i: int) -> np.ndarray:
        return self._group(i)["points"][()]

    def times(self, i: int) -> np.ndarray:
        """(T,) the trajectory's times, checked finite, strictly increasing, one per frame."""
        t = self._group(i)["times"][()]
        check_times(t, self.n_frames(i), self._where(i))
        return t

    def cells(self, i: int) -> Cells | None:
        """The trajectory's display cells (checked: ids in range, consistent offsets, known types), or None."""
        g = self._group(i)
        if "cells" not in g:
            return None
        c = g["cells"]
        cells = Cells(c["connectivity"][()], c["offsets"][()], c["types"][()])
        check_cells(cells, self.n_points(i), self._where(i))
        return cells

    def metadata(self, i: int) -> dict[str, Any]:
        """The trajectory's free-form metadata (case name, provenance, ...), without reading its fields."""
        return self._json_attr(i, "metadata")

    def params(self, i: int) -> dict[str, float]:
        """The trajectory's PDE parameters: names to finite numbers (anything else is refused, naming it)."""
        params = self._json_attr(i, "params")
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise EchoUserError(f"{self._where(i)}: parameter {name!r} is {str(value)[:40]!r} "
                                    f"({type(value).__name__}); parameters must be numbers: write it as a number, "
                                    f"e.g. {{\"{name}\": 0.01}}, and {_RECREATE}")
            if not np.isfinite(value):
                raise EchoUserError(f"{self._where(i)}: parameter {name!r} is {value}; a model cannot be conditioned "
                                    f"on NaN/Inf: give it a finite value and {_RECREATE}")
        return params

    def read_fields(self, i: int, frames: slice | Sequence[int] = slice(None)) -> np.ndarray:
        """(T', N, C) for the requested frames, reading only those chunks."""
        ds = self._group(i)["fields"]
        if isinstance(frames, slice):
            return ds[frames]
        idx = np.asarray(frames)
        order = np.argsort(idx)
        out = ds[np.sort(idx)]  # h5py wants increasing indices
        return out[np.argsort(order)]

    def __getitem__(self, i: int) -> Trajectory:
        g = self._group(i)
        return Trajectory(
            points=g["points"][()],
            fields=g["fields"][()],
            times=self.times(i),
            field_layout=self.info.field_layout,
            params=self.params(i),
            cells=self.cells(i),
            metadata=self.metadata(i),
        )

    def __iter__(self) -> Iterator[Trajectory]:
        for i in range(len(self)):
            yield self[i]

    def split_indices(self, name: str) -> np.ndarray:
        if name not in self.info.split:
            raise EchoUserError(f"{self.path} has no split {name!r}; it has {sorted(self.info.split)}: pass one of "
                                "those (--split), or re-create the dataset with that split")
        return self.info.split[name]

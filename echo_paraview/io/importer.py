"""Convert simulation output to an ECHO dataset (.h5): one trajectory per source.

SRC may be: an OpenFOAM case directory (it has system/controlDict; cell centres + cell fields,
2D slabs become 2D points), a `.pvd` / `*.vtu.series` file, a directory or a quoted glob of
`.vtu/.vtp/.vti/.vts/.vtr/.vtm` frames, or a The Well `.hdf5`/`.h5` file (every sample in it
becomes a trajectory). Several SRCs give several trajectories; they must share the field set
(pick it with --fields).

examples:
  echopv import runs/cyl_*/ --out data/cyl.h5 --fields U,p --start-time 2
  echopv import run/ --out data/first_part.h5 --start-time 2 --end-time 30   # train on t <= 30, forecast the rest
  echopv import out/run.pvd --out data/run.h5 --every 2
  echopv import 'frames/step_*.vtu' --out data/frames.h5
  echopv import shear_flow_Re1e4.hdf5 --out data/shear.h5 --fields tracer,velocity
"""
from __future__ import annotations

import argparse
import glob as _glob
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from echo_model.data.normalize import Domain
from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError

from .time_range import check_time_range, select_time_range

SERIES_NAMES = (".pvd", ".series")
WELL_SUFFIXES = (".hdf5", ".h5", ".hdf")


@dataclass
class ImportOptions:
    """What to read from each source. skip_time / end_time: keep the frames with
    skip_time <= t <= end_time (`--start-time` (alias `--skip-time`) / `--end-time`)."""

    fields: list[str] | None = None
    every: int = 1
    skip_time: float | None = None
    end_time: float | None = None
    block: str | None = None
    dim: int | None = None
    cells: bool = True
    progress: bool = True


# --------------------------------------------------------------------------------------------
# source detection
# --------------------------------------------------------------------------------------------
def detect(src: str) -> str:
    """'openfoam' | 'series' | 'well' for one SRC argument; raise naming the fix otherwise."""
    if any(ch in src for ch in "*?["):
        if not _glob.glob(src):
            raise FileNotFoundError(f"no files match {src!r}")
        return "series"
    path = Path(src)
    if not path.exists():
        raise FileNotFoundError(
            f"{src} does not exist: give an OpenFOAM case directory, a .pvd/.vtu.series file, a folder "
            "or quoted glob of .vtu/.vtp/.vti frames, or a The Well .hdf5 file"
        )
    if path.is_dir():
        if (path / "system" / "controlDict").exists():
            return "openfoam"
        return "series"
    name = path.name.lower()
    if name.endswith(".foam") and (path.parent / "system" / "controlDict").exists():
        return "openfoam"
    if name.endswith(SERIES_NAMES) or path.suffix.lower() in (".vtu", ".vtp", ".vti", ".vts", ".vtr", ".vtm"):
        return "series"
    if path.suffix.lower() in WELL_SUFFIXES:
        from echo_model.io_well import is_well_file

        if is_well_file(path):
            return "well"
        from echo_model.data.store import FORMAT

        try:
            import h5py

            with h5py.File(path, "r") as f:
                if f.attrs.get("format") == FORMAT:
                    raise EchoUserError(f"{src} is already an ECHO dataset: use it directly (`echopv info {src}`)")
        except OSError as exc:
            raise EchoUserError(f"{src} is not a readable HDF5 file ({exc})") from exc
        raise EchoUserError(f"{src} is HDF5 but not in The Well layout (dimensions/ + t0_fields/...); convert it to .pvd/.vtu first")
    raise EchoUserError(
        f"{src}: unknown input type {path.suffix!r}; supported: OpenFOAM case dir, .pvd, .vtu.series, "
        ".vtu/.vtp/.vti/.vts/.vtr/.vtm frames, The Well .hdf5 (static meshes go to `echopv rollout --query-mesh`)"
    )


# --------------------------------------------------------------------------------------------
# readers per kind
# --------------------------------------------------------------------------------------------
def _thin(traj: Trajectory, every: int, start: float | None = None, end: float | None = None,
          where: str = "the source") -> Trajectory:
    idx = np.arange(traj.n_frames)
    if start is not None or end is not None:
        idx = select_time_range(traj.times, start, end, where)
    idx = idx[::every]
    return traj if idx.size == traj.n_frames else traj.frames(idx)


def read_openfoam(src: str, opt: ImportOptions) -> Trajectory:
    from echo_model.cases import openfoam

    case = Path(src)
    if case.is_file():  # a .foam marker file
        case = case.parent
    fields = opt.fields or ["U", "p"]
    written = np.array([t for t, _ in openfoam.time_directories(case)])
    if written.size and (opt.skip_time is not None or opt.end_time is not None):
        select_time_range(written, opt.skip_time, opt.end_time, str(case))  # names the span, before any read
    traj = openfoam.read_case(case, fields=fields, t_min=opt.skip_time, t_max=opt.end_time, progress=opt.progress)
    return _thin(traj, opt.every)


def read_vtk_series(src: str, opt: ImportOptions) -> Trajectory:
    from .pvd import read_series

    return read_series(
        src,
        fields=opt.fields,
        every=opt.every,
        skip_time=opt.skip_time,
        end_time=opt.end_time,
        dim=opt.dim,
        block=opt.block,
        with_cells=opt.cells,
        progress=opt.progress,
    )


def iter_sources(sources: Sequence[str], opt: ImportOptions) -> Iterator[Trajectory]:
    """Trajectories of all sources, one at a time (Well files yield one per sample); NaN/Inf refused."""
    from echo_model.data.store import require_finite_trajectory

    first: tuple[str, list] | None = None
    for src in sources:
        for traj in _named_source(src, opt):
            require_finite_trajectory(traj, src)  # names the source file, not the half-written dataset
            layout = list(traj.field_layout)
            if first is None:
                first = (src, layout)
            elif layout != first[1]:  # checked here, where the message can name both sources
                raise EchoUserError(f"{src} has fields {layout} but {first[0]} has {first[1]}: a dataset holds one "
                                    "set of fields; choose common ones with --fields or import them separately")
            yield traj


def _named_source(src: str, opt: ImportOptions) -> Iterator[Trajectory]:
    """`_read_source`, whose user errors always name the source (a reader's message may not)."""
    from echo_model.errors import EchoUserError

    try:
        yield from _read_source(src, opt)
    except EchoUserError as exc:
        if str(src) in str(exc):
            raise
        raise EchoUserError(f"{src}: {exc}") from None


def _read_source(src: str, opt: ImportOptions) -> Iterator[Trajectory]:
    kind = detect(src)
    if kind == "openfoam":
        yield read_openfoam(src, opt)
    elif kind == "series":
        yield read_vtk_series(src, opt)
    else:
        from echo_model.io_well import iter_well_trajectories

        # the Well reader knows a start time only: the end is applied to each sample it yields
        for traj in iter_well_trajectories(src, fields=opt.fields, every=1 if opt.end_time is not None else opt.every,
                                           skip_time=opt.skip_time, cells=opt.cells):
            yield traj if opt.end_time is None else _thin(traj, opt.every, None, opt.end_time, src)


def _series_domain(src: str) -> Domain | None:
    """The domain box `echopv export` stored in a series' first frame (FieldData echo_metadata)."""
    import json

    from .pvd import _field_data, read_frame, resolve_series

    try:
        meta = json.loads(_field_data(read_frame(resolve_series(src)[0].path)).get("echo_metadata", "{}"))
        return Domain.from_dict(meta["echo_domain"]) if "echo_domain" in meta else None
    except (EchoUserError, ValueError, KeyError, TypeError, OSError):
        return None


def _source_domain(sources: Sequence[str]) -> Domain | None:
    """A domain the sources state themselves (The Well files: periodic axes; series written by
    `echopv export`: the original dataset's box), when they all agree; else None (the dataset
    writer then takes the bounding box of the points, non-periodic)."""
    from echo_model.io_well import well_domain

    doms = []
    for s in sources:
        kind = detect(s)
        d = well_domain(s) if kind == "well" else _series_domain(s) if kind == "series" else None
        if d is None:
            return None
        doms.append(d)
    if not doms:
        return None
    if any(d.periodic != doms[0].periodic or d.dim != doms[0].dim for d in doms):
        return None
    return Domain(
        np.min([d.lo for d in doms], axis=0), np.max([d.hi for d in doms], axis=0), doms[0].periodic
    )


def parse_split(text: str | None, n_hint: int | None = None) -> dict[str, list[int]] | tuple[float, float] | None:
    """--split: None/'' (default 10 %/10 %), 'none' (all train), 'val=0.1,test=0.2' (fractions),
    or explicit indices 'train=0-7,val=8,test=9+10'."""
    if not text:
        return None
    if text.strip().lower() in ("none", "train", "all"):
        return {"train": list(range(n_hint))} if n_hint is not None else ("all", 0.0)  # type: ignore[return-value]
    out: dict[str, list[int]] = {}
    fracs: dict[str, float] = {}
    for part in text.split(","):
        if "=" not in part:
            raise EchoUserError(f"--split {text!r}: expected key=value items such as val=0.1,test=0.1 or train=0-7,val=8,test=9")
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in ("train", "val", "test"):
            raise EchoUserError(f"--split: unknown split {key!r} (use train, val, test)")
        if "." in value:
            fracs[key] = float(value)
            continue
        idx: list[int] = []
        for tok in value.split("+"):
            if "-" in tok:
                a, b = tok.split("-", 1)
                idx.extend(range(int(a), int(b) + 1))
            elif tok:
                idx.append(int(tok))
        out[key] = idx
    if fracs and out:
        raise EchoUserError(f"--split {text!r}: use either fractions or indices, not both")
    if fracs:
        return (fracs.get("val", 0.0), fracs.get("test", 0.0))
    return out


def _resolve_split(spec, n: int) -> dict[str, list[int]] | None:
    from echo_model.data.store import default_split

    if spec is None:
        return None
    if isinstance(spec, tuple):
        if spec[0] == "all":
            return {"train": list(range(n)), "val": [], "test": []}
        return {k: v.tolist() for k, v in default_split(n, val=spec[0], test=spec[1]).items()}
    used = [i for v in spec.values() for i in v]
    bad = [i for i in used if not 0 <= i < n]
    if bad:
        raise EchoUserError(f"--split names trajectories {bad} but only {n} were imported (0..{n - 1})")
    if "train" not in spec:
        spec["train"] = [i for i in range(n) if i not in set(used)]
    return spec


def import_sources(
    sources: Sequence[str],
    out: str | os.PathLike,
    *,
    name: str | None = None,
    options: ImportOptions | None = None,
    split: str | None = None,
    description: str = "",
    compression: str | None = "gzip",
) -> "object":
    """Library entry point of `echopv import`; returns the written DatasetInfo."""
    from echo_model.data.store import write_dataset

    opt = options or ImportOptions()
    if not sources:
        raise EchoUserError("no SRC given")
    kinds = [detect(s) for s in sources]  # fail fast, before any long read
    out = Path(out)
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise EchoUserError(f"--out {out}: an ECHO dataset is an .h5 file (e.g. --out data/{out.stem or 'set'}.h5)")
    spec = parse_split(split)
    resolved = None
    if spec is not None:
        # the split needs the trajectory count, known up front except for Well files
        n = 0
        for s, k in zip(sources, kinds):
            if k == "well":
                from echo_model.io_well import well_info

                n += well_info(s).n_trajectories
            else:
                n += 1
        resolved = _resolve_split(spec, n)
    return write_dataset(
        out,
        iter_sources(sources, opt),
        name=name or out.stem,
        domain=_source_domain(sources),
        split=resolved,
        description=description or f"imported from {', '.join(str(s) for s in sources)[:500]}",
        extra={"sources": [str(s) for s in sources], "kinds": kinds},
        progress=opt.progress and len(sources) > 1,
        compression=compression,
    )


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("sources", nargs="+", metavar="SRC", help="case dir, .pvd/.series, frame folder/glob, or The Well file")
    parser.add_argument("--out", required=True, help="dataset file to write (.h5)")
    parser.add_argument("--name", default=None, help="dataset name (default: the --out file stem)")
    parser.add_argument("--fields", default=None, help="comma-separated field names, e.g. U,p (default: all; OpenFOAM: U,p)")
    parser.add_argument("--every", type=int, default=1, metavar="K", help="keep every K-th frame")
    parser.add_argument("--start-time", "--skip-time", dest="skip_time", type=float, default=None, metavar="T",
                        help="drop frames before time T (spin-up); --skip-time is the same option")
    parser.add_argument("--end-time", type=float, default=None, metavar="T",
                        help="drop frames after time T (e.g. keep the rest of a run for testing the forecast)")
    parser.add_argument(
        "--split", default=None,
        help="'val=0.1,test=0.1' (fractions, the default), 'none' (all train), or indices 'train=0-7,val=8,test=9+10'",
    )
    parser.add_argument("--block", default=None, help="multiblock (.vtm) frames: the block name to read (default: first non-empty)")
    parser.add_argument("--dim", type=int, choices=(2, 3), default=None, help="force 2D or 3D points (default: 2D when z is constant)")
    parser.add_argument("--no-cells", action="store_true", help="do not store display cells")
    parser.add_argument("--description", default="", help="free text stored in the dataset")
    parser.add_argument(
        "--compression", default="gzip", choices=("gzip", "lzf", "none"),
        help="HDF5 compression of the fields (gzip: smallest; none: ~10x faster to write, a few %% larger "
        "on noisy float32 data)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    opt = ImportOptions(
        fields=[f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None,
        every=args.every,
        skip_time=args.skip_time,
        end_time=args.end_time,
        block=args.block,
        dim=args.dim,
        cells=not args.no_cells,
        progress=not args.quiet,
    )
    if opt.every < 1:
        raise EchoUserError(f"--every must be >= 1, got {opt.every}")
    check_time_range(opt.skip_time, opt.end_time)
    t0 = time.perf_counter()
    info = import_sources(args.sources, args.out, name=args.name, options=opt, split=args.split,
                          description=args.description,
                          compression=None if args.compression == "none" else args.compression)
    dt = time.perf_counter() - t0
    size = Path(args.out).stat().st_size
    from echo_model.data.store import TrajectoryStore

    with TrajectoryStore(args.out) as store:
        frames = [store.n_frames(i) for i in range(len(store))]
        points = [store.n_points(i) for i in range(len(store))]
    print(
        f"wrote {args.out}: {info.n_trajectories} trajectories, {info.dim}D, fields {info.field_layout}, "
        f"frames {min(frames)}-{max(frames)}, points {min(points)}-{max(points)}, "
        f"split {{{', '.join(f'{k}: {len(v)}' for k, v in info.split.items())}}}, "
        f"{size / 1e6:.1f} MB in {dt:.1f} s"
    )
    return 0

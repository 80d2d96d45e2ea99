"""Write a dataset's trajectories as `.pvd` + `.vtu` series that ParaView opens natively.

DIR/traj_0000.pvd with its frames in DIR/traj_0000/traj_0000_0000.vtu, ... (relative paths,
so DIR can be moved or copied to another machine).

examples:
  echopv export data/cyl.h5 --out exported/
  echopv export data/cyl.h5 --out exported/ --traj 0,3 --every 2
  echopv export data/cyl.h5 --out exported/ --split test
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Sequence

from echo_model.data.store import TrajectoryStore
from echo_model.disk_space import require_space
from echo_model.errors import EchoUserError

from .pvd import COMPRESSORS, series_bytes, write_pvd


def parse_indices(text: str | None, n: int) -> list[int]:
    """'0,3,5-7' -> [0, 3, 5, 6, 7], checked against n trajectories; None -> all."""
    if not text:
        return list(range(n))
    out: list[int] = []
    for tok in text.split(","):
        tok = tok.strip()
        if not tok:
            continue
        try:
            if "-" in tok:
                a, b = tok.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(tok))
        except ValueError:
            raise EchoUserError(f"--traj {text!r}: {tok!r} is not a trajectory index or range; "
                                "write e.g. '0,3,5-7'") from None
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise EchoUserError(f"--traj {text!r}: trajectories {bad} do not exist (the dataset has 0..{n - 1})")
    return out


def export_dataset(
    dataset: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    indices: Sequence[int] | None = None,
    every: int = 1,
    compressor: str = "zlib",
    progress: bool = True,
) -> list[Path]:
    """Write the chosen trajectories; returns the .pvd paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with TrajectoryStore(dataset) as store:
        chosen = list(range(len(store))) if indices is None else list(indices)
        # the whole export up front (each series checks itself again, with its cells, and is written atomically)
        need = sum(series_bytes(len(range(0, store.n_frames(i), every)), store.n_points(i), store.info.n_channels)
                   for i in chosen)
        require_space(out_dir, need, f"exporting {len(chosen)} trajectories of {dataset}")
        for i in chosen:
            traj = store[i]
            # the domain box and its periodic axes cannot be inferred from points: carry them
            traj.metadata["echo_domain"] = store.info.domain.to_dict()
            if every > 1:
                traj = traj.frames(slice(None, None, every))
            traj.metadata.setdefault("dataset", str(dataset))
            traj.metadata["trajectory_index"] = int(i)
            written.append(
                write_pvd(traj, out_dir / f"traj_{i:04d}.pvd", compressor=compressor, progress=progress)
            )
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("dataset", metavar="DATASET.h5")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--traj", default=None, help="trajectory indices, e.g. 0,3,5-7 (default: all)")
    parser.add_argument("--split", default=None, choices=("train", "val", "test"), help="export one split")
    parser.add_argument("--every", type=int, default=1, metavar="K", help="write every K-th frame")
    parser.add_argument("--compressor", default="zlib", choices=COMPRESSORS, help="VTK XML compression")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    if args.every < 1:
        raise EchoUserError(f"--every must be >= 1, got {args.every}")
    with TrajectoryStore(args.dataset) as store:
        n = len(store)
        indices = parse_indices(args.traj, n)
        if args.split:
            keep = set(int(i) for i in store.split_indices(args.split))
            indices = [i for i in indices if i in keep]
            if not indices:
                raise EchoUserError(f"no trajectories of split {args.split!r} among those selected")
    t0 = time.perf_counter()
    try:
        paths = export_dataset(
            args.dataset, args.out, indices=indices, every=args.every, compressor=args.compressor,
            progress=not args.quiet,
        )
    except OSError as exc:  # VTK's writer cannot say why: a full disk, a quota or a read-only folder
        raise EchoUserError(f"could not write the series into {args.out} ({exc}): the disk is full, over quota "
                            "or the folder is not writable; free some space or choose another --out") from None
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(
        f"wrote {len(paths)} series to {args.out} ({size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s); "
        f"open in ParaView: paraview {paths[0] if paths else args.out}"
    )
    return 0

"""Trajectory I/O figures: .pvd series write/read, `echopv import` of a 100-frame series,
The Well write/read, and sizes on disk. Prints a markdown table, writes
benchmarks/results/io_series.md and benchmarks/results/io_series.png.

    nice -n 10 .venv/bin/python benchmarks/io_series.py            # 4k, 16k, 65k points x 100 frames
    nice -n 10 .venv/bin/python benchmarks/io_series.py --sizes 64 --frames 20   # quick

The fields are a smooth travelling wave plus noise (compresses like simulation output, not like
pure noise). Timings are wall-clock on whatever machine runs this (the table says how many cores).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from echo_model.data.store import TrajectoryStore
from echo_model.data.trajectory import Trajectory
from echo_model.io_well import read_well, write_well
from echo_paraview.io.importer import ImportOptions, import_sources
from echo_paraview.io.pvd import read_series, write_pvd

RESULTS = Path(__file__).resolve().parent / "results"


def make_traj(n: int, frames: int, seed: int = 0) -> Trajectory:
    """n x n grid, fields U (2) + p (1): a travelling wave with 1 % noise."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(n) / n, np.arange(n) / n, indexing="ij")
    pts = np.stack([x.ravel(), y.ravel()], 1)
    t = np.arange(frames) * 0.05
    ph = 2 * np.pi * (pts[None, :, 0] + pts[None, :, 1] - t[:, None])
    f = np.stack([np.sin(ph), np.cos(ph), np.sin(2 * ph) * 0.5], -1)
    f += 0.01 * rng.standard_normal(f.shape)
    return Trajectory(points=pts, fields=f.astype(np.float32), times=t, field_layout=[("U", 2), ("p", 1)],
                      params={"nu": 1e-3})


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure(n: int, frames: int, work: Path) -> dict:
    """One grid size: .pvd write (three compressors) and read, import, The Well write/read, sizes."""
    traj = make_traj(n, frames)
    raw = traj.fields.nbytes + traj.points.nbytes
    row = {"points": n * n, "frames": frames, "raw_MB": raw / 1e6}
    for comp in ("zlib", "lz4", "none"):
        d = work / f"{n}_{comp}"
        _, dt = timed(lambda: write_pvd(traj, d / "run.pvd", compressor=comp))
        row[f"write_{comp}_s"] = dt
        row[f"pvd_{comp}_MB"] = dir_size(d) / 1e6
    back, dt = timed(lambda: read_series(work / f"{n}_zlib" / "run.pvd"))
    assert np.array_equal(back.fields, traj.fields)
    row["read_pvd_s"] = dt
    out = work / f"{n}.h5"
    _, dt = timed(lambda: import_sources([str(work / f"{n}_zlib" / "run.pvd")], out,
                                         options=ImportOptions(progress=False), split="none"))
    row["import_s"] = dt
    row["dataset_MB"] = out.stat().st_size / 1e6
    out2 = work / f"{n}_raw.h5"
    _, dt = timed(lambda: import_sources([str(work / f"{n}_zlib" / "run.pvd")], out2,
                                         options=ImportOptions(progress=False), split="none",
                                         compression=None))
    row["import_none_s"] = dt
    row["dataset_none_MB"] = out2.stat().st_size / 1e6
    with TrajectoryStore(out) as s:
        assert np.array_equal(s[0].fields, traj.fields)
    w = work / f"{n}_well.hdf5"
    _, dt = timed(lambda: write_well(w, [traj]))
    row["well_write_s"] = dt
    row["well_MB"] = w.stat().st_size / 1e6
    _, dt = timed(lambda: read_well(w))
    row["well_read_s"] = dt
    return row


def table(rows: list[dict]) -> str:
    head = ("| points | frames | raw MB | .pvd write zlib / lz4 / none (s) | .pvd MB zlib / lz4 / none | "
            "read .pvd (s) | `echopv import` gzip / none (s) | dataset .h5 MB gzip / none | Well write / read (s) | Well MB |")
    lines = [head, "|" + "|".join(["---"] * 10) + "|"]
    for r in rows:
        lines.append(
            f"| {r['points']} | {r['frames']} | {r['raw_MB']:.1f} | "
            f"{r['write_zlib_s']:.2f} / {r['write_lz4_s']:.2f} / {r['write_none_s']:.2f} | "
            f"{r['pvd_zlib_MB']:.1f} / {r['pvd_lz4_MB']:.1f} / {r['pvd_none_MB']:.1f} | {r['read_pvd_s']:.2f} | "
            f"{r['import_s']:.2f} / {r['import_none_s']:.2f} | {r['dataset_MB']:.1f} / {r['dataset_none_MB']:.1f} | {r['well_write_s']:.2f} / {r['well_read_s']:.2f} | "
            f"{r['well_MB']:.1f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], frames: int, cores: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r["points"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("write_zlib_s", ".pvd write (zlib)"), ("write_lz4_s", ".pvd write (lz4)"),
                       ("read_pvd_s", ".pvd read"), ("import_s", "echopv import (gzip)"),
                       ("import_none_s", "echopv import (none)"),
                       ("well_write_s", "Well write"), ("well_read_s", "Well read")):
        ax[0].loglog(pts, [r[key] for r in rows], "o-", label=label)
    ax[0].set_xlabel("points per frame")
    ax[0].set_ylabel(f"seconds for {frames} frames")
    ax[0].legend(fontsize=8)
    for key, label in (("raw_MB", "raw float32"), ("pvd_zlib_MB", ".pvd zlib"), ("pvd_lz4_MB", ".pvd lz4"),
                       ("pvd_none_MB", ".pvd none"), ("dataset_MB", "ECHO .h5 (gzip)"), ("well_MB", "Well")):
        ax[1].loglog(pts, [r[key] for r in rows], "o-", label=label)
    ax[1].set_xlabel("points per frame")
    ax[1].set_ylabel("MB")
    ax[1].legend(fontsize=8)
    fig.suptitle(f"trajectory I/O, {frames} frames, {cores} cores")
    fig.tight_layout()
    fig.savefig(RESULTS / "io_series.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="64,128,256", help="grid sides n (n*n points)")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    rows = []
    work = Path(tempfile.mkdtemp(prefix="echo_io_bench_"))
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            row = measure(n, args.frames, work)
            rows.append(row)
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
            for p in work.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = table(rows)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = RESULTS / "io_series.md"
    md.write_text(
        "# Trajectory I/O figures\n\n"
        f"Machine: {cores} usable cores (shared). Fields: U (2) + p (1) float32 on an n x n grid, a travelling "
        "wave + 1 % noise. `.pvd` = one .vtu per frame (binary appended, zlib level 1 by default); "
        "`echopv import` = read the zlib .pvd + write the chunked ECHO dataset (gzip, or `--compression none`).\n\n"
        f"Command: `nice -n 10 .venv/bin/python benchmarks/io_series.py --sizes {args.sizes} --frames {args.frames}`\n\n"
        + text + "\n"
    )
    if not args.no_plot:
        plot(rows, args.frames, cores)
    print(f"wrote {md}")


if __name__ == "__main__":
    main()

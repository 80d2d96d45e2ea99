"""EchoDatasetReader on a 1,000-trajectory dataset: time to open it and to step through a
trajectory's frames, in plain VTK and inside ParaView (pvpython, File > Open's OpenDataFile).
Prints a markdown table, writes benchmarks/results/readers.md and benchmarks/results/readers.png.

    .venv/bin/echopv generate cached ns2d-64                 # 1,000 x 64^2 x 21 frames, once
    nice -n 10 .venv/bin/python benchmarks/readers.py        # uses it (else writes a synthetic one)
    nice -n 10 .venv/bin/python benchmarks/readers.py --dataset data.h5 --no-paraview

"Open" is what File > Open + Apply costs: the reader's RequestInformation (attributes, the
trajectory's times and parameters) plus the first frame (mesh + one frame chunk). "Step" is one
more time step (one frame chunk; the mesh is cached). Wall-clock on whatever machine runs it.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parent.parent


def cached_dataset() -> Path | None:
    from echo_model.cases.cached import cache_dir

    found = sorted(glob.glob(str(cache_dir() / "ns2d-64-*.h5")))
    return Path(found[0]) if found else None


def synthetic_dataset(path: Path, n_traj: int = 1000, n: int = 64, frames: int = 21) -> Path:
    """Smooth travelling waves on n^2 grids (compress like simulation output), one nu each."""
    from echo_model.data.store import write_dataset
    from echo_model.data.trajectory import Trajectory
    from echo_model.io_well import grid_cells, grid_points

    axes = [np.arange(n) / n] * 2
    pts, cells = grid_points(axes), grid_cells((n, n))
    t = 0.5 * np.arange(frames)

    def gen():
        for i in range(n_traj):
            ph = 2 * np.pi * (pts[None, :, 0] + pts[None, :, 1] + 0.01 * i - 0.05 * t[:, None])
            yield Trajectory(points=pts, fields=np.sin(ph)[..., None].astype(np.float32), times=t,
                             field_layout=[("vorticity", 1)], params={"nu": 1e-4 * (1 + i % 20)}, cells=cells)

    write_dataset(path, gen(), name="synthetic-ns2d-64", progress=True)
    return path


def measure_vtk(path: Path, trajectories: list[int]) -> dict:
    from echo_paraview.readers import EchoDatasetReaderAlgorithm

    rows = {}
    for i in trajectories:
        r = EchoDatasetReaderAlgorithm()
        r.SetFileName(str(path))
        r.SetTrajectory(i)
        t0 = time.perf_counter()
        r.UpdateInformation()
        t1 = time.perf_counter()
        steps = r.GetTimestepValues()
        r.UpdateTimeStep(steps[0])
        t2 = time.perf_counter()
        per = []
        for t in steps[1:]:
            a = time.perf_counter()
            r.UpdateTimeStep(t)
            per.append(time.perf_counter() - a)
        assert r.last_error is None, r.last_error
        assert len(r.frames_read) == len(steps), "the reader read more than one frame per step"
        rows[i] = {"info_s": t1 - t0, "first_s": t2 - t1, "step_s": per, "n_steps": len(steps)}
    return rows


def measure_multiblock(path: Path, spec: str) -> float:
    from echo_paraview.readers import EchoDatasetReaderAlgorithm

    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(path))
    r.SetTrajectories(spec)
    t0 = time.perf_counter()
    r.UpdateInformation()
    r.UpdateTimeStep(r.GetTimestepValues()[0])
    assert r.last_error is None, r.last_error
    return time.perf_counter() - t0


PV_SCRIPT = r'''
import json, time
t0 = time.perf_counter()
from paraview.simple import OpenDataFile
t1 = time.perf_counter()
ds = OpenDataFile({path!r})
ds.Trajectory = {traj}
ds.UpdatePipelineInformation()
steps = list(ds.TimestepValues)
ds.UpdatePipeline(steps[0])
t2 = time.perf_counter()
per = []
for t in steps[1:]:
    a = time.perf_counter()
    ds.UpdatePipeline(t)
    per.append(time.perf_counter() - a)
print("RESULT:" + json.dumps({{"import_s": t1 - t0, "open_s": t2 - t1, "step_s": per,
                               "reader": ds.GetXMLName()}}))
'''


def measure_paraview(path: Path, traj: int) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.py"
        script.write_text(PV_SCRIPT.format(path=str(path), traj=traj))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "pvpython", str(script)],
                              capture_output=True, text=True, cwd=str(REPO), timeout=600)
        wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT:")]
    if proc.returncode != 0 or not lines:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        return None
    res = json.loads(lines[-1][len("RESULT:"):])
    res["process_s"] = wall
    return res


def _ms(x: float) -> str:
    return f"{1000 * x:.1f}"


def report(path: Path, info: dict, vtk_rows: dict, mb: dict, pv: dict | None, command: str) -> str:
    lines = [
        f"# EchoDatasetReader: opening a {info['n']:,}-trajectory dataset and stepping through its frames",
        "",
        f"Dataset: `{path.name}` ({info['source']}), {info['n']:,} trajectories of {info['points']:,} points x "
        f"{info['frames']} frames, {info['size_mb']:.0f} MB. Machine: {os.cpu_count()} cores, shared with other "
        f"jobs while measured (timings are wall-clock, expect noise).",
        "",
        f"Command: `{command}`",
        "",
        "| where | trajectory | open: information (ms) | open: first frame (ms) | step, mean (ms) | step, max (ms) | all frames (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in vtk_rows.items():
        st = np.asarray(r["step_s"])
        lines.append(f"| plain VTK | {i} | {_ms(r['info_s'])} | {_ms(r['first_s'])} | {_ms(st.mean())} | "
                     f"{_ms(st.max())} | {_ms(r['info_s'] + r['first_s'] + st.sum())} |")
    if pv:
        st = np.asarray(pv["step_s"])
        lines.append(f"| pvpython, OpenDataFile ({pv['reader']}) | {pv['traj']} | {_ms(pv['open_s'])} (both) | | "
                     f"{_ms(st.mean())} | {_ms(st.max())} | {_ms(pv['open_s'] + st.sum())} |")
        lines += ["", f"pvpython process (start, plugin load, open, {len(st) + 1} frames, exit): "
                      f"{pv['process_s']:.1f} s; `from paraview.simple import ...` {pv['import_s']:.1f} s of it."]
    lines += ["", "Several trajectories as one multiblock (`Trajectories`), first frame of each:", "",
              "| Trajectories | blocks | open + first frame (s) |", "|---|---|---|"]
    for spec, (n, s) in mb.items():
        lines.append(f"| `{spec}` | {n} | {s:.2f} |")
    lines += ["", "Each step reads one frame chunk (the reader records the frames it reads; the script "
                  "asserts one per step). Opening reads the root attributes, the split lists and the chosen "
                  "trajectory's times and parameters; no field data until a frame is shown."]
    return "\n".join(lines) + "\n"


def plot(vtk_rows: dict, pv: dict | None, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, r in vtk_rows.items():
        ax.plot(np.arange(1, r["n_steps"]), 1000 * np.asarray(r["step_s"]), "o-", ms=3, label=f"plain VTK, traj {i}")
    if pv:
        ax.plot(np.arange(1, len(pv["step_s"]) + 1), 1000 * np.asarray(pv["step_s"]), "s-", ms=3,
                label=f"pvpython, traj {pv['traj']}")
    ax.set_xlabel("frame")
    ax.set_ylabel("time to show the frame (ms)")
    ax.set_title("EchoDatasetReader: stepping through a trajectory")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=None, help="default: the cached ns2d-64, else a synthetic one")
    ap.add_argument("--no-paraview", action="store_true", help="skip the pvpython measurement")
    args = ap.parse_args(argv)
    from echo_model.data.store import TrajectoryStore

    path, source = args.dataset, "given"
    tmp = None
    if path is None:
        path, source = cached_dataset(), "`echopv generate cached ns2d-64`"
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path, source = synthetic_dataset(Path(tmp.name) / "synthetic-1000.h5"), "synthetic, written by write_dataset"
    with TrajectoryStore(path) as store:
        n = len(store)
        info = {"n": n, "points": store.n_points(0), "frames": store.n_frames(0), "source": source,
                "size_mb": path.stat().st_size / 2**20}
    trajs = sorted({0, n // 2, n - 1})
    vtk_rows = measure_vtk(path, trajs)
    mb = {}
    for blocks in sorted({min(10, n), min(100, n)}):
        spec = f"0-{blocks - 1}"
        mb[spec] = (blocks, measure_multiblock(path, spec))
    pv = None
    if not args.no_paraview:
        pv = measure_paraview(path, n - 1)
        if pv:
            pv["traj"] = n - 1
    command = "nice -n 10 .venv/bin/python benchmarks/readers.py" + (f" --dataset {args.dataset}" if args.dataset else "")
    text = report(path, info, vtk_rows, mb, pv, command)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "readers.md").write_text(text)
    plot(vtk_rows, pv, RESULTS / "readers.png")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

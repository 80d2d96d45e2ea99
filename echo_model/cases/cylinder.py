"""`echopv generate cylinder`: a family of OpenFOAM cylinder-wake trajectories (DFG 2D-2 set-up).

Channel 2.2 x 0.41, cylinder of radius 0.05, parabolic inlet with peak Um, Re = (2/3 Um) D / nu.
Each case draws Um and the cylinder centre from ranges (seeded), is meshed with gmsh (its own
unstructured mesh, so its own point count), solved by pimpleFoam on one core, and extracted to
cell centres (x, y) with U_x, U_y, p after the start-up transient. Cases run N at a time as
independent 1-core processes (twice the throughput of one 2-core MPI run). The Strouhal number
of each case is measured from its lift coefficient and stored in the trajectory metadata; the
DFG reference case (Um 1.5, nu 1e-3, centre (0.2, 0.2): Re 100) should give St within 5 % of 0.30.

Work files live in --work-dir (one folder per case); a finished case is reused when the command is
run again with the same settings, so an interrupted family resumes where it stopped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EchoUserError
from .cylinder_case import CylinderCase, latest_log_time, prepare, read_force_coeffs, require_openfoam, solve
from .cylinder_mesh import MESHES, SHAPES

REFERENCE_ST = 0.30  # DFG 2D-2 benchmark (Schäfer & Turek 1996): St = 0.2950 .. 0.3050


# --------------------------------------------------------------------------------------------
# physics check
# --------------------------------------------------------------------------------------------
def strouhal(
    time: np.ndarray, cl: np.ndarray, D: float, U_mean: float, t_start: float | None = None
) -> float:
    """Strouhal number f D / U_mean from a lift-coefficient signal.

    Uses the developed part (t >= t_start; default the second half of the signal). The frequency
    comes from the mean period between upward zero crossings of Cl - mean(Cl) (linearly
    interpolated, exact for a periodic signal regardless of the solver's uneven time steps);
    with fewer than three crossings it falls back to the FFT peak of the signal resampled
    uniformly. Returns nan when the signal does not oscillate (no shedding).
    """
    time = np.asarray(time, dtype=np.float64)
    cl = np.asarray(cl, dtype=np.float64)
    if time.shape != cl.shape or time.ndim != 1:
        raise ValueError(f"time and cl must be 1-D arrays of the same length, got {time.shape} and {cl.shape}")
    if t_start is None:
        t_start = time[0] + 0.5 * (time[-1] - time[0])
    sel = time >= t_start
    t, c = time[sel], cl[sel]
    if t.size < 8:
        raise EchoUserError(f"only {t.size} lift samples after t={t_start}: run longer or lower t_start")
    c = c - c.mean()
    if np.ptp(c) < 1e-6:
        return float("nan")
    up = np.nonzero((c[:-1] < 0) & (c[1:] >= 0))[0]
    if up.size >= 3:
        tc = t[up] - c[up] * (t[up + 1] - t[up]) / (c[up + 1] - c[up])
        period = (tc[-1] - tc[0]) / (tc.size - 1)
        freq = 1.0 / period
    else:
        n = max(256, int(2 ** np.ceil(np.log2(t.size))))
        tu = np.linspace(t[0], t[-1], n)
        cu = np.interp(tu, t, c) * np.hanning(n)
        spec = np.abs(np.fft.rfft(cu, 8 * n))
        f = np.fft.rfftfreq(8 * n, tu[1] - tu[0])
        freq = f[1 + np.argmax(spec[1:])]
    return float(freq * D / U_mean)


# --------------------------------------------------------------------------------------------
# family
# --------------------------------------------------------------------------------------------
@dataclass
class FamilyConfig:
    n: int = 4
    seed: int = 0
    um_range: tuple[float, float] = (0.75, 3.0)
    nu: float = 1e-3
    cx_range: tuple[float, float] = (0.15, 0.4)
    cy_range: tuple[float, float] = (0.15, 0.26)
    include_reference: bool = False  # prepend the DFG 2D-2 case (Um 1.5, (0.2, 0.2), Re 100)
    mesh: str = "coarse"
    end_time: float = 6.0
    write_interval: float = 0.025
    skip_time: float = 3.0
    shapes: tuple[str, ...] = ("circle",)  # each case draws its obstacle from these (cylinder_mesh.SHAPES)
    aspect_range: tuple[float, float] = (1.5, 2.5)  # ellipses' axis ratio
    angle_range: tuple[float, float] = (0.0, 180.0)  # degrees, for every shape but the circle
    kick: float = 0.0  # rock the body at the start (cylinder_case._body_wall): shedding from ~1.25 s, not ~3.5 s
    jobs: int = 2
    nice: int = 10
    keep_case: bool = False


def draw_cases(cfg: FamilyConfig) -> list[CylinderCase]:
    rng = np.random.default_rng(cfg.seed)
    common = dict(nu=cfg.nu, mesh=cfg.mesh, end_time=cfg.end_time, write_interval=cfg.write_interval, kick=cfg.kick)
    cases = [CylinderCase(Um=1.5, cx=0.2, cy=0.2, **common)] if cfg.include_reference else []
    for _ in range(cfg.n):
        um, cx, cy = (round(float(rng.uniform(*r)), 4) for r in (cfg.um_range, cfg.cx_range, cfg.cy_range))
        cases.append(CylinderCase(Um=um, cx=cx, cy=cy, **_draw_shape(rng, cfg), **common))
    return cases


def _draw_shape(rng: np.random.Generator, cfg: FamilyConfig) -> dict:
    """The obstacle of one case; circle-only families draw nothing (their cases stay those of a seed)."""
    if tuple(cfg.shapes) == ("circle",):
        return {}
    shape = str(cfg.shapes[int(rng.integers(len(cfg.shapes)))])
    aspect = round(float(rng.uniform(*cfg.aspect_range)), 3) if shape == "ellipse" else 1.0
    angle = round(float(rng.uniform(*cfg.angle_range)), 2) if shape != "circle" else 0.0
    return {"shape": shape, "aspect": aspect, "angle": angle}


def _finished(case_dir: Path, case: CylinderCase) -> bool:
    """A previous run of exactly this case completed (its config matches and the log ends)."""
    try:
        saved = json.loads((case_dir / "case.json").read_text())
        log = (case_dir / "log.pimpleFoam").read_text(errors="replace")
    except (OSError, ValueError):
        return False
    if saved != dataclasses.asdict(case) or not log.rstrip().endswith("End"):
        return False
    # the time directories must still be there (they are deleted after extraction by default)
    from .openfoam import time_directories

    times = [t for t, _ in time_directories(case_dir)]
    return bool(times) and times[-1] >= case.end_time - 1e-6


def run_case(case_dir: Path, case: CylinderCase, nice: int = 10) -> dict:
    """Mesh and solve one case unless an identical finished run is there; returns timings."""
    timings = {"mesh_s": 0.0, "solve_s": 0.0, "reused": True}
    if not _finished(case_dir, case):
        if case_dir.exists():
            shutil.rmtree(case_dir)
        t0 = time.perf_counter()
        n_cells = prepare(case_dir, case)
        t1 = time.perf_counter()
        cpu = solve(case_dir, nice=nice)
        t2 = time.perf_counter()
        timings = {"mesh_s": t1 - t0, "solve_s": t2 - t1, "solve_cpu_s": cpu, "reused": False, "n_cells": n_cells}
        (case_dir / "timings.json").write_text(json.dumps(timings))
        (case_dir / "case.json").write_text(json.dumps(dataclasses.asdict(case)))
    else:
        try:
            timings = json.loads((case_dir / "timings.json").read_text()) | {"reused": True}
        except (OSError, ValueError):
            pass
    return timings


def extract_case(case_dir: Path, case: CylinderCase, skip_time: float, keep_case: bool):
    """Read the developed part of a solved case as a Trajectory with its Strouhal number."""
    from .openfoam import read_case, time_directories

    coeffs = read_force_coeffs(case_dir)
    t, cl, cd = coeffs["Time"], coeffs["Cl"], coeffs["Cd"]
    t_dev = skip_time  # the recorded frames start once the shedding has developed
    st = strouhal(t, cl, case.D, case.U_mean, t_start=t_dev)
    dev = t >= t_dev
    # frames at t >= skip_time are kept (the same rule as `echopv import --skip-time`)
    traj = read_case(case_dir, ("U", "p"), t_min=skip_time, params=case.params())
    traj.metadata.update(
        {
            "case": case_dir.name,
            "strouhal": st,
            "strouhal_window": [float(t_dev), float(t[-1])],
            "cl_min": float(cl[dev].min()),
            "cl_max": float(cl[dev].max()),
            "cd_mean": float(cd[dev].mean()),
            "cd_max": float(cd[dev].max()),
            "mesh": case.mesh,
            "shape": case.shape,
            "aspect": case.aspect,
            "angle": case.angle,
            "nu": case.nu,
            "U_mean": case.U_mean,
            "D": case.D,
            "solver": "OpenFOAM v1912 pimpleFoam (laminar, PISO, backward, linearUpwind, maxCo 0.9)",
        }
    )
    if not keep_case:
        # the time directories are ~0.5-1 MB each; what matters is now in the trajectory
        for tval, tdir in time_directories(case_dir):
            shutil.rmtree(tdir)
    return traj


def _case_summary(name: str, case: CylinderCase, traj, timings: dict) -> dict:
    """One row of the dataset's `cases` table: parameters, size, wake figures, timings."""
    return {
        "case": name,
        **{k: round(v, 4) for k, v in case.params().items()},
        "shape": case.shape,
        "aspect": case.aspect,
        "angle": case.angle,
        "n_points": traj.n_points,
        "n_frames": traj.n_frames,
        "strouhal": round(traj.metadata["strouhal"], 4),
        "cl_amp": round(0.5 * (traj.metadata["cl_max"] - traj.metadata["cl_min"]), 4),
        "cd_mean": round(traj.metadata["cd_mean"], 4),
        **{k: (round(v, 1) if isinstance(v, float) else v) for k, v in timings.items()},
    }


def _wait_with_progress(futures: list, end_time: float, dirs: list[Path], results: list, progress: bool) -> None:
    """Wait for the case jobs; the bar counts simulated seconds, read from each solver's log."""
    total = len(dirs) * end_time
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(total, 3), desc=f"cylinder x{len(dirs)} (simulated s)", unit="s",
                   bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]")
    while not all(f.done() for f in futures):
        time.sleep(1.0)
        if bar is not None:
            done = sum(
                end_time if results[i] is not None else min(latest_log_time(d), end_time)
                for i, d in enumerate(dirs)
            )
            if round(done, 1) != round(bar.n, 1):  # redraw only on change: logs stay short
                bar.n = round(done, 3)
                bar.refresh()
    if bar is not None:
        bar.n = round(total, 3)
        bar.close()


def generate_family(cfg: FamilyConfig, out: Path, work_dir: Path, progress: bool = True) -> list[dict]:
    """Run every case (cfg.jobs at a time), extract, write the dataset; returns per-case summaries."""
    from echo_model.data.store import write_dataset

    require_openfoam("gmshToFoam", "foamDictionary", "pimpleFoam")
    if cfg.mesh not in MESHES:
        raise EchoUserError(f"unknown --mesh {cfg.mesh!r}; choose one of {sorted(MESHES)}")
    if cfg.skip_time >= cfg.end_time:
        raise EchoUserError(f"--skip-time {cfg.skip_time} leaves nothing of --end-time {cfg.end_time}: lower it")
    cases = draw_cases(cfg)
    if not cases:
        raise EchoUserError("no cases to run: use --n >= 1 or --include-reference")
    work_dir.mkdir(parents=True, exist_ok=True)
    dirs = [work_dir / f"case_{i:03d}" for i in range(len(cases))]
    results: list[dict | None] = [None] * len(cases)
    trajs: list = [None] * len(cases)
    errors: list[str] = []
    lock = threading.Lock()

    def job(i: int) -> None:
        try:
            timings = run_case(dirs[i], cases[i], nice=cfg.nice)
            traj = extract_case(dirs[i], cases[i], cfg.skip_time, cfg.keep_case)
            with lock:
                trajs[i] = traj
                results[i] = _case_summary(dirs[i].name, cases[i], traj, timings)
                traj.metadata["wall_s"] = timings.get("solve_s", 0.0) + timings.get("mesh_s", 0.0)
        except Exception as exc:  # keep the other cases running; report all failures at the end
            with lock:
                errors.append(f"{dirs[i].name}: {exc}")

    with ThreadPoolExecutor(max_workers=max(1, cfg.jobs)) as pool:
        futures = [pool.submit(job, i) for i in range(len(cases))]
        _wait_with_progress(futures, cfg.end_time, dirs, results, progress)
    if errors:
        raise RuntimeError("some cylinder cases failed:\n  " + "\n  ".join(errors))
    ref = [r for r, c in zip(results, cases) if abs(c.Re - 100) < 1e-6 and (c.cx, c.cy) == (0.2, 0.2)]
    write_dataset(
        out,
        trajs,
        name=out.stem,
        description=(
            "OpenFOAM v1912 pimpleFoam obstacle wake (DFG 2D-2 channel 2.2 x 0.41, obstacles of the r 0.05 "
            f"cylinder's area: {', '.join(cfg.shapes)}), "
            f"{cfg.mesh} gmsh mesh, cell centres (x, y), fields U (2), p (kinematic), "
            f"t in [{cfg.skip_time}, {cfg.end_time}] every {cfg.write_interval} s"
        ),
        extra={"generator": "echopv generate cylinder", "config": dataclasses.asdict(cfg), "cases": results,
               "reference_strouhal": REFERENCE_ST, "reference_case": ref[0] if ref else None},
    )
    return [r for r in results if r is not None]


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (e.g. 0.75,3), got {text!r}") from None
    if hi < lo:
        raise argparse.ArgumentTypeError(f"range {text!r} has HI < LO")
    return lo, hi


def _shapes(text: str) -> tuple[str, ...]:
    names = tuple(w.strip() for w in text.split(",") if w.strip())
    unknown = [n for n in names if n not in SHAPES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown shape(s) {', '.join(unknown) or text!r}: choose from {', '.join(SHAPES)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = FamilyConfig()
    parser.add_argument("--out", type=Path, required=True, help="dataset file to write (.h5)")
    parser.add_argument("--n", type=int, default=d.n, help="number of random cases (default %(default)s)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--include-reference", action="store_true",
                        help="also run the DFG 2D-2 case (Um 1.5, centre (0.2, 0.2), Re 100) first")
    parser.add_argument("--um", type=_range, default=d.um_range, metavar="LO,HI",
                        help="peak inlet velocity range (default 0.75,3 -> Re 50..200 at nu 1e-3)")
    parser.add_argument("--nu", type=float, default=d.nu, help="kinematic viscosity (default %(default)s)")
    parser.add_argument("--cx", type=_range, default=d.cx_range, metavar="LO,HI", help="cylinder x range")
    parser.add_argument("--cy", type=_range, default=d.cy_range, metavar="LO,HI", help="cylinder y range")
    parser.add_argument("--mesh", choices=sorted(MESHES), default=d.mesh,
                        help="ci ~1.3k cells, medium ~4.0k, coarse ~8.4k, fine ~13.8k (St within 1.5 %% of DFG 2D-2: benchmarks/results/cylinder_mesh_study.md), xfine ~24.8k (default %(default)s)")
    parser.add_argument("--end-time", type=float, default=d.end_time, help="simulated seconds (default %(default)s)")
    parser.add_argument("--write-interval", type=float, default=d.write_interval,
                        help="seconds between frames (default %(default)s)")
    parser.add_argument("--skip-time", type=float, default=d.skip_time,
                        help="keep frames at t >= this time, dropping the start-up transient (default %(default)s)")
    parser.add_argument("--shapes", type=_shapes, default=d.shapes, metavar="A,B",
                        help=f"obstacle shapes each case draws from: {', '.join(SHAPES)} (default circle)")
    parser.add_argument("--aspect", type=_range, default=d.aspect_range, metavar="LO,HI",
                        help="ellipses' axis ratio range (default 1.5,2.5)")
    parser.add_argument("--angle", type=_range, default=d.angle_range, metavar="LO,HI",
                        help="obstacle turn range in degrees, for all shapes but the circle (default 0,180)")
    parser.add_argument("--kick", type=float, default=d.kick,
                        help="rock the body for one shedding period at the start, peak surface speed KICK * Um "
                             "(0.5: shedding developed by ~1.25 s instead of ~3.5 s at Re 100; default 0, from rest)")
    parser.add_argument("--jobs", type=int, default=d.jobs, help="cases run at once, 1 core each (default %(default)s)")
    parser.add_argument("--nice", type=int, default=d.nice, help="nice level of the solvers (default %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="case folders (default: $ECHOPV_CACHE or ~/.cache/echopv, then cylinder/<out name>)")
    parser.add_argument("--keep-case", action="store_true",
                        help="keep the OpenFOAM time directories (default: delete after extraction)")


def run(args: argparse.Namespace) -> int:
    cfg = FamilyConfig(
        n=args.n, seed=args.seed, um_range=args.um, nu=args.nu, cx_range=args.cx, cy_range=args.cy,
        include_reference=args.include_reference, mesh=args.mesh, end_time=args.end_time,
        write_interval=args.write_interval, skip_time=args.skip_time, jobs=args.jobs, nice=args.nice,
        keep_case=args.keep_case, shapes=args.shapes, aspect_range=args.aspect, angle_range=args.angle, kick=args.kick,
    )
    out = Path(args.out)
    cache = Path(os.environ.get("ECHOPV_CACHE") or Path.home() / ".cache" / "echopv")
    work = args.work_dir or cache / "cylinder" / out.stem
    t0 = time.perf_counter()
    try:
        rows = generate_family(cfg, out, work)
    except RuntimeError as exc:  # a solver/mesher failure: its log tail is the useful part
        print(f"echopv generate cylinder: error: {exc}\n(case folders kept in {work})", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(rows)} trajectories) in {wall:.0f} s")
    print(f"{'case':<9} {'shape':<8} {'Um':>6} {'Re':>6} {'cx':>6} {'cy':>6} {'points':>7} {'frames':>6} {'St':>7} "
          f"{'Cl amp':>7} {'Cd mean':>7} {'solve s':>8} {'CPU s':>7}")
    for r in rows:
        print(f"{r['case']:<9} {r['shape']:<8} {r['Um']:>6.3f} {r['Re']:>6.1f} {r['cx']:>6.3f} {r['cy']:>6.3f} {r['n_points']:>7} "
              f"{r['n_frames']:>6} {r['strouhal']:>7.4f} {r['cl_amp']:>7.3f} {r['cd_mean']:>7.3f} "
              f"{r.get('solve_s', 0):>8.1f} {r.get('solve_cpu_s', float('nan')):>7.1f}")
    for r, c in zip(rows, draw_cases(cfg)):
        if abs(c.Re - 100) < 1e-6 and (c.cx, c.cy) == (0.2, 0.2):
            err = abs(r["strouhal"] - REFERENCE_ST) / REFERENCE_ST
            print(f"DFG 2D-2 check (Re 100): St = {r['strouhal']:.4f} vs {REFERENCE_ST} ({100 * err:.1f} % off)")
    return 0

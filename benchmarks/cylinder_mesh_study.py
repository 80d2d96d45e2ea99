"""Mesh study of the cylinder family generator against the DFG 2D-2 benchmark (Schäfer & Turek 1996).

    .venv/bin/python benchmarks/cylinder_mesh_study.py --dt-check fine 0.3   # ~40 CPU-min, one core

runs the DFG set-up (channel 2.2 x 0.41, cylinder r 0.05 at (0.2, 0.2), nu 1e-3) at Re 100 (Um 1.5)
and Re 200 (Um 3.0) on each mesh level of `echo_model.cases.cylinder_mesh.MESHES` named in
--levels, one case at a time on one core (pimpleFoam under `nice -n 10`), and measures from the
forceCoeffs output after the start-up transient: the Strouhal number (lift zero crossings), the mean
and largest drag coefficient, the lift amplitude, and the solver's CPU seconds. It writes a table
(against DFG and against the finest level run) to benchmarks/results/cylinder_mesh_study.md, a plot
(St and CPU against cells) to benchmarks/results/cylinder_mesh_study.png, and names the cheapest
level whose St is within --tol of both the finest level and DFG.

Case folders (logs and force coefficients, no fields) stay in --work-dir; a finished case with the
same settings is reused, so a rerun computes only what is missing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from echo_model.cases.cylinder import strouhal  # noqa: E402
from echo_model.cases.cylinder_case import CylinderCase, prepare, read_force_coeffs, solve  # noqa: E402
from echo_model.cases.cylinder_mesh import MESHES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# DFG 2D-2 (Re 100) reference intervals (Schäfer & Turek 1996): St, cD max, cL max.
DFG_RANGES: dict[str, tuple[float, float]] = {
    "st": (0.2950, 0.3050),
    "cd_max": (3.2200, 3.2400),
    "cl_max": (0.9900, 1.0100),
}


# --------------------------------------------------------------------------------------------
# measurements (pure numpy)
# --------------------------------------------------------------------------------------------
@dataclass
class ForceStats:
    """What one run's force coefficients say once shedding is developed (t >= t_start)."""

    st: float  # Strouhal number over the whole window
    st_first: float  # ... from the first half of its periods (with st_second: still drifting?)
    st_second: float  # ... from the second half
    cd_mean: float
    cd_max: float
    cl_amp: float  # half the peak-to-peak lift over the last full periods
    cl_amp_first: float  # the same over the first half of the window (is the amplitude still growing?)
    cl_max: float
    periods: float  # shedding periods in the window
    window: tuple[float, float]

    @property
    def st_drift(self) -> float:
        """Relative change of St from the window's first half to its second."""
        return (self.st_second - self.st_first) / self.st_first

    @property
    def amp_drift(self) -> float:
        """Relative change of the lift amplitude from the window's first half to its second."""
        return (self.cl_amp - self.cl_amp_first) / self.cl_amp_first


def upcrossings(t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Times where `c` crosses zero upwards, linearly interpolated between samples."""
    up = np.nonzero((c[:-1] < 0) & (c[1:] >= 0))[0]
    return t[up] - c[up] * (t[up + 1] - t[up]) / (c[up + 1] - c[up])


def _amplitude(c: np.ndarray) -> float:
    return float(0.5 * (c.max() - c.min()))


def force_stats(
    t: np.ndarray, cd: np.ndarray, cl: np.ndarray, D: float, U_mean: float, t_start: float
) -> ForceStats:
    """Strouhal number, drag and lift figures of a force-coefficient history after `t_start`.

    Parameters
    ----------
    t, cd, cl : np.ndarray
        Time (any, uneven, steps) and the drag and lift coefficients at those times.
    D, U_mean : float
        Reference length and velocity of St = f D / U_mean.
    t_start : float
        Start of the developed window; the window runs to the end of the signal. Its two halves
        are measured separately too, to show whether the shedding has settled.

    Returns
    -------
    ForceStats

    Example
    -------
    >>> t = np.linspace(0, 4, 8001)
    >>> s = force_stats(t, 3.2 + 0.01 * np.sin(12 * np.pi * t), np.sin(6 * np.pi * t), 0.1, 1.0, 1.0)
    >>> round(s.st, 4), round(s.cl_amp, 3), round(s.cd_mean, 3), round(s.periods, 1)
    (0.3, 1.0, 3.2, 9.0)
    """
    t, cd, cl = (np.asarray(a, dtype=np.float64) for a in (t, cd, cl))
    sel = t >= t_start
    t_end = float(t[-1])
    t_mid = 0.5 * (t_start + t_end)
    st = strouhal(t, cl, D, U_mean, t_start=t_start)
    # the halves' St from the periods between the window's own crossings: a half may hold
    # too few crossings for `strouhal` on its own
    periods = np.diff(upcrossings(t[sel], cl[sel] - cl[sel].mean()))
    half = periods.size // 2
    st_first, st_second = (
        (float(D / (p.mean() * U_mean)) for p in (periods[:half], periods[-half:])) if half else (np.nan, np.nan)
    )
    period = D / (st * U_mean) if np.isfinite(st) and st > 0 else t_end - t_start
    # amplitude over whole periods at the end, so a half-sampled cycle cannot bias it
    n_last = max(1, int((t_end - t_mid) / period))
    last = t >= t_end - n_last * period
    n_first = max(1, int((t_mid - t_start) / period))
    head = sel & (t <= t_start + n_first * period)
    return ForceStats(
        st=st, st_first=st_first, st_second=st_second,
        cd_mean=float(cd[sel].mean()), cd_max=float(cd[sel].max()),
        cl_amp=_amplitude(cl[last]), cl_amp_first=_amplitude(cl[head]), cl_max=float(cl[sel].max()),
        periods=(t_end - t_start) / period, window=(float(t_start), t_end),
    )


def rel_dev(value: float, reference: float) -> float:
    """(value - reference) / reference."""
    return (value - reference) / reference


def dfg_mid(name: str) -> float:
    """Centre of the DFG 2D-2 interval of a quantity ('st', 'cd_max', 'cl_max')."""
    lo, hi = DFG_RANGES[name]
    return 0.5 * (lo + hi)


_TIME = re.compile(r"^Time = ([-+0-9.eE]+)\s*$")
_EXEC = re.compile(r"^ExecutionTime = ([-+0-9.eE]+) s")


def execution_cpu(log_text: str, t_end: float | None = None) -> float:
    """CPU seconds OpenFOAM reports (`ExecutionTime`) at the last step with time <= `t_end`.

    OpenFOAM's ExecutionTime is the process's CPU time, so it is the cost of the run up to that
    simulated time whatever else the machine was doing. `t_end=None`: the last step logged.

    Example
    -------
    >>> execution_cpu("Time = 0.1\\nExecutionTime = 1.5 s  ClockTime = 2 s\\n"
    ...               "Time = 0.2\\nExecutionTime = 2.75 s  ClockTime = 4 s\\n", t_end=0.15)
    1.5
    """
    cpu, now = 0.0, -np.inf
    for line in log_text.splitlines():
        m = _TIME.match(line)
        if m:
            now = float(m.group(1))
            if t_end is not None and now > t_end + 1e-9:
                break
            continue
        m = _EXEC.match(line)
        if m:
            cpu = float(m.group(1))
    return cpu


def pick_level(rows: list[dict], levels_by_size: list[str], tol: float) -> str | None:
    """The cheapest level whose St is within `tol` of the finest level's at every Re and of DFG at Re 100.

    `rows` carry "level", "Re", "st"; `levels_by_size` orders the levels from fewest cells to most
    (the last is the reference). Returns None if no level qualifies.
    """
    finest = levels_by_size[-1]
    ref = {r["Re"]: r["st"] for r in rows if r["level"] == finest}
    for level in levels_by_size:
        mine = [r for r in rows if r["level"] == level]
        if {r["Re"] for r in mine} != set(ref):  # judged at every Re the finest level ran
            continue
        ok = all(abs(rel_dev(r["st"], ref[r["Re"]])) <= tol for r in mine)
        ok &= all(abs(rel_dev(r["st"], dfg_mid("st"))) <= tol for r in mine if round(r["Re"]) == 100)
        if ok:
            return level
    return None


# --------------------------------------------------------------------------------------------
# running the cases
# --------------------------------------------------------------------------------------------
@dataclass
class StudyConfig:
    """Levels, Reynolds numbers and time windows of the study."""

    levels: tuple[str, ...] = ("ci", "medium", "coarse", "fine", "xfine")  # fewest cells first
    reynolds: tuple[float, ...] = (100.0, 200.0)
    # simulated seconds and the start of the measured window, per Re: shedding from rest starts
    # later at Re 100 than at Re 200 (see the .md for how the windows were chosen)
    end_time: dict[float, float] = field(default_factory=lambda: {100.0: 5.5, 200.0: 3.0})
    t_start: dict[float, float] = field(default_factory=lambda: {100.0: 3.5, 200.0: 1.8})
    nu: float = 1e-3
    write_interval: float = 0.5  # fields are not needed here; frames only cost I/O
    nice: int = 10
    tol: float = 0.015
    max_co: float = 0.9  # the generator's Courant number
    # optional (level, maxCo): the Re 100 case again at a smaller time step, to tell time-step error from mesh error
    dt_check: tuple[str, float] | None = None
    work_dir: Path = ROOT / "runs" / "cylinder_mesh_study"


def study_case(level: str, Re: float, cfg: StudyConfig, max_co: float | None = None) -> CylinderCase:
    """The DFG 2D-2 geometry at Reynolds number `Re` (U_mean D / nu) on mesh `level`."""
    um = 1.5 * Re * cfg.nu / (0.1 * 1.0)  # Re = (2/3 Um) D / nu with D = 0.1
    return CylinderCase(Um=round(um, 6), nu=cfg.nu, cx=0.2, cy=0.2, mesh=level, end_time=cfg.end_time[Re],
                        write_interval=cfg.write_interval, max_co=cfg.max_co if max_co is None else max_co)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cache_key(case: CylinderCase) -> dict:
    return {"case": dataclasses.asdict(case), "sizes": dataclasses.asdict(MESHES[case.mesh])}


def run_one(case: CylinderCase, case_dir: Path, nice: int) -> dict:
    """Mesh and solve one case unless the same finished case is cached; returns its cost record."""
    record_file = case_dir / "run.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
        if record.get("key") == _cache_key(case):
            return record
    if case_dir.exists():
        shutil.rmtree(case_dir)
    t0, c0 = time.perf_counter(), _children_cpu()
    n_cells = prepare(case_dir, case)
    t1, c1 = time.perf_counter(), _children_cpu()
    solve(case_dir, nice=nice)
    t2, c2 = time.perf_counter(), _children_cpu()
    from echo_model.cases.openfoam import time_directories

    for tval, tdir in time_directories(case_dir):
        if tval > 0:  # the fields are not used; the force coefficients and logs stay
            shutil.rmtree(tdir)
    record = {"key": _cache_key(case), "n_cells": n_cells, "mesh_wall_s": t1 - t0,
              "convert_cpu_s": c1 - c0, "solve_wall_s": t2 - t1, "solve_cpu_s": c2 - c1,
              "load_avg": os.getloadavg()[0]}
    record_file.write_text(json.dumps(record, indent=1))
    return record


def measure(case: CylinderCase, case_dir: Path, record: dict, t_start: float) -> dict:
    """One table row: the force figures in the window and the solver's CPU cost."""
    coeffs = read_force_coeffs(case_dir)
    s = force_stats(coeffs["Time"], coeffs["Cd"], coeffs["Cl"], case.D, case.U_mean, t_start)
    log = (case_dir / "log.pimpleFoam").read_text(errors="replace")
    steps = sum(1 for line in log.splitlines() if _TIME.match(line))
    return {
        "level": case.mesh, "Re": round(case.Re, 3), "cells": record["n_cells"], "st": s.st,
        "st_drift": s.st_drift, "cd_mean": s.cd_mean, "cd_max": s.cd_max, "cl_amp": s.cl_amp,
        "cl_max": s.cl_max, "amp_drift": s.amp_drift, "periods": s.periods, "window": list(s.window),
        "cpu_s": record["solve_cpu_s"], "foam_cpu_s": execution_cpu(log), "wall_s": record["solve_wall_s"],
        "cpu_to_window_start": execution_cpu(log, t_start), "steps": steps, "load_avg": record["load_avg"],
    }


def run_and_measure(level: str, Re: float, cfg: StudyConfig, max_co: float | None = None) -> dict | None:
    """One case (cached), measured; None if the solver failed (reported, so the others go on)."""
    case = study_case(level, Re, cfg, max_co)
    suffix = "" if case.max_co == StudyConfig.max_co else f"_co{case.max_co:g}"
    case_dir = cfg.work_dir / f"{level}_re{Re:g}{suffix}"
    print(f"[{time.strftime('%H:%M:%S')}] {level} Re {Re:g} maxCo {case.max_co:g}: {case.end_time:g} s simulated",
          flush=True)
    try:
        record = run_one(case, case_dir, cfg.nice)
    except RuntimeError as exc:  # a missing row is visible in the table; a rerun retries it
        print(f"    failed: {exc}", flush=True)
        return None
    row = measure(case, case_dir, record, cfg.t_start[Re]) | {"max_co": case.max_co}
    print(f"    {row['cells']} cells, St {row['st']:.4f}, cD mean {row['cd_mean']:.4f}, "
          f"cL amp {row['cl_amp']:.4f}, {row['cpu_s']:.0f} CPU-s", flush=True)
    return row


def run_study(cfg: StudyConfig) -> list[dict]:
    """Every (level, Re) case, cheapest level first, one at a time, cached in cfg.work_dir.

    Returns the table rows ordered by Re, then level; failed cases are left out.
    """
    rows = [run_and_measure(level, Re, cfg) for level in cfg.levels for Re in cfg.reynolds]
    order = {lv: i for i, lv in enumerate(cfg.levels)}
    return sorted((r for r in rows if r), key=lambda r: (r["Re"], order[r["level"]]))


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:+.1f} %"


def _row_cells(r: dict, f: dict | None) -> list[str]:
    """One row's cells; DFG columns only at Re 100, 'vs finest' only where the finest level ran."""
    dfg = round(r["Re"]) == 100

    def vs_dfg(key: str, fmt: str) -> str:
        value = format(r[key], fmt)
        return f"{value} ({_pct(rel_dev(r[key], dfg_mid(key)))})" if dfg else value

    return [
        r["level"], f"{r['cells']:,}", f"{r['Re']:g}", vs_dfg("st", ".4f"),
        _pct(rel_dev(r["st"], f["st"])) if f else "-", f"{r['cd_mean']:.3f}", vs_dfg("cd_max", ".3f"),
        f"{r['cl_amp']:.3f}", vs_dfg("cl_max", ".3f"), _pct(rel_dev(r["cl_amp"], f["cl_amp"])) if f else "-",
        f"{r['cpu_s']:.0f}", f"{r['steps']:,}",
    ]


TABLE_HEAD = ["level", "cells", "Re", "St (vs DFG)", "St vs finest", "mean cD", "cD max (vs DFG)",
              "cL amp", "cL max (vs DFG)", "cL amp vs finest", "solver CPU-s", "time steps"]


def table(rows: list[dict], finest: str) -> str:
    """The markdown table: figures, deviations from DFG 2D-2 (Re 100) and from the finest level, cost."""
    ref = {r["Re"]: r for r in rows if r["level"] == finest}
    lines = ["| " + " | ".join(TABLE_HEAD) + " |", "|" + "---|" * len(TABLE_HEAD)]
    lines += ["| " + " | ".join(_row_cells(r, ref.get(r["Re"]))) + " |" for r in rows]
    return "\n".join(lines)


def settling_table(rows: list[dict]) -> str:
    """Is each run developed? St and lift amplitude change between the window's halves."""
    lines = ["| level | Re | window (s) | periods | St drift | cL amp drift | CPU-s to window start | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['level']} | {r['Re']:g} | {r['window'][0]:g}-{r['window'][1]:g} | {r['periods']:.1f} "
                     f"| {_pct(r['st_drift'])} | {_pct(r['amp_drift'])} | {r['cpu_to_window_start']:.0f} "
                     f"| {r['wall_s']:.0f} |")
    return "\n".join(lines)


def dt_check_table(rows: list[dict], check: dict) -> str:
    """The Re 100 case of one level at the generator's Courant number and at a smaller one."""
    base = next(r for r in rows if r["level"] == check["level"] and round(r["Re"]) == 100)
    lines = ["| maxCo | St | mean cD | cD max | cL amp | cL max | solver CPU-s | time steps |",
             "|---|---|---|---|---|---|---|---|"]
    for r in (base, check):
        lines.append(f"| {r['max_co']:g} | {r['st']:.4f} | {r['cd_mean']:.3f} | {r['cd_max']:.3f} | {r['cl_amp']:.3f} "
                     f"| {r['cl_max']:.3f} | {r['cpu_s']:.0f} | {r['steps']:,} |")
    return "\n".join(lines)


def plot(rows: list[dict], out: Path, check: dict | None = None) -> None:
    """St, largest lift (DFG bands at Re 100) and solver CPU seconds against cells, per Re."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    fig, (ax_st, ax_cl, ax_cpu) = plt.subplots(1, 3, figsize=(15, 4.4))
    ax_st.axhspan(*DFG_RANGES["st"], color="tab:green", alpha=0.2, label="DFG 2D-2, Re 100")
    ax_cl.axhspan(*DFG_RANGES["cl_max"], color="tab:green", alpha=0.2, label="DFG 2D-2 cL max, Re 100")
    for Re, marker in zip(sorted({r["Re"] for r in rows}), "os^"):
        mine = [r for r in rows if r["Re"] == Re]
        cells = [r["cells"] for r in mine]
        ax_st.plot(cells, [r["st"] for r in mine], marker=marker, label=f"Re {Re:g}")
        ax_cl.plot(cells, [r["cl_max"] for r in mine], marker=marker, label=f"cL max, Re {Re:g}")
        ax_cpu.loglog(cells, [r["cpu_s"] for r in mine], marker=marker,
                      label=f"Re {Re:g}, {r_end(mine):g} s simulated")
        for r in mine:
            ax_st.annotate(r["level"], (r["cells"], r["st"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
    if check is not None:  # the same mesh at a smaller time step
        for ax, key in ((ax_st, "st"), (ax_cl, "cl_max"), (ax_cpu, "cpu_s")):
            ax.plot([check["cells"]], [check[key]], "k*", ms=10,
                    label=f"Re 100, {check['level']}, maxCo {check['max_co']:g}")
    for ax, title in ((ax_st, "Strouhal number"), (ax_cl, "largest lift coefficient"),
                      (ax_cpu, "solver CPU seconds per case (1 core)")):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([1e3, 2e3, 5e3, 1e4, 2e4, 5e4]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e3:g}k"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("cells")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Cylinder family generator: mesh study against DFG 2D-2 (pimpleFoam, forceCoeffs)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def r_end(rows: list[dict]) -> float:
    return max(r["window"][1] for r in rows)


def write_markdown(rows: list[dict], cfg: StudyConfig, choice: str | None, command: str, out: Path,
                   check: dict | None = None) -> str:
    """The results file: set-up, both tables, the chosen level and its cost, the command."""
    finest = [lv for lv in cfg.levels if any(r["level"] == lv for r in rows)][-1]
    total = sum(r["cpu_s"] for r in rows)
    windows = ", ".join(f"Re {Re:g}: {cfg.t_start[Re]:g}-{cfg.end_time[Re]:g} s" for Re in cfg.reynolds)
    lines = [
        "# Cylinder family generator: mesh study against DFG 2D-2",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work (load average "
        f"{min(r['load_avg'] for r in rows):.1f}-{max(r['load_avg'] for r in rows):.1f} at the runs' ends); one case "
        f"at a time, pimpleFoam on one core under `nice -n {cfg.nice}`. CPU-s are the solver's CPU seconds "
        "(user + system, from the OS), which a busy machine does not inflate; wall seconds are listed for "
        "completeness.",
        "",
        "Set-up: the DFG 2D-2 geometry (channel 2.2 x 0.41, cylinder r 0.05 at (0.2, 0.2), parabolic inlet, "
        f"nu {cfg.nu:g}; Re 100: Um 1.5, Re 200: Um 3.0) with the generator's own numerics "
        "(`echo_model/cases/cylinder_case.py`: laminar PISO, backward, linearUpwind, maxCo 0.9), started "
        f"from rest. Measured window (after the start-up transient): {windows}. St from the lift's zero "
        "crossings (`echo_model.cases.cylinder.strouhal`), cL amp = half the peak-to-peak lift over the "
        "window's last whole periods. DFG 2D-2 (Schäfer & Turek 1996, Re 100): St 0.2950-0.3050, "
        "cD max 3.2200-3.2400, cL max 0.9900-1.0100; deviations are from the interval centres. "
        f"There is no DFG figure at Re 200; 'vs finest' compares with the `{finest}` level.",
        "",
        table(rows, finest),
        "",
        "Settling (St and lift amplitude of the window's second half against its first):",
        "",
        settling_table(rows),
        "",
        settling_note(rows),
        "",
    ]
    lines += choice_lines(rows, choice, cfg.tol, finest)
    if check is not None:
        total += check["cpu_s"]
        lines += ["", f"Time-step check: the Re 100 case on `{check['level']}` at a smaller Courant number "
                  "(mesh unchanged), to tell the time step's share of the error from the mesh's:", "",
                  dt_check_table(rows, check)]
    n_cases = len(rows) + (check is not None)
    lines += ["", f"Total solver CPU: {total:.0f} s ({total / 60:.1f} min) for {n_cases} cases.", "",
              f"Command: `{command}`", ""]
    text = "\n".join(lines)
    out.write_text(text)
    return text


def settling_note(rows: list[dict]) -> str:
    """What the settling table says about the window: is St (and the lift amplitude) measured developed?"""
    st = max(abs(r["st_drift"]) for r in rows)
    amp = max(abs(r["amp_drift"]) for r in rows)
    periods = min(r["periods"] for r in rows)
    return (f"The windows hold at least {periods:.1f} shedding periods; St changes by at most {100 * st:.1f} % "
            f"between their halves, so St is measured well inside 1 %. The lift amplitude still changes by up to "
            f"{100 * amp:.1f} % between the halves (still growing slowly at Re 100), so the cL figures carry about "
            "that much uncertainty; a longer run would not move St.")


def choice_lines(rows: list[dict], choice: str | None, tol: float, finest: str) -> list[str]:
    """The paragraph that names the chosen level and what one case costs on it."""
    if choice is None:
        return [f"No level has St within {100 * tol:.1f} % of both the `{finest}` level and DFG."]
    mine = [r for r in rows if r["level"] == choice]
    cost = "; ".join(
        f"Re {r['Re']:g}: {r['cpu_s']:.0f} CPU-s for {r['window'][1]:g} s simulated "
        f"({r['cpu_s'] / r['window'][1]:.0f} CPU-s per simulated second, {r['steps']:,} steps)" for r in mine
    )
    return [f"Cheapest level with St within {100 * tol:.1f} % of the `{finest}` level (both Re) and of DFG "
            f"(Re 100): **{choice}**, {mine[0]['cells']:,} cells at (0.2, 0.2). Cost per case: {cost}."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = StudyConfig()
    parser.add_argument("--levels", nargs="+", choices=sorted(MESHES), default=list(d.levels),
                        help="mesh levels, fewest cells first (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=d.work_dir, help="case folders (default: runs/...)")
    parser.add_argument("--tol", type=float, default=d.tol, help="St tolerance of the choice (default %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS / "cylinder_mesh_study.md")
    parser.add_argument("--dt-check", nargs=2, metavar=("LEVEL", "MAXCO"), default=None,
                        help="also run LEVEL's Re 100 case at Courant number MAXCO (e.g. coarse 0.3)")
    args = parser.parse_args(argv)
    dt_check = (args.dt_check[0], float(args.dt_check[1])) if args.dt_check else None
    cfg = dataclasses.replace(d, levels=tuple(args.levels), work_dir=args.work_dir, tol=args.tol, dt_check=dt_check)
    rows = run_study(cfg)
    check = run_and_measure(dt_check[0], 100.0, cfg, max_co=dt_check[1]) if dt_check else None
    if not rows:
        print("no case finished", file=sys.stderr)
        return 1
    choice = pick_level(rows, [lv for lv in cfg.levels if any(r["level"] == lv for r in rows)], cfg.tol)
    (args.out.with_suffix(".json")).write_text(json.dumps({"rows": rows, "dt_check": check}, indent=1))
    plot(rows, args.out.with_suffix(".png"), check)
    words = ["benchmarks/cylinder_mesh_study.py"] + (sys.argv[1:] if argv is None else argv)
    command = ".venv/bin/python " + " ".join(Path(w).name if w.startswith("/") else w for w in words)
    print(write_markdown(rows, cfg, choice, command, args.out, check))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

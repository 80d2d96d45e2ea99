"""The pure-numpy measurements of benchmarks/cylinder_mesh_study.py on synthetic force signals."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from cylinder_mesh_study import (  # noqa: E402
    DFG_RANGES,
    dfg_mid,
    execution_cpu,
    force_stats,
    pick_level,
    rel_dev,
    table,
    upcrossings,
)

D, U = 0.1, 1.0


def _signal(f: float, amp: float, t_end: float = 5.5, seed: int = 0, growth: float | None = None):
    """Uneven time steps (adjustable dt), lift at frequency f with a start-up envelope, drag at 2f."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, t_end, 20000))
    env = np.ones_like(t) if growth is None else 1 - np.exp(-t / growth)
    cl = 0.02 + amp * env * np.sin(2 * np.pi * f * t + 0.4)
    cd = 3.2 + 0.02 * env * np.sin(4 * np.pi * f * t)
    return t, cd, cl


def test_force_stats_of_a_periodic_signal() -> None:
    t, cd, cl = _signal(f=3.0, amp=1.0)
    s = force_stats(t, cd, cl, D, U, t_start=3.5)
    assert s.st == pytest.approx(0.30, rel=1e-3)
    assert s.st_first == pytest.approx(0.30, rel=1e-3) and s.st_second == pytest.approx(0.30, rel=1e-3)
    assert abs(s.st_drift) < 1e-3 and abs(s.amp_drift) < 5e-3
    assert s.cl_amp == pytest.approx(1.0, rel=2e-3)
    assert s.cl_max == pytest.approx(1.02, rel=2e-3)
    assert s.cd_mean == pytest.approx(3.2, abs=2e-3) and s.cd_max == pytest.approx(3.22, abs=1e-3)
    assert s.periods == pytest.approx(6.0, rel=2e-3)
    assert s.window == (3.5, pytest.approx(t[-1]))
    # Re 200-like: twice the frequency, twice U -> the same St
    t2, cd2, cl2 = _signal(f=6.0, amp=1.0)
    assert force_stats(t2, cd2, cl2, D, 2 * U, t_start=1.8).st == pytest.approx(0.30, rel=1e-3)


def test_force_stats_sees_a_growing_amplitude() -> None:
    # the lift still growing through the window: the amplitude drift says so
    t, cd, cl = _signal(f=3.0, amp=1.0, growth=2.0)
    s = force_stats(t, cd, cl, D, U, t_start=2.0)
    assert s.amp_drift > 0.05
    assert s.cl_amp < 1.0
    # the frequency does not change with the amplitude: no St drift
    assert abs(s.st_drift) < 2e-3 and s.st == pytest.approx(0.30, rel=2e-3)


def test_upcrossings_are_interpolated() -> None:
    t = np.linspace(0, 1, 1001)
    tc = upcrossings(t, np.sin(2 * np.pi * 4 * t - 0.1))
    np.testing.assert_allclose(tc, (np.arange(4) + 0.1 / (2 * np.pi)) / 4, atol=1e-6)


def test_execution_cpu_reads_the_log_up_to_a_time() -> None:
    log = "\n".join(
        f"Courant Number mean: 0.1 max: 0.9\nTime = {k * 0.25:g}\n\nsmoothSolver: ...\n"
        f"ExecutionTime = {1.5 * k:g} s  ClockTime = {2 * k} s\n"
        for k in range(1, 9)
    )
    assert execution_cpu(log) == pytest.approx(12.0)
    assert execution_cpu(log, t_end=1.0) == pytest.approx(6.0)
    assert execution_cpu(log, t_end=0.1) == 0.0


def _rows(st: dict[str, tuple[float, float]]) -> list[dict]:
    base = {"cd_mean": 3.1, "cd_max": 3.2, "cl_amp": 1.0, "cl_max": 1.0, "cpu_s": 10.0, "steps": 100, "cells": 1000}
    return [base | {"level": lv, "Re": Re, "st": v} for lv, pair in st.items() for Re, v in zip((100.0, 200.0), pair)]


def test_pick_level_wants_both_the_finest_level_and_dfg() -> None:
    rows = _rows({"a": (0.26, 0.29), "b": (0.299, 0.319), "c": (0.301, 0.322), "d": (0.302, 0.323)})
    assert pick_level(rows, ["a", "b", "c", "d"], tol=0.015) == "b"
    assert pick_level(rows, ["a", "b", "c", "d"], tol=0.005) == "c"
    # St close to the finest level but the finest level is off DFG: no level qualifies
    off = _rows({"a": (0.26, 0.29), "b": (0.27, 0.30)})
    assert pick_level(off, ["a", "b"], tol=0.015) is None
    # a level without every Re is not chosen
    assert pick_level([r for r in rows if not (r["level"] == "b" and r["Re"] == 200.0)],
                      ["a", "b", "c", "d"], tol=0.015) == "c"


def test_table_deviations() -> None:
    assert dfg_mid("st") == pytest.approx(0.30) and DFG_RANGES["cl_max"] == (0.99, 1.01)
    assert rel_dev(0.303, 0.30) == pytest.approx(0.01)
    text = table(_rows({"a": (0.297, 0.33), "b": (0.30, 0.30)}), finest="b")
    lines = text.splitlines()
    assert len(lines) == 2 + 4
    assert "0.2970 (-1.0 %)" in lines[2] and "| -1.0 % |" in lines[2]
    assert "| +10.0 % |" in lines[3]  # Re 200: no DFG column, 10 % above the finest level


def test_dt_check_and_settling_text() -> None:
    from cylinder_mesh_study import dt_check_table, settling_note

    rows = [r | {"max_co": 0.9, "st_drift": 0.001, "amp_drift": -0.02, "periods": 5.9}
            for r in _rows({"fine": (0.2956, 0.3137)})]
    check = rows[0] | {"max_co": 0.3, "st": 0.2990, "cpu_s": 600.0}
    lines = dt_check_table(rows, check).splitlines()
    assert lines[2].startswith("| 0.9 | 0.2956 |") and lines[3].startswith("| 0.3 | 0.2990 |")
    assert "| 600 |" in lines[3]
    note = settling_note(rows)
    assert "at least 5.9 shedding periods" in note and "at most 0.1 %" in note and "up to 2.0 %" in note

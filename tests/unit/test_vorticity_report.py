"""The vorticity benchmark's report tables (benchmarks/vorticity.py): seeds grouped, ablation ratios."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import vorticity  # noqa: E402


def _row(window: float, h2: float) -> dict:
    return {"window": {"rel_mse": window}, "2H": {"rel_mse": h2}, "last": {"rel_mse": h2}}


def test_seed_table_groups_the_seeds_of_a_recipe_and_means_them():
    models = {"ECHO 1k": _row(1e-2, 4e-2), "ECHO 1k (seed 1)": _row(3e-2, 8e-2), "FNO-2d": _row(2e-3, 7e-3)}
    rows = vorticity.seed_table(models)
    assert len(rows) == 3  # header, separator, one recipe with two seeds (FNO has one: left out)
    assert rows[2].startswith("| ECHO 1k | 0, 1 |")
    assert "**2.00e-02**" in rows[2] and "**6.00e-02**" in rows[2]
    assert vorticity.seed_table({"FNO-2d": _row(2e-3, 7e-3)}) == []


def test_scores_and_ablation_ratio_follow_the_predictions():
    rng = np.random.default_rng(0)
    true = rng.standard_normal((3, 2 * vorticity.H, 5, 1))
    good = {**vorticity.scores(true + 0.1 * rng.standard_normal(true.shape), true)}
    bad = {**vorticity.scores(true + 0.2 * rng.standard_normal(true.shape), true)}
    assert 3.0 < bad["window"]["rel_mse"] / good["window"]["rel_mse"] < 5.0  # noise x2 -> error x4
    rows = vorticity.ablation_table({"ECHO 1k": bad, "ECHO 1k + anchor": good}, {})
    assert len(rows) == 3 and "| ECHO 1k | ECHO 1k + anchor |" in rows[2]
    ratio = float(rows[2].split("|")[4].strip().rstrip("x"))
    assert abs(ratio - good["window"]["rel_mse"] / bad["window"]["rel_mse"]) < 0.01


def test_restart_scores_split_the_chained_error_by_segment_and_start_frame():
    h = vorticity.H
    true = np.ones((2, 4 * h, 3, 1))
    chained = {"m": true.copy()}
    chained["m"][:, 3 * h :] = 0.0  # the chained forecast is lost in the last segment only: rel-MSE 1 there
    restart = {f"m @ {s}": true[:, s : s + h] * (1.0 + 0.1 * (k + 1)) for k, s in enumerate(vorticity.RESTARTS)}
    res = vorticity.restart_scores(restart, chained, true)
    assert list(res["m"]) == [str(s) for s in vorticity.RESTARTS]
    for k, s in enumerate(vorticity.RESTARTS):
        assert np.isclose(res["m"][str(s)]["restarted"], (0.1 * (k + 1)) ** 2)
    assert res["m"][str(h)]["chained"] == 0.0 and res["m"][str(3 * h)]["chained"] == 1.0
    rows = vorticity.restart_section(res)
    row = next(r for r in rows if r.startswith("| m |")).split("|")
    assert row[6].strip() == "16.0x"  # later states: 0.4^2 / 0.1^2
    assert row[-2].strip() == "6.3x"  # predicted start: 1 / 0.16 = 6.25

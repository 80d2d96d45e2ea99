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

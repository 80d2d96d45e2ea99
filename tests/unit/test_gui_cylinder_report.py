"""The GUI benchmark's table (benchmarks/gui_cylinder.py): a cached step split into its parts, the
view's renders per step, and a baseline from an older run (without those rows) shown as "-"."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gui_cylinder  # noqa: E402


def _steps(cpu: float, n: int = 3) -> list[list[float]]:
    return [[cpu, 2 * cpu]] * n


def _result(**extra) -> dict:
    base = {"apply": [3.5, 30.0], "first": [1.25, 7.0], "visit": _steps(0.3), "scrub": _steps(0.29),
            "reader": _steps(0.19), "predicted": [5.525, 5.55, 5.575], "n_cells": 8376, "times": 240,
            "n_rollouts": 1, "last_error": None, "load_before": [1.0], "load_after": [2.0]}
    return {**base, **extra}


def test_new_rows_and_an_older_baseline():
    new = _result(renders={"scrub": 2.0, "reader": 1.0, "reader_active": 2.0},
                  part_pipeline=_steps(0.004), part_view_update=_steps(0.06), part_render=_steps(0.09),
                  reader_active=_steps(0.28))
    rows = dict(gui_cylinder.rows_of(new))
    old = dict(gui_cylinder.rows_of(_result()))  # made before the parts and render counts were measured
    assert rows["scrub a cached rollout (back and forth), per frame"] == "0.290 (0.58)"
    assert rows["... of which one render of the view alone (StillRender), per render"] == "0.090 (0.18)"
    assert rows["... renders of the view per scrubbed frame"] == "2.00"
    assert rows["first predicted frame (the whole 3-frame rollout)"] == "1.25 (7.0)"
    assert old["... renders of the view per scrubbed frame"] == "-"
    assert old["the reader alone shown and active, same steps, per frame"] == "-"
    assert list(rows) == list(old)  # one table: the same rows in the same order


def test_markdown_names_the_command_and_both_columns(tmp_path):
    args = argparse.Namespace(case=tmp_path / "case", model=tmp_path / "model.safetensors", frames=3, start=5.5,
                              threads=0, passes=1, out=tmp_path / "gui_cylinder.md")
    text = gui_cylinder.markdown({"GUI": _result(), "GUI before": _result(first=[2.5, 9.0])}, args, "a note")
    assert "--frames 3 --start 5.5 --threads 0 --passes 1" in text
    assert "| first predicted frame (the whole 3-frame rollout) | 1.25 (7.0) | 2.50 (9.0) |" in text
    assert "a note" in text and "8,376 cells" in text

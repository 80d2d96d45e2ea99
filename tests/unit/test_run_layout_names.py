"""Every run-directory name lives in echo_model.train.layout: no module that builds or reads a run
directory spells one itself (a renamed file would otherwise be found by some readers only)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from echo_model.train import layout

ROOT = Path(__file__).resolve().parents[2]
NAMES = {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)}
FILES = sorted(p for p in (ROOT / "echo_model" / "train").glob("*.py") if p.name != "layout.py") + [
    ROOT / "echo_paraview" / "train_filter.py", ROOT / "echo_paraview" / "training.py",
    ROOT / "echo_paraview" / "job_identity.py"]
FILE_NAMES = {n for n in NAMES if "." in n}  # "ae", "dit" are also stage names; these are only files


def test_layout_names_every_file_of_a_run_directory():
    assert {"train.lock", "dataset.h5", "model.safetensors", "pipeline.json", "latents.h5", "residual.h5"} <= NAMES
    assert {layout.AE_DIR, layout.REFINE_DIR, layout.DIT_DIR, layout.DMD_DIR, layout.ECHO_DIR} == {
        "ae", "refine", "dit", "dmd", "echo"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_run_file_name_is_spelled_outside_layout(path):
    spelled = [(node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Constant) and node.value in FILE_NAMES]
    assert spelled == [], f"{path.name}: use echo_model.train.layout's names"

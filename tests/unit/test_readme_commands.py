"""README.md keeps exactly two set-up commands (the main job, the tests) and CI runs the second verbatim."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_command():
    commands = [line.strip() for line in (REPO / "README.md").read_text().splitlines()
                if line.strip().startswith("bash scripts/setup.sh")]
    assert commands == ["bash scripts/setup.sh && .venv/bin/echopv demo",
                        "bash scripts/setup.sh && .venv/bin/python -m pytest -q"]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip().startswith("bash ")]
    assert ci == [commands[1]]

"""`echopv demo --help` and `echopv demo cylinder --help`: each case prints its own help."""
from __future__ import annotations

import pytest

from echo_paraview.cli import main


def _help(capsys, *words: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_cylinder_demo_prints_its_own_help(capsys):
    text = _help(capsys, "demo", "cylinder")
    assert text.startswith("usage: echopv demo cylinder")
    assert "OpenFOAM case as an analyst opens it" in text and "--mesh" in text and "--case" in text
    assert "--dataset" not in text and "see `echopv demo cylinder --help`" not in text


def test_vorticity_demo_help_names_the_cylinder_help(capsys):
    text = _help(capsys, "demo")
    assert text.startswith("usage: echopv demo vorticity") and "--dataset" in text and "--mesh" not in text
    assert "echopv demo cylinder --help" in text


def test_unknown_option_of_the_cylinder_demo_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "cylinder", "--dataset", "x.h5"])
    assert exc.value.code == 2 and "unrecognized arguments: --dataset" in capsys.readouterr().err

"""`echopv ... | head`: a reader that stops early ends the command quietly, without a traceback."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "sample_cases" / "ns2d_vorticity" / "model_tiny.safetensors"


def _echopv() -> str:
    script = Path(sys.executable).parent / "echopv"
    return shlex.quote(str(script)) if script.exists() else f"{shlex.quote(sys.executable)} -m echo_paraview.cli"


@pytest.mark.parametrize("reader", ["head -1", "head -n 0"])  # head -n 0 closes the pipe before any write
def test_info_piped_into_head_has_no_traceback(reader):
    cmd = f"{_echopv()} info {shlex.quote(str(MODEL))} | {reader}"
    res = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr
    assert res.stdout == ("" if reader == "head -n 0" else f"ECHO model file {MODEL}\n")


def test_info_without_a_pipe_still_prints_everything(capsys):
    from echo_paraview.cli import main

    assert main(["info", str(MODEL)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ECHO model file {MODEL}") and out.count("\n") > 5

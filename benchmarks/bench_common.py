"""What the accuracy benchmarks share: in-process `echopv` commands with their CPU cost, and
command lines recorded without this machine's directories."""
from __future__ import annotations

import resource
from pathlib import Path


def portable(argv: list[str]) -> str:
    """The command line without this machine's directories (absolute paths cut to their file name)."""
    return " ".join(Path(a).name if a.startswith("/") else a for a in argv)


def cpu_s() -> float:
    """CPU seconds of this process so far (user + system): a training cost that a busy machine does not inflate."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def echopv(argv: list[str]) -> float:
    """Run an `echopv` command in this process; returns its CPU seconds."""
    from echo_paraview.cli import main

    print("$ echopv " + " ".join(argv), flush=True)
    c0 = cpu_s()
    if main(argv):
        raise SystemExit(f"echopv {' '.join(argv[:2])} failed")
    return cpu_s() - c0

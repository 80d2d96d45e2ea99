"""One Xvfb X server for the whole GUI test session."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


def _free_display() -> int:
    for n in range(91, 200):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number between :91 and :199")


def _wait_ready(display: str, proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        r = subprocess.run(["xdpyinfo", "-display", display], capture_output=True)
        if r.returncode == 0:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="session")
def xvfb_display():
    """Start `Xvfb :N`, wait until xdpyinfo connects, yield ":N"; stop it at the end.

    Xvfb occasionally aborts (SIGABRT) on its very first start in a fresh container, so one
    retry on a new display number is allowed.
    """
    if shutil.which("Xvfb") is None or shutil.which("xdpyinfo") is None:
        pytest.fail("Xvfb/xdpyinfo missing: run `bash scripts/setup.sh` (installs xvfb and x11-utils)")
    errors = []
    for attempt in range(2):
        n = _free_display()
        display = f":{n}"
        log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"echopv-xvfb-{n}.log", "w")
        proc = subprocess.Popen(
            ["Xvfb", display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-noreset"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        if _wait_ready(display, proc):
            try:
                yield display
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.close()
            return
        errors.append(f"attempt {attempt + 1}: Xvfb {display} exited with {proc.poll()} (log {log.name})")
        if proc.poll() is None:
            proc.kill()
        log.close()
    pytest.fail("Xvfb did not start: " + "; ".join(errors))


import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from foam_fixtures import cylinder_model, foam_case, make_model  # noqa: E402,F401

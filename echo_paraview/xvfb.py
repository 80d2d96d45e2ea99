"""A private Xvfb X server for ParaView on a machine without a display.

Debian's ParaView 5.11 renders only through X (no EGL/OSMesa build), so a pvbatch/pvpython
script that calls Render/SaveScreenshot aborts (SIGABRT) where DISPLAY is unset: a cluster node,
CI, an ssh session. The launcher starts one of these for the lifetime of the ParaView process.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from echo_model.errors import EchoUserError

SCREEN = "1920x1200x24"


class XvfbError(EchoUserError):
    """Xvfb is missing or did not start; the message says how to fix or avoid it."""


@dataclass
class PrivateX:
    display: str
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_display(start: int = 90) -> int:
    for n in range(start, start + 400):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise XvfbError(f"no free X display number between :{start} and :{start + 399} (stale /tmp/.X*-lock files?)")


def _ready(n: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    sock = Path(f"/tmp/.X11-unix/X{n}")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if sock.exists():
            return True
        time.sleep(0.05)
    return False


def start(timeout: float = 20.0, attempts: int = 2) -> PrivateX:
    """Start `Xvfb :N` on a free display and wait for its socket; one retry (a first start on a
    fresh machine has been seen to abort)."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise XvfbError("there is no DISPLAY and Xvfb is not installed: install it (`bash scripts/setup.sh` or "
                        "apt-get install xvfb), run under an X display, or pass --no-xvfb when the script "
                        "does not render")
    errors = []
    for _ in range(attempts):
        n = free_display()
        proc = subprocess.Popen([exe, f":{n}", "-screen", "0", SCREEN, "-nolisten", "tcp", "-noreset"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if _ready(n, proc, timeout):
            return PrivateX(f":{n}", proc)
        errors.append(f":{n} exited with {proc.poll()}")
        PrivateX(f":{n}", proc).stop()
    raise XvfbError(f"Xvfb did not start ({'; '.join(errors)}); run under an X display or pass --no-xvfb")


def needed(tool: str, env: dict[str, str], mode: str) -> bool:
    """auto: pvbatch/pvpython without DISPLAY (they may render); always; never."""
    if mode == "never" or env.get("ECHOPV_NO_XVFB") == "1":
        return False
    if mode == "always":
        return True
    return tool in ("pvbatch", "pvpython") and not env.get("DISPLAY")


def stop_session(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """Stop a GUI started in its own session (`start_new_session=True`) with everything it spawned:
    SIGTERM to the group, SIGKILL after `grace_s` seconds."""
    import signal

    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

"""Run a pvbatch rendering script through the launcher, with its log kept (the demos' last step)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from echo_model.errors import EchoUserError

from .resources import CHECKOUT, in_checkout, pvbatch_script


def run_pvbatch(args_file: Path, log: Path, script: Path | None = None) -> None:
    """pvbatch renders through X: the display we have, else the launcher's private Xvfb (retried
    once: a first Xvfb start on a fresh machine has been seen to abort)."""
    # without a DISPLAY the launcher starts (and stops) its own Xvfb
    script = script or pvbatch_script("pv_demo.py")
    cmd = [sys.executable, "-m", "echo_paraview.cli", "pvbatch", "--", str(script), str(args_file)]
    for attempt in (1, 2):
        with open(log, "w") as fh:
            cwd = CHECKOUT if in_checkout() else None
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd).returncode
        text = log.read_text()
        if rc == 0 and "RENDERED" in text:
            return
        if attempt == 2 or "Traceback" in text:  # a Python error in the script: retrying won't help
            raise EchoUserError(f"pvbatch failed (exit {rc}); its output is in {log}:\n" + text[-3000:])
        failed = log.with_name(log.stem + "-attempt1.log")
        log.replace(failed)  # kept for diagnosis
        print(f"      pvbatch exited with {rc} without a Python error (X server start-up?): retrying once; "
              f"first output kept in {failed}", flush=True)

"""The run-directory lock: a second trainer refuses with the first one's pid; released on exit; a crashed
holder's lock is stale and taken over. Also: CI (ECHOPV_REQUIRE_PARAVIEW=1) fails without ParaView."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from echo_model.errors import EchoUserError
from echo_model.train.lock import LOCK_NAME, RunDirLocked, RunLock, lock_holder

REPO = Path(__file__).resolve().parents[2]


def _holder_process(run_dir: Path) -> subprocess.Popen:
    """Another process that takes the lock, says so, then sleeps until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from echo_model.train.lock import RunLock
        lock = RunLock({str(run_dir)!r}).acquire()
        print("locked", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_two_trainers_on_the_same_run(tmp_path):
    other = _holder_process(tmp_path)
    try:
        with pytest.raises(RunDirLocked, match=f"pid {other.pid}") as info:
            RunLock(tmp_path).acquire()
        assert isinstance(info.value, EchoUserError) and "another run directory" in str(info.value)
        assert lock_holder(tmp_path) == other.pid
    finally:
        other.terminate()
        other.wait()


def test_lock_released_on_exit(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.held and json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        with RunLock(tmp_path):  # the same process nesting (train all -> a stage) shares the lock
            pass
        assert lock_holder(tmp_path) == os.getpid()
    assert lock_holder(tmp_path) is None
    other = _holder_process(tmp_path)  # another process can now take it
    other.terminate()
    other.wait()


def test_stale_lock_after_a_crash_is_recovered(tmp_path):
    crashed = _holder_process(tmp_path)
    crashed.send_signal(signal.SIGKILL)  # no clean-up code runs
    crashed.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == crashed.pid  # the file stayed behind
    assert lock_holder(tmp_path) is None
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("required", [False, True])
def test_ci_fails_when_paraview_is_missing(tmp_path, required):
    """With ECHOPV_REQUIRE_PARAVIEW=1 (set in .ci/run) a missing pvpython fails the ParaView tests."""
    assert "ECHOPV_REQUIRE_PARAVIEW=1" in (REPO / ".ci" / "run").read_text()
    env = {**os.environ, "ECHOPV_PARAVIEW_BIN": str(tmp_path), "ECHOPV_REQUIRE_PARAVIEW": "1" if required else ""}
    test = "tests/paraview/test_pvpython.py"
    res = subprocess.run([sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-x"],
                         capture_output=True, text=True, env=env, cwd=str(REPO), timeout=300)
    if required:
        assert res.returncode == 1 and "must have it" in res.stdout and "skipped" not in res.stdout, res.stdout[-2000:]
    else:
        assert res.returncode == 0 and "skipped" in res.stdout and "failed" not in res.stdout, res.stdout[-2000:]

"""One trainer per run directory: an exclusive lock file, RUN/train.lock.

Two `echopv train` commands on the same run directory would interleave their checkpoints and
model files (silent data loss), so the second one refuses, naming the first one's pid.

The lock is an OS advisory lock (fcntl.flock) on the file, not the file's existence: the kernel
drops it when the holder exits for any reason (normal exit, exception, SIGKILL, a crash), so a
lock left behind by a dead trainer is stale by construction and the next trainer simply takes it
over. The file keeps the holder's pid and command line for the message.

    with RunLock(run_dir):        # raises RunDirLocked if another live process holds it
        trainer.fit(...)
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import EchoUserError

LOCK_NAME = "train.lock"
# locks this process holds, by resolved path: nested holders (`train all` running a stage in the
# same directory) share the one flock instead of refusing themselves
_HELD: dict[str, list] = {}


class RunDirLocked(EchoUserError):
    """Another live process trains in this run directory."""


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


class RunLock:
    """Exclusive, crash-safe lock on a run directory (see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        import fcntl

        if self._fd is not None:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        key = str(self.path.resolve())
        if key in _HELD:  # [fd, count]
            _HELD[key][1] += 1
            self._fd = _HELD[key][0]
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            other = _holder(self.path)
            raise RunDirLocked(
                f"{self.run_dir} is in use by another training process (pid {other.get('pid', '?')} on "
                f"{other.get('host', '?')}, started {other.get('started', '?')}: {other.get('command', '?')}). "
                "Wait for it to finish, stop it, or choose another run directory"
            ) from None
        # we hold the lock: whatever the file says is a previous, finished or crashed holder
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)[:500]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        _HELD[key] = [fd, 1]
        return self

    def release(self) -> None:
        import fcntl

        if self._fd is None:
            return
        key = str(self.path.resolve())
        if key in _HELD and _HELD[key][1] > 1:
            _HELD[key][1] -= 1
            self._fd = None
            return
        _HELD.pop(key, None)
        try:
            os.ftruncate(self._fd, 0)  # an empty file says "free" to anyone reading it
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(run_dir: str | os.PathLike) -> int | None:
    """The pid of the live process training in run_dir, or None (free, or only a stale file)."""
    import fcntl

    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(path).get("pid")
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["LOCK_NAME", "RunDirLocked", "RunLock", "lock_holder"]

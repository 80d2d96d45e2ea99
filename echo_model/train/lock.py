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

import errno
import json
import os
import socket
import stat
import sys
import time
from pathlib import Path

from ..errors import EchoUserError
from .layout import LOCK

LOCK_NAME = LOCK  # layout's name, kept under the name callers import
# locks this process holds, by resolved path: nested holders (`train all` running a stage in the
# same directory) share the one flock instead of refusing themselves
_HELD: dict[str, list] = {}


class RunDirLocked(EchoUserError):
    """Another live process trains in this run directory."""


class LockFileUnsafe(EchoUserError):
    """RUN/train.lock is a link, a directory, a FIFO or another non-regular file."""


def _kind(path: Path) -> str:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "special file"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    return "socket or device" if not stat.S_ISREG(mode) else "regular file"


def _unsafe(path: Path) -> LockFileUnsafe:
    return LockFileUnsafe(
        f"{path} is a {_kind(path)}, not a regular file, so it cannot serve as the run's lock "
        f"(a link would let the lock overwrite the file it points to): remove it (`rm -r '{path}'`) "
        "and start the training again")


def make_run_dir(run_dir: str | os.PathLike) -> Path:
    """Create the run directory (and its parents); a plain file, a link loop or a folder that cannot be
    written in its place is refused naming it (mkdir's FileExistsError / ELOOP used to be a traceback).

    Raises
    ------
    EchoUserError
        Naming the run directory, what is in its place and the fix.
    """
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        what = {errno.EEXIST: "a file, not a directory", errno.ENOTDIR: "below a file, not a directory",
                errno.ELOOP: "a symbolic link that loops", errno.EACCES: "in a folder you cannot write to",
                errno.EROFS: "on a read-only file system", errno.EPERM: "in a folder you cannot write to",
                errno.ENOSPC: "on a full disk"}.get(exc.errno, f"not creatable ({exc.strerror})")
        raise EchoUserError(f"the run directory {run_dir} is {what}: choose another run directory (--run) or "
                            "remove what is in its place") from None
    if not run_dir.is_dir():
        raise EchoUserError(f"the run directory {run_dir} is not a directory: choose another run directory (--run)")
    return run_dir


def open_lock_file(path: Path, flags: int) -> int:
    """Open (or create) the lock file without following a link; refuse anything not a regular file.

    Parameters
    ----------
    path : Path
        RUN/train.lock.
    flags : int
        os.O_RDWR | os.O_CREAT to take the lock, os.O_RDONLY to look at it.

    Returns
    -------
    int
        An open file descriptor of a regular file.

    Raises
    ------
    LockFileUnsafe
        The path is a symbolic link, a directory, a FIFO or a device.
    """
    # O_NOFOLLOW: a symlink is refused, not truncated; O_NONBLOCK: opening a FIFO never waits
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EMLINK):
            raise _unsafe(path) from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise EchoUserError(f"cannot create the run's lock {path} ({exc.strerror}): the run directory must be "
                                "writable; choose another run directory (--run)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _unsafe(path)
    return fd


def _holder(fd: int) -> dict:
    # read through the open descriptor: the path may have been swapped for a link meanwhile
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
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
        make_run_dir(self.run_dir)
        key = str(self.run_dir.resolve() / LOCK_NAME)  # not through the lock: it may be a link
        if key in _HELD:  # [fd, count]
            _HELD[key][1] += 1
            self._fd = _HELD[key][0]
            return self
        fd = open_lock_file(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _holder(fd)
            os.close(fd)
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
        key = str(self.run_dir.resolve() / LOCK_NAME)  # not through the lock: it may be a link
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
    if not path.exists() and not path.is_symlink():
        return None
    try:
        fd = open_lock_file(path, os.O_RDONLY)
    except LockFileUnsafe:  # acquire refuses such a lock, so no trainer can hold it
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd).get("pid")
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["LOCK_NAME", "LockFileUnsafe", "RunDirLocked", "RunLock", "lock_holder", "make_run_dir"]

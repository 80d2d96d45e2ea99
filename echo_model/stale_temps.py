"""Temporary files of atomic writes, `.NAME.tmp-PID` next to NAME, and the cleanup of dead writers' ones.

Every writer of the project writes `.NAME.tmp-PID` and renames it to NAME when complete, deleting
it on failure. A writer killed by SIGKILL (or a power cut) cannot delete it: the next write of NAME
removes it, and only it: a file matching exactly `.NAME.tmp-<digits>` whose pid is not alive.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary name this process writes `path` under: `.NAME.tmp-PID` in the same folder.

    Example
    -------
    >>> temp_path("run/latents.h5").name == f".latents.h5.tmp-{os.getpid()}"
    True
    """
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OverflowError:  # not a pid this system could have
        return False
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `path` left by writers that are no longer running.

    Parameters
    ----------
    path : str or os.PathLike
        The file about to be written; its folder is searched for `.NAME.tmp-PID` files.

    Returns
    -------
    list of Path
        The files removed (regular files whose pid is not a live process; nothing else is touched).

    Example
    -------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / ".x.h5.tmp-999999999").write_bytes(b"half")
    >>> [p.name for p in remove_stale_temps(d / "x.h5")], sorted(os.listdir(d))
    (['.x.h5.tmp-999999999'], [])
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.tmp-(\d+)")
    removed = []
    try:
        names = os.listdir(path.parent)
    except OSError:  # no folder yet: nothing left behind
        return removed
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        stale = path.parent / name
        try:
            if stat.S_ISREG(os.lstat(stale).st_mode):
                stale.unlink()
                removed.append(stale)
        except OSError:  # gone meanwhile, or not ours to delete: leave it
            continue
    return removed


__all__ = ["remove_stale_temps", "temp_path"]

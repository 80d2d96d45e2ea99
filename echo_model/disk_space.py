"""Free space before large writes, folders that appear only when complete, and the one full-disk message.

A full disk must never crash a writer (HDF5 segfaults when it cannot flush its file on close) nor
leave half an output behind. Writers estimate the bytes they are about to write and call
`require_space` first; folder outputs (a .pvd's frames, an export) are written into a temporary
folder beside the target and moved into place only when complete (`atomic_folder`); any OSError
of a full disk becomes `DiskFullError`, naming the folder and the space needed.
"""
from __future__ import annotations

import errno
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import EchoUserError
from .stale_temps import temp_path

MARGIN = 1 << 20  # HDF5 metadata, the file system's own blocks, small side files
_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(EchoUserError):
    """Too little free space for a write (found up front, or reported by the file system)."""


def format_bytes(n: float) -> str:
    """`n` bytes in the largest unit that keeps a number >= 1 (B, KB, MB, GB, TB; powers of 1000).

    Example
    -------
    >>> format_bytes(1_500_000), format_bytes(12), format_bytes(3.2e9)
    ('1.5 MB', '12 B', '3.2 GB')
    """
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _existing(folder: Path) -> Path:
    """The folder itself or its nearest existing ancestor (the disk it will be created on)."""
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def free_bytes(folder: str | os.PathLike) -> int:
    """Bytes free for this user on the disk that holds `folder` (or would hold it, once created)."""
    return int(shutil.disk_usage(_existing(Path(folder))).free)


def _message(folder: Path, what: str, needed: float | None, free: float | None) -> str:
    fix = "free some space on that disk or write to another folder"
    if needed is None:
        now = f" ({format_bytes(free)} free once the partial output was removed)" if free is not None else ""
        return f"{what} ran out of space on the disk holding {folder}{now}: {fix}"
    return (f"{what} needs about {format_bytes(needed)}, but the disk holding {folder} has "
            f"{format_bytes(free)} free: {fix}")


def require_space(folder: str | os.PathLike, needed: float, what: str) -> None:
    """Refuse a write of about `needed` bytes into `folder` when its disk has less free (plus a margin).

    Parameters
    ----------
    folder : str or os.PathLike
        Where the file or folder is written (it need not exist yet).
    needed : float
        The estimated bytes of the write (an upper bound: uncompressed sizes).
    what : str
        The output, for the message (e.g. "writing runs/latents.h5").

    Raises
    ------
    DiskFullError
        Naming the folder, the space needed and the space free.

    Example
    -------
    >>> import tempfile
    >>> require_space(tempfile.gettempdir(), 10, "a tiny file")
    """
    folder = Path(folder)
    free = free_bytes(folder)
    if needed + MARGIN > free:
        raise DiskFullError(_message(folder, what, needed + MARGIN, free))


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is the file system's "no space" / "quota exceeded"."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        if isinstance(exc, (OSError, RuntimeError)) and "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(folder: str | os.PathLike, what: str, needed: float | None = None) -> DiskFullError:
    """The message for a write into `folder` that the file system refused for lack of space."""
    folder = Path(folder)
    try:
        free = free_bytes(folder)
    except OSError:
        free = None
    return DiskFullError(_message(folder, what, needed, free))


def remove_tree(path: Path) -> None:
    """Delete a temporary file or folder of ours, whatever it holds; never follows a link out of it."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError:
        pass


@contextmanager
def atomic_folder(target: str | os.PathLike, what: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target`, on failure it is deleted.

    A full disk while writing becomes `DiskFullError` naming the folder; nothing partial is left.

    Example
    -------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "frames"
    >>> with atomic_folder(d) as tmp:
    ...     _ = (tmp / "a.txt").write_text("x")
    >>> sorted(p.name for p in d.iterdir()), sorted(p.name for p in d.parent.iterdir())
    (['a.txt'], ['frames'])
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    remove_tree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists() or target.is_symlink():
            os.replace(target, old) if target.is_dir() and not target.is_symlink() else target.unlink()
        os.replace(tmp, target)
        remove_tree(old)
    except BaseException as exc:
        remove_tree(tmp)
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise disk_full_error(target.parent, what or f"writing {target}") from None
        raise


__all__ = ["DiskFullError", "MARGIN", "atomic_folder", "disk_full_error", "format_bytes", "free_bytes",
           "is_disk_full", "remove_tree", "require_space"]

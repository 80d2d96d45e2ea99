"""Atomic writes: a reader (ParaView polling a run, a second process) sees the old file or the new one,
never half of one.

The file is written under `stale_temps.temp_path(path)` (`.NAME.tmp-PID` in the same folder, so
the rename never crosses file systems) and moved onto `path` with `os.replace` when complete; on any
failure the temporary file is deleted and the target is left as it was.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from .stale_temps import temp_path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield the temporary path to write; replace `path` with it when the block ends without an error.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)write; its folder must exist.

    Yields
    ------
    Path
        `.NAME.tmp-PID` beside `path`. Write it completely inside the block (close it too); if the
        block raises, it is deleted and the exception goes on.

    Example
    -------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("whole")
    >>> try:
    ...     with atomic_path(d / "a.txt") as tmp:
    ...         _ = tmp.write_text("ha")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('whole', ['a.txt'])
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:  # only on failure: after a replace the name may already be another write's
        with contextlib.suppress(OSError):  # never hide the write's own error
            tmp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically (UTF-8); returns `path`.

    Example
    -------
    >>> import tempfile
    >>> p = write_text_atomic(Path(tempfile.mkdtemp()) / "status.json", '{"state": "done"}')
    >>> p.read_text()
    '{"state": "done"}'
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


__all__ = ["atomic_path", "write_text_atomic"]

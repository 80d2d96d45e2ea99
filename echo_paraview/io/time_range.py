"""The time range of an import (`--start-time` / `--end-time`): which frames fall inside it.

One rule for every source kind: a frame at time t is kept when start <= t <= end (either bound
optional), with a relative tolerance of 1e-9 so that times written in decimal text still match.

Example
-------
>>> import numpy as np
>>> select_time_range(np.array([0.0, 0.1, 0.2, 0.3]), start=0.1, end=0.2).tolist()
[1, 2]
"""
from __future__ import annotations

import numpy as np

from echo_model.errors import EchoUserError

_REL_TOL = 1e-9


def check_time_range(start: float | None, end: float | None) -> None:
    """Refuse an end before the start (a typo the user can fix before anything is read)."""
    if start is not None and end is not None and end < start:
        raise EchoUserError(f"--end-time {end:g} is before --start-time {start:g}: give an end time after the start")


def _tol(t: float) -> float:
    return _REL_TOL * max(1.0, abs(t))


def select_time_range(times: np.ndarray, start: float | None = None, end: float | None = None,
                      where: str = "the source") -> np.ndarray:
    """Indices of the frames with start <= time <= end.

    Parameters
    ----------
    times : numpy.ndarray, shape (T,)
        The frame times, in any order.
    start, end : float, optional
        The bounds (inclusive); None leaves that side open.
    where : str
        The source, named in the error.

    Returns
    -------
    numpy.ndarray
        Indices into `times`, ascending.

    Raises
    ------
    EchoUserError
        When no frame is inside the range; the message names the frames' time span.
    """
    check_time_range(start, end)
    times = np.asarray(times, dtype=np.float64)
    keep = np.ones(times.shape[0], dtype=bool)
    if start is not None:
        keep &= times >= start - _tol(start)
    if end is not None:
        keep &= times <= end + _tol(end)
    idx = np.nonzero(keep)[0]
    if idx.size == 0:
        span = f"t = {times.min():g} .. {times.max():g} ({times.size} frames)" if times.size else "no frames"
        lo = "-inf" if start is None else f"{start:g}"
        hi = "inf" if end is None else f"{end:g}"
        raise EchoUserError(f"{where}: no frame has a time in [{lo}, {hi}] (--start-time/--end-time drops every "
                            f"frame); its frames span {span}: choose times within that span")
    return idx

"""Checks of a trajectory's times: one finite, strictly increasing time per frame, evenly spaced.

NaN or decreasing times announce time steps that show the wrong frame; an uneven step (a missing
time directory) makes a model learn a wrong dynamics there. numpy only; `array_checks` re-exports
these for the dataset store, and `trajectory.Trajectory` uses them on construction.
"""
from __future__ import annotations

import numpy as np

from ..errors import EchoUserError

_FIX = "the file is damaged or was not written by echo-paraview: re-create it with `echopv import` or `echopv generate`"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_times(times: np.ndarray, n_frames: int, where: str, fix: str = _FIX) -> None:
    """Refuse times that would announce wrong time steps: one finite, strictly increasing time per frame.

    Parameters
    ----------
    times : numpy.ndarray
        (T,) the trajectory's times.
    n_frames : int
        Frames its fields hold.
    where : str
        The file and trajectory, for the message.
    fix : str, optional
        What the user should do (default: re-create the ECHO dataset).

    Raises
    ------
    EchoUserError
        A count other than n_frames, a NaN/Inf time, or a time not after the one before.

    Example
    -------
    >>> check_times(np.array([0.0, 0.5, 1.0]), 3, "demo")
    >>> check_times(np.array([0.0, 0.5, 0.5]), 3, "demo")
    Traceback (most recent call last):
    ...
    echo_model.errors.EchoUserError: demo: times must be strictly increasing, but t[2] = 0.5 follows t[1] = 0.5; the file is damaged or was not written by echo-paraview: re-create it with `echopv import` or `echopv generate`
    """
    if times.ndim != 1 or times.shape[0] != n_frames:
        raise EchoUserError(f"{where}: times has shape {times.shape} but the fields hold {n_frames} frames "
                            f"(one time per frame); {fix}")
    bad = ~np.isfinite(times)
    if bad.any():
        k = _first(bad)
        raise EchoUserError(f"{where}: times holds {times[k]} at frame {k}, times must be finite; {fix}")
    down = np.diff(times) <= 0
    if down.any():
        k = _first(down) + 1
        raise EchoUserError(f"{where}: times must be strictly increasing, but t[{k}] = {times[k]:g} follows "
                            f"t[{k - 1}] = {times[k - 1]:g}; {fix}")


class UnevenTimeStepWarning(UserWarning):
    """A trajectory's frames are not equally spaced in time (a missing time directory or output step)."""


def uneven_steps(times: np.ndarray, rtol: float = 1e-3) -> str | None:
    """Describe the most uneven time step of a trajectory, or None when its frames are equally spaced.

    ECHO (and DMD) treat the frames as one `dt` apart; a case with one missing time directory gives a
    trajectory whose step doubles once, and the model learns a wrong dynamics there without a word.

    Parameters
    ----------
    times : numpy.ndarray
        (T,) strictly increasing times.
    rtol : float, default 1e-3
        Relative deviation from the median step that counts as uneven (written times carry rounding).

    Returns
    -------
    str or None
        "dt = 0.1 between most frames but 0.2 from t = 0.3 to t = 0.5", or None.

    Example
    -------
    >>> uneven_steps(np.array([0.0, 0.1, 0.2, 0.3]))
    >>> uneven_steps(np.array([0.0, 0.1, 0.2, 0.4, 0.5]))
    'dt = 0.1 between most frames but 0.2 from t = 0.2 to t = 0.4 (frames 2 to 3)'
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if t.size < 3:
        return None
    steps = np.diff(t)
    dt = float(np.median(steps))
    dev = np.abs(steps - dt)
    k = int(np.argmax(dev))
    if dev[k] <= rtol * abs(dt):
        return None
    return (f"dt = {dt:g} between most frames but {steps[k]:g} from t = {t[k]:g} to t = {t[k + 1]:g} "
            f"(frames {k} to {k + 1})")


__all__ = ["UnevenTimeStepWarning", "check_times", "uneven_steps"]

"""Is the state a forecast starts from like the states the model was trained on?

A model conditioned on a state it never saw (the first step of a run that starts at rest, another
flow regime) forecasts with confidence and no warning. Both model kinds measure how well they
represent the conditioning frames (`state_error`: the autoencoder's reconstruction error for ECHO,
the part the modes do not resolve for DMD, in z-scored units: a DMD model cannot flag a state inside
the span of its modes, such as a flow at rest); training records the same figure on
training frames in the header ("state_reference"); a rollout compares the two.

Example
-------
>>> check_state_error(0.5, {"median": 0.01, "p90": 0.02, "n": 8})[0][:40]
'the input state is unlike the training s'
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

RATIO = 3.0  # warn above this multiple of the training frames' 90th percentile


def reference(errors: Sequence[float]) -> dict[str, Any]:
    """The header entry from the state errors of training frames."""
    e = np.asarray(errors, dtype=np.float64)
    return {"median": float(np.median(e)), "p90": float(np.percentile(e, 90)), "n": int(e.size)}


def check_state_error(error: float, ref: dict | None) -> list[str]:
    """Warnings (empty: the state looks like the training states, or the model has no reference)."""
    if not isinstance(ref, dict) or not isinstance(ref.get("p90"), (int, float)):
        return []
    limit = RATIO * max(float(ref["p90"]), 1e-12)
    if not np.isfinite(error) or error > limit:
        return [f"the input state is unlike the training states: the model represents it with an error of "
                f"{error:.3g} (z-scored mean square), {error / max(float(ref['median']), 1e-12):.0f}x the "
                f"training frames' median {float(ref['median']):.3g} (90th percentile {float(ref['p90']):.3g}, "
                f"{ref.get('n')} frames). The forecast starts from a state it has not learnt (a run at rest, "
                "another regime): start later in the run, or train on runs that contain such states"]
    return []


def check_state(sur: Any, points: np.ndarray, observed: np.ndarray) -> list[str]:
    """`check_state_error` of the model's own measure on the conditioning frames."""
    ref = (getattr(sur, "meta", None) or {}).get("state_reference")
    if ref is None:
        return []
    return check_state_error(sur.state_error(points, observed), ref)


def training_reference(sur: Any, points: np.ndarray, frames: np.ndarray, n: int = 8) -> dict[str, Any]:
    """State errors of `n` evenly spaced conditioning windows of a training trajectory."""
    k = sur.n_observed_frames
    starts = np.unique(np.linspace(k, frames.shape[0], num=min(n, frames.shape[0] - k + 1)).astype(int))
    return reference([sur.state_error(points, frames[s - k:s]) for s in starts])

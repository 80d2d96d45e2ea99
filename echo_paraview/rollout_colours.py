"""Colour-map ranges of EchoRollout's output, from its cached forecast (no ParaView import).

The ParaView plugin shows solver and forecast on one transfer function (`<field>` and
`<field>_pred` over the range of both) and `<field>_error` on a diverging map centred on 0
(+-max|error|); `<field>_std` starts at 0. The numbers come from here, computed once per rollout
over every predicted frame (not only the frame on screen), so the colours do not jump while
scrubbing. Vectors are measured by magnitude, ParaView's default colouring mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class FieldRange:
    """Colour range of one model field over a rollout."""

    name: str  #: the model field (`U`, `p`): its maps are `<name>`, `<name>_pred`, `<name>_error`
    lo: float  #: smallest value (magnitude for vectors) of the forecast and the solver's values
    hi: float  #: largest value
    error: float | None  #: max |forecast - solver| (magnitude); None where the solver has no value


def field_ranges(specs: Sequence, mean: np.ndarray | None, truths: Sequence | None) -> list[FieldRange]:
    """Ranges per model field over the forecast and the solver's values at the predicted times.

    Parameters
    ----------
    specs : sequence of FieldSpec
        The model fields in channel order (`name`, `model_ncomp`), as `rollout_input` reads them.
    mean : numpy.ndarray, shape (T, N, C), or None
        The forecast (ensemble mean) at the T predicted times; None gives [].
    truths : sequence of Truth or None
        Per predicted time the solver's values (`.values`, (N, C)) or None where it has none.

    Returns
    -------
    list of FieldRange
        One per field, in `specs` order; `error` is None when no predicted time has a solver value.
        NaN values are ignored.

    Example
    -------
    >>> from types import SimpleNamespace as NS
    >>> specs = [NS(name="U", model_ncomp=2), NS(name="p", model_ncomp=1)]
    >>> mean = np.array([[[3.0, 4.0, 1.0]], [[0.0, 0.0, -2.0]]], dtype=np.float32)  # 2 frames, 1 point
    >>> truths = [NS(values=np.array([[0.0, 1.0, 3.0]], dtype=np.float32)), None]
    >>> [(r.name, r.lo, r.hi, round(r.error, 4)) for r in field_ranges(specs, mean, truths)]
    [('U', 0.0, 5.0, 4.2426), ('p', -2.0, 3.0, 2.0)]
    """
    if mean is None or not specs:
        return []
    truths = list(truths or [])
    have = [k for k, tr in enumerate(truths) if tr is not None and k < len(mean)]
    out, at = [], 0
    for spec in specs:
        sl = slice(at, at + int(spec.model_ncomp))
        at += int(spec.model_ncomp)
        pred = mean[..., sl]
        truth = np.stack([truths[k].values[:, sl] for k in have]) if have else pred[:0]
        vals = np.concatenate([_size(pred).ravel(), _size(truth).ravel()])
        err = float(np.nanmax(np.abs(_size(pred[have] - truth)))) if have else None
        out.append(FieldRange(spec.name, float(np.nanmin(vals)), float(np.nanmax(vals)), err))
    return out


def _size(a: np.ndarray) -> np.ndarray:
    """Scalars as they are, vectors by magnitude (last axis)."""
    return a[..., 0] if a.shape[-1] == 1 else np.linalg.norm(a, axis=-1)

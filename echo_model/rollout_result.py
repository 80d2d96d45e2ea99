"""What every model kind's rollout returns (ECHO, DMD, the hybrid), in a module of its own so the
model kinds do not import each other."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class RolloutAborted(RuntimeError):
    """Raised by a rollout when should_abort() returned True."""


@dataclass
class RolloutResult:
    """A forecast: `mean` (n_frames, M, C) in physical units, `std` and `samples` (members first) or
    None for one member, `times` after the last observed frame, the field layout and run facts."""

    mean: np.ndarray
    std: np.ndarray | None
    samples: np.ndarray | None
    times: np.ndarray
    field_layout: list[tuple[str, int]]
    info: dict = field(default_factory=dict)

"""EchoRollout's state between pipeline passes, as typed records instead of string-keyed dicts.

`Gather`: the input frames collected over CONTINUE_EXECUTING passes before a rollout (earlier observed
frames, the solver's values at the comparison times). `RolloutCache`: one finished rollout (keyed by
the start frame's content, the model file and the settings) and the output frames built from it, kept
under the filter's memory cap so scrubbing does not rebuild them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Gather:
    """Input frames still to read (`todo`, in time order) and those read so far."""

    todo: list[float]
    cond_times: list[float]  # steps that condition the model, before the start step
    truth_times: list[float]  # steps the prediction is compared with
    start_values: np.ndarray  # the start step's values, (N, C)
    key: tuple  # the cache key the finished rollout is stored under
    mi: Any  # rollout_input.ModelInput: the mesh and the model's field specs
    params: dict  # name -> fitcheck.ParamUse
    frames: dict[float, np.ndarray] = field(default_factory=dict)
    snaps: dict[int, Any] = field(default_factory=dict)  # predicted frame index -> the input's data there


@dataclass
class RolloutCache:
    """A finished rollout: per predicted frame the mean, std and the solver's values (None where none)."""

    key: tuple
    mean: np.ndarray  # (F, N, C)
    std: np.ndarray | None
    truth: list
    mi: Any
    target: Any  # Reconstruct's target input (rollout_task), else None
    fast: tuple  # the upstream state the built frames belong to
    snaps: dict[int, Any] = field(default_factory=dict)
    frames: dict[int, Any] = field(default_factory=dict)  # built output data objects
    kib: int = 0  # memory the kept data objects take

    def forget_frames(self, fast: tuple) -> None:
        """Upstream changed but not the start frame: the same forecast, new output objects to build."""
        self.fast, self.snaps, self.frames, self.kib = fast, {}, {}, 0

"""The one place that defines normalisation: per-channel z-scores and the domain box.

The networks see fields as z-scores per channel and coordinates mapped to [0, 1]^d by the
domain box of the training data. Both travel inside datasets and model files.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import EchoUserError


@dataclass
class ChannelStats:
    """Per-channel z-score statistics of the training data (a constant channel gets unit scale).

    Parameters
    ----------
    mean, std: (C,) per flat channel.

    Example
    -------
    >>> stats = ChannelStats(mean=[1.0, 0.0], std=[2.0, 0.0])
    >>> stats.normalize(np.array([[3.0, 5.0]])).tolist()
    [[1.0, 5.0]]
    """

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float64).reshape(-1)
        # A constant channel would divide by zero: treat it as unit scale.
        self.std = np.where(self.std > 1e-12, self.std, 1.0)

    def normalize(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def denormalize(self, values: np.ndarray) -> np.ndarray:
        return (values * self.std + self.mean).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "ChannelStats":
        return cls(np.asarray(d["mean"]), np.asarray(d["std"]))


class RunningStats:
    """Streaming per-channel mean/std (Chan's parallel update), for datasets that do not fit."""

    def __init__(self, n_channels: int) -> None:
        self.count = 0
        self.mean = np.zeros(n_channels)
        self.m2 = np.zeros(n_channels)

    def update(self, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.float64).reshape(-1, self.mean.shape[0])
        n = v.shape[0]
        if n == 0:
            return
        bmean = v.mean(axis=0)
        bm2 = ((v - bmean) ** 2).sum(axis=0)
        delta = bmean - self.mean
        tot = self.count + n
        self.mean = self.mean + delta * n / tot
        self.m2 = self.m2 + bm2 + delta**2 * self.count * n / tot
        self.count = tot

    def result(self) -> ChannelStats:
        if self.count == 0:
            raise EchoUserError("no values were seen: cannot compute normalisation statistics")
        return ChannelStats(self.mean, np.sqrt(self.m2 / self.count))


@dataclass
class Domain:
    """Axis-aligned box the model maps to [0, 1]^d; periodic axes wrap."""

    lo: np.ndarray
    hi: np.ndarray
    periodic: tuple[bool, ...] = field(default=())

    def __post_init__(self) -> None:
        self.lo = np.asarray(self.lo, dtype=np.float64).reshape(-1)
        self.hi = np.asarray(self.hi, dtype=np.float64).reshape(-1)
        if not self.periodic:
            self.periodic = (False,) * self.lo.shape[0]
        self.periodic = tuple(bool(p) for p in self.periodic)
        if np.any(self.hi <= self.lo):
            raise EchoUserError(f"empty domain box lo={self.lo} hi={self.hi}")

    @property
    def dim(self) -> int:
        return int(self.lo.shape[0])

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape[-1] != self.dim:
            raise EchoUserError(
                f"points are {pts.shape[-1]}-D but the model was trained on {self.dim}-D data"
            )
        return ((pts - self.lo) / (self.hi - self.lo)).astype(np.float32)

    def to_dict(self) -> dict:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "periodic": list(self.periodic)}

    @classmethod
    def from_dict(cls, d: dict) -> "Domain":
        return cls(np.asarray(d["lo"]), np.asarray(d["hi"]), tuple(d.get("periodic", ())))

    @classmethod
    def around(cls, points: np.ndarray, periodic: tuple[bool, ...] = ()) -> "Domain":
        pts = np.asarray(points, dtype=np.float64)
        return cls(pts.min(axis=0), pts.max(axis=0), periodic)

"""The one trajectory data model: what every importer produces and every consumer takes.

A trajectory is a set of points (N x d, d = 2 or 3) carrying fields sampled at T times.
Channels are stored flat (T x N x C) for the networks; `field_layout` groups them back into
named scalar or vector fields (e.g. [("U", 2), ("p", 1)]) for VTK and for people.
No VTK, no torch: numpy only, so it is usable everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .time_checks import check_times


_TIMES_FIX = ("give each frame its own, later time: sort the source's frames by time and drop duplicates, or "
              "import a range without them (--skip-time, --end-time, --every)")


def _number(name: Any, value: Any) -> float:
    """A PDE parameter as a float; a value that is not a number is refused naming it (not "could not convert")."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        from ..errors import EchoUserError

        raise EchoUserError(f"parameter {str(name)!r} = {str(value)[:40]!r} is not a number: parameters condition the "
                            f"model and must be numbers; write it as one (e.g. {{\"{name}\": 0.001}})") from None


@dataclass
class Cells:
    """VTK-style cell arrays for display only (the models never look at cells)."""

    connectivity: np.ndarray  # (M,) int64 point ids
    offsets: np.ndarray  # (n_cells + 1,) int64, VTK >= 9 layout
    types: np.ndarray  # (n_cells,) uint8 VTK cell type ids

    @property
    def n_cells(self) -> int:
        return int(self.types.shape[0])


@dataclass
class Trajectory:
    """One simulation: fields over time on one set of points, the unit every dataset, reader and
    model exchanges.

    Parameters
    ----------
    points: (N, d) coordinates, d = 2 or 3.
    fields: (T, N, C) values; `field_layout` names the channels, e.g. [("U", 2), ("p", 1)].
    times: (T,) strictly increasing.
    params: named PDE parameters the model is conditioned on (e.g. {"nu": 1e-3}).
    cells: optional VTK cells for display; metadata: free-form (case name, provenance).

    Example
    -------
    >>> t = Trajectory(points=np.zeros((4, 2)), fields=np.zeros((3, 4, 3)), times=[0.0, 0.1, 0.2],
    ...                field_layout=[("U", 2), ("p", 1)], params={"nu": 1e-3})
    >>> (t.n_frames, t.n_points, t.dim)
    (3, 4, 2)
    """

    points: np.ndarray  # (N, d) float64 coordinates
    fields: np.ndarray  # (T, N, C) float32 values
    times: np.ndarray  # (T,) float64, strictly increasing
    field_layout: list[tuple[str, int]]  # [(name, n_components)], sum of sizes == C
    params: dict[str, float] = field(default_factory=dict)  # named PDE parameters
    cells: Cells | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # case name, boundary info, provenance

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float64)
        self.fields = np.ascontiguousarray(self.fields, dtype=np.float32)
        self.times = np.ascontiguousarray(self.times, dtype=np.float64).reshape(-1)
        self.field_layout = [(str(n), int(c)) for n, c in self.field_layout]
        self.params = {str(k): _number(k, v) for k, v in self.params.items()}
        self.validate()

    # --- shape helpers -------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return int(self.fields.shape[0])

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.fields.shape[2])

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    @property
    def channel_names(self) -> list[str]:
        """Flat channel names: a scalar keeps its name, vector components get _x/_y/_z (or _i)."""
        names: list[str] = []
        for name, n in self.field_layout:
            if n == 1:
                names.append(name)
            else:
                suffix = "xyz" if n <= 3 else None
                names.extend(f"{name}_{suffix[i] if suffix else i}" for i in range(n))
        return names

    def field(self, name: str) -> np.ndarray:
        """One named field as (T, N) for scalars or (T, N, k) for vectors."""
        start = 0
        for fname, n in self.field_layout:
            if fname == name:
                block = self.fields[:, :, start : start + n]
                return block[..., 0] if n == 1 else block
            start += n
        raise KeyError(f"no field {name!r}; this trajectory has {[n for n, _ in self.field_layout]}")

    def validate(self) -> None:
        """Raise ValueError naming the problem; called on construction."""
        if self.points.ndim != 2 or self.points.shape[1] not in (2, 3):
            raise ValueError(f"points must be (N, 2) or (N, 3), got {self.points.shape}")
        if self.fields.ndim != 3:
            raise ValueError(f"fields must be (T, N, C), got {self.fields.shape}")
        t, n, c = self.fields.shape
        if n != self.points.shape[0]:
            raise ValueError(f"fields have {n} points but points has {self.points.shape[0]}")
        if self.times.shape[0] != t:
            raise ValueError(f"{t} frames but {self.times.shape[0]} times")
        if t > 1 and not np.all(np.diff(self.times) > 0):
            check_times(self.times, t, "this trajectory", fix=_TIMES_FIX)
        if sum(k for _, k in self.field_layout) != c:
            raise ValueError(f"field_layout {self.field_layout} does not add up to {c} channels")

    # --- views ---------------------------------------------------------------------------
    def frames(self, index: slice | np.ndarray | list[int]) -> "Trajectory":
        """A copy restricted to some frames (same points)."""
        return Trajectory(
            points=self.points,
            fields=self.fields[index],
            times=self.times[index],
            field_layout=list(self.field_layout),
            params=dict(self.params),
            cells=self.cells,
            metadata=dict(self.metadata),
        )

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.points.min(axis=0), self.points.max(axis=0)

    def has_nan(self) -> bool:
        return bool(np.isnan(self.fields).any() or np.isnan(self.points).any())

"""Skill report: how well a trained model forecasts frames it did not train on.

Every training (ECHO's `train all`, `train dmd`, EchoTrain) ends with one, stored in the model
file's header under "skill" and shown by `echopv info`, the EchoModelReader table and EchoTrain's
Status. Per field it sets the model beside the two forecasts an analyst gets for free:

- persistence: the last known frame, repeated;
- mean field: the mean of the training frames.

and says up to which lead time the model beats persistence. Errors are relative MSE per field
(sum of squared errors over points and components / sum of squared truth), so a field with large
values (p) does not hide a field with small ones (U).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

_EPS = 1e-30


@dataclass
class FieldSkill:
    """One field's held-out errors (relative MSE, mean over the held-out frames).

    Parameters
    ----------
    name : str
        Field name (e.g. "U", "p").
    model, persistence, mean_field : float
        Mean relative MSE of the model, of persistence and of the training-mean field.
    model_first, persistence_first : float
        The same at the first forecast frame.
    beats_persistence_frames : int
        Leading frames over which the model's error stays below persistence's (0: not even the first).
    """

    name: str
    model: float
    persistence: float
    mean_field: float
    model_first: float
    persistence_first: float
    beats_persistence_frames: int

    @property
    def best_baseline(self) -> float:
        return min(self.persistence, self.mean_field)


@dataclass
class SkillReport:
    """Held-out skill of a model, per field.

    Parameters
    ----------
    model_kind : str
        "echo", "dmd", ...
    n_frames : int
        Forecast frames scored.
    dt : float
        Time between frames (lead times in the text are multiples of it).
    source : str
        Which frames were held out, in words.
    fields : list of FieldSkill

    Example
    -------
    >>> truth = np.ones((3, 4, 1)) * np.arange(1, 4)[:, None, None]
    >>> rep = skill_report(truth, truth, last_known=np.zeros((4, 1)), mean_field=np.ones((4, 1)),
    ...                    field_layout=[("u", 1)], dt=0.5, model_kind="demo", source="test")
    >>> rep.fields[0].model, rep.fields[0].beats_persistence_frames
    (0.0, 3)
    """

    model_kind: str
    n_frames: int
    dt: float
    source: str
    fields: list[FieldSkill] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SkillReport":
        fields = [FieldSkill(**f) for f in d.get("fields", [])]
        return cls(model_kind=str(d.get("model_kind", "?")), n_frames=int(d.get("n_frames", 0)),
                   dt=float(d.get("dt", 1.0)), source=str(d.get("source", "")), fields=fields)

    def lines(self) -> list[str]:
        """Human-readable lines (the CLI, `echopv info`, EchoTrain's Status)."""
        out = [f"skill on {self.n_frames} frame(s) ({self.source}); relative MSE, lower is better:"]
        for f in self.fields:
            ratio = f.model / max(f.best_baseline, _EPS)
            lead = f.beats_persistence_frames
            out.append(
                f"  {f.name}: model {f.model:.3g} | persistence {f.persistence:.3g} | mean field {f.mean_field:.3g}"
                f" ({ratio:.2f}x the better baseline); first frame {f.model_first:.3g} vs persistence "
                f"{f.persistence_first:.3g}; beats persistence for {lead} frame(s) ({lead * self.dt:.4g} time units)"
            )
        return out


def per_field_rel_mse(pred: np.ndarray, truth: np.ndarray,
                      field_layout: Sequence[tuple[str, int]]) -> dict[str, np.ndarray]:
    """Relative MSE per frame of each field: {name: (T,)} for (T, N, C) arrays."""
    from .metrics import field_slices, rel_mse_per_step

    if np.shape(pred) != np.shape(truth):
        raise ValueError(f"prediction {np.shape(pred)} and truth {np.shape(truth)} differ in shape")
    return {name: rel_mse_per_step(np.asarray(pred)[..., sl], np.asarray(truth)[..., sl])
            for name, sl in field_slices(field_layout).items()}


def _lead(model: np.ndarray, persistence: np.ndarray) -> int:
    worse = np.nonzero(model >= persistence)[0]
    return int(worse[0]) if worse.size else int(model.shape[0])


def forecast_curves(pred: np.ndarray, truth: np.ndarray, *, last_known: np.ndarray, mean_field: np.ndarray,
                    field_layout: Sequence[tuple[str, int]]) -> dict[str, dict[str, np.ndarray]]:
    """Per-frame relative MSE per field of the model, persistence and the mean field:
    {"model" | "persistence" | "mean_field": {field: (T,)}}."""
    truth = np.asarray(truth, dtype=np.float64)
    return {"model": per_field_rel_mse(pred, truth, field_layout),
            "persistence": per_field_rel_mse(np.broadcast_to(last_known, truth.shape), truth, field_layout),
            "mean_field": per_field_rel_mse(np.broadcast_to(mean_field, truth.shape), truth, field_layout)}


def report_from_curves(curves: Sequence[dict[str, dict[str, np.ndarray]]], field_layout: Sequence[tuple[str, int]],
                       *, dt: float, model_kind: str, source: str) -> SkillReport:
    """The report of one or several forecasts (their per-frame curves averaged; same length each)."""
    def mean(kind: str, name: str) -> np.ndarray:
        return np.mean([c[kind][name] for c in curves], axis=0)

    fields = []
    for name, _ in field_layout:
        m, p, f = mean("model", name), mean("persistence", name), mean("mean_field", name)
        fields.append(FieldSkill(name=name, model=float(m.mean()), persistence=float(p.mean()),
                                 mean_field=float(f.mean()), model_first=float(m[0]), persistence_first=float(p[0]),
                                 beats_persistence_frames=_lead(m, p)))
    n = len(curves[0]["model"][field_layout[0][0]])
    return SkillReport(model_kind=model_kind, n_frames=n, dt=float(dt), source=source, fields=fields)


def skill_report(pred: np.ndarray, truth: np.ndarray, *, last_known: np.ndarray, mean_field: np.ndarray,
                 field_layout: Sequence[tuple[str, int]], dt: float, model_kind: str, source: str) -> SkillReport:
    """Score a forecast `pred` (T, N, C) of `truth` (T, N, C) against persistence of `last_known`
    (N, C) and the training-mean field `mean_field` (N, C), per field."""
    curves = forecast_curves(pred, truth, last_known=last_known, mean_field=mean_field, field_layout=field_layout)
    return report_from_curves([curves], field_layout, dt=dt, model_kind=model_kind, source=source)


def report_from_meta(meta: dict) -> SkillReport | None:
    """The skill report stored in a model header, or None (older files, or no held-out frames)."""
    d = meta.get("skill") if isinstance(meta, dict) else None
    if not isinstance(d, dict):
        return None
    try:
        return SkillReport.from_dict(d)
    except (TypeError, ValueError, KeyError):
        return None

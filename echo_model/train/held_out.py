"""The skill report that ends `echopv train all` (and EchoTrain): the trained ECHO model forecasts
the last frames of up to `MAX_TRAJ` trajectories and is scored per field beside persistence and
the mean field (echo_model.skill); the report goes into the model file's header.

Which frames: the dataset's validation trajectories when it has any (frames the model never saw).
A dataset without them (one run of the analyst's own) gives the last frames of the training
trajectories, which the model did see: the report says "in-sample" and is an optimistic figure.
For a held-out figure on one run, import its later frames as a second dataset (`echopv import
--start-time`) and score with `echopv eval`.
"""
from __future__ import annotations

from pathlib import Path

from ..data.store import TrajectoryStore
from ..skill import SkillReport, forecast_curves, report_from_curves

MAX_TRAJ = 4
MEMBERS = 2


def _trajectories(store: TrajectoryStore) -> tuple[list[int], str]:
    val = [int(i) for i in store.split_indices("val")] if "val" in store.info.split else []
    if val:
        return val[:MAX_TRAJ], "held out"
    return [int(i) for i in store.split_indices("train")][:MAX_TRAJ], "in-sample"


def _horizon(sur, n_frames: int) -> int:
    return max(1, min(2 * sur.segment_frames, n_frames // 2))


def model_skill(sur, data_path: str | Path, seed: int = 0) -> SkillReport | None:
    """Score the loaded model `sur` on `data_path`; None when no trajectory is long enough."""
    curves, used = [], []
    with TrajectoryStore(data_path) as store:
        idx, kind = _trajectories(store)
        lengths = [store.n_frames(i) for i in idx]
        horizon = min((_horizon(sur, n) for n in lengths), default=0)
        for i, n in zip(idx, lengths):
            start = n - horizon  # first forecast frame; every frame before it is known
            if start < sur.n_observed_frames:
                continue
            fields = store.read_fields(i)
            res = sur.rollout(store.points(i), fields[start - sur.n_observed_frames:start], n_frames=horizon,
                              params=store.params(i) or None, n_samples=MEMBERS, seed=seed, keep_samples=False)
            curves.append(forecast_curves(res.mean, fields[start:], last_known=fields[start - 1],
                                          mean_field=fields[:start].mean(axis=0), field_layout=sur.field_layout))
            used.append(i)
    if not curves:
        return None
    where = ("validation trajectories " if kind == "held out" else "training trajectories ") + \
            ", ".join(map(str, used))
    source = f"{kind}: the last {horizon} frames of {where} ({MEMBERS}-member mean)"
    if kind == "in-sample":
        source += "; the model saw these frames, so this is optimistic"
    return report_from_curves(curves, sur.field_layout, dt=sur.dt, model_kind=sur.generator_kind, source=source)


def attach_header(model_path: str | Path, **entries) -> Path:
    """Write `entries` into the model file's header (the weights are unchanged)."""
    from ..bundle import load_tensors, save_tensors

    tensors, meta = load_tensors(model_path)
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    meta.update(entries)
    return save_tensors(model_path, tensors, meta)


def state_reference(sur, data_path: str | Path) -> dict:
    """The loaded model's state errors on the first training trajectory's frames (echo_model.state_check)."""
    from ..state_check import training_reference

    with TrajectoryStore(data_path) as store:
        i = int(store.split_indices("train")[0])
        return training_reference(sur, store.points(i), store.read_fields(i))


def report_skill(model_path: str | Path, data_path: str | Path) -> SkillReport | None:
    """The pipeline's last step: the skill report and the state reference into the header, printed."""
    from ..rollout import Surrogate

    sur = Surrogate.load(model_path, device="cpu", cache=False)  # once, for both
    report = model_skill(sur, data_path)
    entries = {"state_reference": state_reference(sur, data_path)}
    if report is None:
        print("skill: no trajectory is long enough to score a forecast (the report is left out)")
    else:
        entries["skill"] = report.to_dict()
        print("\n".join(report.lines()), flush=True)
    attach_header(model_path, **entries)
    return report


__all__ = ["model_skill", "attach_header", "state_reference", "report_skill", "MAX_TRAJ", "MEMBERS"]

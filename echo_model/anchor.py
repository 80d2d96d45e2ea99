"""Decoder error feedback ("anchoring"): fit its per-lead-time gains and store them in a model file.

Every predicted frame passes through the autoencoder's decoder, so it carries the decoder's error
even where the generator is right: on the vorticity benchmark the first predicted frame had the
reconstruction limit's rel-MSE (1.4e-2) where an FNO had 4e-4. Much of that error is shared with
the last known frame (the same fine scales lost, the same aliasing on the latent grid), and that
frame's error is known at rollout time: known - decoded. `Surrogate.rollout` adds
gain[t, c] x (known - decoded) of the last known frame to predicted frame t (c: channel). Gain 1
is "decode the change from the last known frame"; the fitted gains fall with lead time as the
shared part decays.

Fitting: on training trajectories, windows of one segment (several per trajectory when there are
few trajectories) rolled out twice with the same noise, without the feedback and with gain 1;
their difference is the correction direction d. Per lead time t and channel c the least-squares
gain is <truth - pred, d> / <d, d> (normalised units). Fitted on little data these gains are
noise (one short run gave -3 .. +3, and a gain outside [0, 1] amplifies the error from segment to
segment), so the fit is made safe in three steps:

1. ridge towards a prior: each channel's gain pooled over all lead times (clamped to [0, 1]),
   weighted as `ridge` windows of data; `ridge` is chosen by leave-one-window-out
   cross-validation when there are >= MIN_CV_WINDOWS windows, else DEFAULT_RIDGE;
2. clamped to GAIN_RANGE = [0, 1] (0: no feedback, 1: decode the change from the last known frame);
3. a gain that would raise the error on the fitting frames above no feedback is set to 0.

Each step that changes something says so (`AnchorFit.notes`), naming how many frames the gains
were fitted on. Cost: 2 rollouts of one segment per window.

    echopv anchor-gains model.safetensors --data train.h5 --out model_anchored.safetensors

Example
-------
>>> import numpy as np
>>> resid = np.array([[[[1.0]], [[0.5]]]])     # (B=1, T=2, N=1, C=1): truth - pred
>>> d = np.array([[[[2.0]], [[2.0]]]])         # correction direction
>>> least_squares_gains(resid, d).ravel().tolist()
[0.5, 0.25]
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import EchoUserError


def least_squares_gains(resid, direction) -> np.ndarray:
    """Gains (T, C) minimising ||resid - g d||^2 per lead time and channel; arrays (B, T, N, C), or
    lists of (T, N_b, C) arrays when the trajectories have their own meshes."""
    num = den = 0.0
    for r, d in zip(resid, direction):
        r, d = np.asarray(r, np.float64), np.asarray(d, np.float64)
        num = num + np.einsum("tnc,tnc->tc", r, d)
        den = den + np.einsum("tnc,tnc->tc", d, d)
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


GAIN_RANGE = (0.0, 1.0)
RIDGE_GRID = (0.0, 0.25, 1.0, 4.0, 16.0)  # weight of the prior, in windows of data
DEFAULT_RIDGE = 1.0  # without cross-validation: the prior weighs as much as one window
MIN_CV_WINDOWS = 3


@dataclass
class WindowStats:
    """Sums over one window's points per (lead time, channel): <r, r>, <r, d>, <d, d> (T, C) of the
    residual r = truth - plain and the gain-1 correction d; the error with gains g is rr - 2 g rd + g^2 dd."""

    rr: np.ndarray
    rd: np.ndarray
    dd: np.ndarray

    @classmethod
    def of(cls, resid: np.ndarray, direction: np.ndarray) -> "WindowStats":
        r, d = np.asarray(resid, np.float64), np.asarray(direction, np.float64)
        return cls(*(np.einsum("tnc,tnc->tc", a, b) for a, b in ((r, r), (r, d), (d, d))))


@dataclass
class AnchorFit:
    """Fitted gains (T, C) and how they were made safe; `notes` say what a user should know."""

    gains: np.ndarray
    n_windows: int
    n_frames: int
    n_traj: int
    ridge: float
    cross_validated: bool
    clamped: int = 0
    reverted: int = 0
    notes: list[str] = field(default_factory=list)

    def provenance(self) -> dict:
        return {"n_windows": self.n_windows, "n_frames": self.n_frames, "n_traj": self.n_traj,
                "ridge": self.ridge, "cross_validated": self.cross_validated, "clamped": self.clamped,
                "reverted": self.reverted}


def _error(g: np.ndarray, st: WindowStats) -> float:
    return float((st.rr - 2 * g * st.rd + g * g * st.dd).sum())


def ridge_gains(rd: np.ndarray, dd: np.ndarray, ridge: float, n_windows: int) -> np.ndarray:
    """Least-squares gains shrunk towards each channel's gain pooled over lead times (clamped to
    GAIN_RANGE), the prior weighing as `ridge` of the `n_windows` windows; then clamped.

    >>> rd, dd = np.array([[3.0], [-1.0]]), np.array([[2.0], [2.0]])   # least squares: 1.5, -0.5
    >>> ridge_gains(rd, dd, 0.0, 1).ravel().tolist(), ridge_gains(rd, dd, 1.0, 1).ravel().tolist()
    ([1.0, 0.0], [1.0, 0.0])
    """
    prior = np.clip(rd.sum(0) / np.maximum(dd.sum(0), 1e-300), *GAIN_RANGE)[None]
    w = ridge * dd / max(n_windows, 1)
    return np.clip((rd + w * prior) / np.maximum(dd + w, 1e-300), *GAIN_RANGE)


def _choose_ridge(stats: Sequence[WindowStats]) -> tuple[float, bool]:
    """The ridge with the smallest leave-one-window-out error; DEFAULT_RIDGE with too few windows."""
    if len(stats) < MIN_CV_WINDOWS:
        return DEFAULT_RIDGE, False
    rd = sum(st.rd for st in stats)
    dd = sum(st.dd for st in stats)
    cv = {lam: sum(_error(ridge_gains(rd - st.rd, dd - st.dd, lam, len(stats) - 1), st) for st in stats)
          for lam in RIDGE_GRID}
    return min(cv, key=cv.get), True


def safe_gains(stats: Sequence[WindowStats], n_frames: int, n_traj: int) -> AnchorFit:
    """Regularised, clamped gains that never raise the error on the fitting windows (see module)."""
    rd, dd = sum(st.rd for st in stats), sum(st.dd for st in stats)
    ls = np.where(dd > 0, rd / np.maximum(dd, 1e-300), 0.0)
    ridge, cv = _choose_ridge(stats)
    gains = ridge_gains(rd, dd, ridge, len(stats))
    fit = AnchorFit(gains, len(stats), n_frames, n_traj, ridge, cv)
    where = f"{len(stats)} window(s), {n_frames} frames of {n_traj} trajectory(ies)"
    if not cv:
        fit.notes.append(f"anchor gains fitted on {where}: too few to cross-validate (needs {MIN_CV_WINDOWS} "
                         "windows); they are shrunk towards each channel's mean gain and clamped to [0, 1]. For "
                         "reliable gains fit on more frames (a longer run, more trajectories with --max-traj) or "
                         "keep using the model file without gains (the input of `echopv anchor-gains`)")
    fit.clamped = int(((ls < GAIN_RANGE[0]) | (ls > GAIN_RANGE[1])).sum())
    if fit.clamped:
        fit.notes.append(f"{fit.clamped} of {ls.size} least-squares gains were outside [0, 1] (from {ls.min():.3g} "
                         f"to {ls.max():.3g}): clamped, since such gains amplify the error segment after segment")
    hurts = gains * (gains * dd - 2 * rd) > 0  # error(g) - error(0) = g (g dd - 2 rd)
    fit.reverted = int(hurts.sum())
    if fit.reverted:
        gains[hurts] = 0.0
        fit.notes.append(f"{fit.reverted} gain(s) would raise the error on the fitting frames ({where}) above no "
                         "feedback: set to 0 (no feedback at those lead times and channels)")
    return fit


def _windows(n_frames: int, n_obs: int, seg: int, limit: int) -> list[int]:
    """First frames of up to `limit` windows of n_obs + seg frames, one segment apart."""
    return list(range(0, n_frames - n_obs - seg + 1, seg))[: max(limit, 0)]


def fit_anchor_gains(sur, store, indices: Sequence[int], *, seed: int = 0, steps: int | None = None,
                     progress: bool = True, max_windows: int = 64) -> AnchorFit:
    """Gains (segment_frames, C) of `sur` fitted on trajectories `indices` of `store`, made safe
    (`safe_gains`); up to `max_windows` windows, spread over the trajectories (several per
    trajectory when there are fewer trajectories than that)."""
    n_obs, seg = sur.n_observed_frames, sur.segment_frames
    per_traj = max(1, -(-max_windows // max(len(indices), 1)))
    plan = [(int(i), s) for i in indices for s in _windows(store.n_frames(int(i)), n_obs, seg, per_traj)]
    if not plan:
        longest = max((store.n_frames(int(i)) for i in indices), default=0)
        raise EchoUserError(f"anchor gains need trajectories of at least {n_obs + seg} frames ({n_obs} observed + "
                            f"one {seg}-frame segment); the longest given has {longest}: import more frames or "
                            "keep using the model file without gains")
    if progress:
        from tqdm import tqdm

        plan = tqdm(plan, desc="anchor gains", unit="window")
    scale = sur.stats.std.reshape(1, 1, -1).astype(np.float64)
    ones = np.ones((seg, sur.n_channels))
    stats, frames = [], set()
    for i, s0 in plan:
        fields = store.read_fields(i, slice(s0, s0 + n_obs + seg))
        kw = dict(params=store.params(i) or None, seed=seed + i + 7919 * s0, steps=steps)
        plain = sur.rollout(store.points(i), fields[:n_obs], seg, anchor=False, **kw).mean
        full = sur.rollout(store.points(i), fields[:n_obs], seg, anchor=ones, **kw).mean
        stats.append(WindowStats.of((fields[n_obs:] - plain) / scale, (full - plain) / scale))
        frames.update((i, f) for f in range(s0, s0 + n_obs + seg))
    return safe_gains(stats, len(frames), len({i for i, _ in frames}))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="complete ECHO model file")
    p.add_argument("--data", required=True, help="ECHO dataset whose training split fits the gains")
    p.add_argument("--out", required=True, help="model file to write (the same weights, gains in the header)")
    p.add_argument("--split", default="train")
    p.add_argument("--max-traj", type=int, default=64, help="trajectories used for the fit")
    p.add_argument("--max-windows", type=int, default=64,
                   help="one-segment windows used for the fit, spread over the trajectories (several per "
                   "trajectory when there are fewer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from .bundle import load_tensors, save_tensors
    from .data.store import TrajectoryStore
    from .rollout import Surrogate
    from .threads import set_threads

    for option, value in (("--max-traj", args.max_traj), ("--max-windows", args.max_windows)):
        if value < 1:
            raise EchoUserError(f"{option} {value}: give 1 or more")
    set_threads(args.threads)
    sur = Surrogate.load(args.model, device="cpu", cache=False)
    with TrajectoryStore(args.data) as store:
        idx = store.split_indices(args.split)[: args.max_traj]
        if len(idx) == 0:
            raise EchoUserError(f"split {args.split!r} of {args.data} is empty; choose another with --split")
        fit = fit_anchor_gains(sur, store, idx, seed=args.seed, max_windows=args.max_windows)
    for note in fit.notes:
        print(f"note: {note}")
    tensors, meta = load_tensors(args.model)
    meta["anchor_gains"] = fit.gains.round(5).tolist()
    meta.setdefault("provenance", {})["anchor_gains"] = {"data": Path(args.data).name, "split": args.split,
                                                          **fit.provenance()}
    save_tensors(args.out, tensors, meta)
    print(f"gains per lead time ({fit.n_windows} windows, {fit.n_frames} frames, ridge {fit.ridge:g}"
          f"{', cross-validated' if fit.cross_validated else ''}):",
          " ".join(f"{g:.3f}" for g in fit.gains.mean(axis=1)))
    print(f"wrote {args.out}")
    return 0

"""Decoder error feedback ("anchoring"): fit its per-lead-time gains and store them in a model file.

Every predicted frame passes through the autoencoder's decoder, so it carries the decoder's error
even where the generator is right: on the vorticity benchmark the first predicted frame had the
reconstruction limit's rel-MSE (1.4e-2) where an FNO had 4e-4. Much of that error is shared with
the last known frame (the same fine scales lost, the same aliasing on the latent grid), and that
frame's error is known at rollout time: known - decoded. `Surrogate.rollout` adds
gain[t, c] x (known - decoded) of the last known frame to predicted frame t (c: channel). Gain 1
is "decode the change from the last known frame"; the fitted gains fall with lead time as the
shared part decays.

Fitting: on training trajectories, one segment rolled out twice with the same noise, without the
feedback and with gain 1; their difference is the correction direction d, and per lead time t
and channel c the least-squares gain is <truth - pred, d> / <d, d> over all trajectories and
points (normalised units). Cost: 2 rollouts of one segment per trajectory.

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


def fit_anchor_gains(sur, store, indices: Sequence[int], *, seed: int = 0, steps: int | None = None,
                     progress: bool = True) -> np.ndarray:
    """Fitted gains (segment_frames, C) of `sur` on trajectories `indices` of `store`."""
    n_obs, seg = sur.n_observed_frames, sur.segment_frames
    resid, direction = [], []
    it = list(indices)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="anchor gains", unit="traj")
    ones = np.ones((seg, sur.n_channels))
    for i in it:
        i = int(i)
        if store.n_frames(i) < n_obs + seg:
            continue
        fields = store.read_fields(i, slice(0, n_obs + seg))
        kw = dict(params=store.params(i) or None, seed=seed + i, steps=steps)
        plain = sur.rollout(store.points(i), fields[:n_obs], seg, anchor=False, **kw).mean
        full = sur.rollout(store.points(i), fields[:n_obs], seg, anchor=ones, **kw).mean
        scale = sur.stats.std.reshape(1, 1, -1).astype(np.float64)
        resid.append((fields[n_obs:] - plain) / scale)
        direction.append((full - plain) / scale)
    if not resid:
        raise EchoUserError(f"no trajectory has the {n_obs + seg} frames needed to fit the gains")
    return least_squares_gains(resid, direction)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="complete ECHO model file")
    p.add_argument("--data", required=True, help="ECHO dataset whose training split fits the gains")
    p.add_argument("--out", required=True, help="model file to write (the same weights, gains in the header)")
    p.add_argument("--split", default="train")
    p.add_argument("--max-traj", type=int, default=64, help="trajectories used for the fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from .bundle import load_tensors, save_tensors
    from .data.store import TrajectoryStore
    from .rollout import Surrogate
    from .threads import set_threads

    set_threads(args.threads)
    sur = Surrogate.load(args.model, device="cpu", cache=False)
    with TrajectoryStore(args.data) as store:
        idx = store.split_indices(args.split)[: args.max_traj]
        gains = fit_anchor_gains(sur, store, idx, seed=args.seed)
    tensors, meta = load_tensors(args.model)
    meta["anchor_gains"] = gains.round(5).tolist()
    meta.setdefault("provenance", {})["anchor_gains"] = {"data": Path(args.data).name, "split": args.split,
                                                          "n_traj": int(len(idx))}
    save_tensors(args.out, tensors, meta)
    print("gains per lead time:", " ".join(f"{g:.3f}" for g in gains.mean(axis=1)))
    print(f"wrote {args.out}")
    return 0

"""Training samples for the autoencoder: trajectory windows with point dropout and query subsets.

    sampler = WindowSampler(store, split="train", n_frames=9, keep=(0.5, 1.0), n_query=2048)
    item = sampler.sample(rng)          # one window of one trajectory
    batch = sampler.batch(step, 4)      # collated, deterministic in (seed, step, rank)
    WindowSampler(..., shift=1/32)      # random translation augmentation (see __init__)

An item (torch, float32, all normalised: coordinates by the dataset's Domain to [0, 1]^d, values
z-scored by its ChannelStats):
    points (N_in, d), values (T, N_in, C)     the kept input points (random subset, fraction ~ U[keep])
    query_points (M, d), target (T, M, C)     the loss points (random subset of ALL points, or all)
    traj, start                               where the window comes from
`collate` pads variable N_in / M with zeros and returns point_mask (B, N) / query_mask (B, M) bool.

Windows are T = 1 + f k frames (f = the autoencoder's time factor) taken every `frame_stride`
frames from a uniformly random start. Whole trajectories are kept in memory (up to `cache_bytes`),
because gzip-chunked HDF5 reads per sample would dominate a CPU training step.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch

from .normalize import ChannelStats, Domain
from ..errors import EchoUserError
from .store import TrajectoryStore


class WindowSampler:
    def __init__(self, store: TrajectoryStore | str | os.PathLike, split: str | None = "train",
                 n_frames: int = 9, frame_stride: int = 1, keep: tuple[float, float] = (0.5, 1.0),
                 n_query: int | None = None, indices: Sequence[int] | None = None, seed: int = 0,
                 cache_bytes: int = 1 << 30, stats: ChannelStats | None = None,
                 domain: Domain | None = None, shift: float = 0.0) -> None:
        self.store = store if isinstance(store, TrajectoryStore) else TrajectoryStore(store)
        self.store.require_finite()  # NaN data would train a NaN model that still says "done"
        info = self.store.info
        # stats/domain override the dataset's: a model refined on new data keeps its own normalisation
        self.stats, self.domain, self.field_layout = stats or info.stats, domain or info.domain, info.field_layout
        if indices is None:
            indices = self.store.split_indices(split) if split else np.arange(len(self.store))
            if len(indices) == 0:  # never fall back to the other splits: that would train on test data
                have = {k: len(v) for k, v in info.split.items()}
                raise EchoUserError(
                    f"{self.store.path}: its {split!r} split holds no trajectory ({have}); training on the other "
                    f"splits would use validation or test data. Rewrite the dataset with trajectories in {split!r} "
                    "(`echopv import --split ...`) or choose another split")
        self.indices = [int(i) for i in indices]
        if not 0.0 < keep[0] <= keep[1] <= 1.0:
            raise EchoUserError(f"keep fractions must satisfy 0 < lo <= hi <= 1, got {keep}")
        self.n_frames, self.frame_stride, self.keep, self.n_query = int(n_frames), int(frame_stride), keep, n_query
        self.seed = seed
        # Random translation of all coordinates (inputs and queries alike) by up to +-shift/2 per
        # axis, wrapped on periodic axes. On a regular mesh the point-to-latent-node offsets take only
        # a few discrete values; shifting by a fraction of a latent-grid spacing shows the continuous
        # kernels every offset, which is what decoding at other resolutions needs.
        self.shift = float(shift)
        span = (self.n_frames - 1) * self.frame_stride + 1
        self.usable = [i for i in self.indices if self.store.n_frames(i) >= span]
        if not self.usable:
            longest = max(self.store.n_frames(i) for i in self.indices)
            raise EchoUserError(f"no trajectory has the {span} frames a window of {self.n_frames} (stride "
                             f"{self.frame_stride}) needs (longest has {longest}); use fewer --frames")
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_bytes = cache_bytes

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        pts = self.domain.to_unit(self.store.points(i))
        fields = self.stats.normalize(self.store.read_fields(i))
        self._cache[i] = (pts, fields)
        while len(self._cache) > 1 and sum(p.nbytes + f.nbytes for p, f in self._cache.values()) > self._cache_bytes:
            self._cache.popitem(last=False)
        return pts, fields

    def window(self, traj: int, start: int, keep: float = 1.0, rng: np.random.Generator | None = None,
               n_query: int | None = None) -> dict[str, torch.Tensor]:
        """A specific window; keep < 1 drops points at random (rng), n_query subsamples the loss points."""
        rng = rng or np.random.default_rng(0)
        pts, fields = self._load(traj)
        frames = fields[start : start + (self.n_frames - 1) * self.frame_stride + 1 : self.frame_stride]
        n = pts.shape[0]
        n_in = max(1, int(round(keep * n)))
        ids = np.sort(rng.choice(n, n_in, replace=False)) if n_in < n else np.arange(n)
        if n_query is not None and n_query < n:
            qids = np.sort(rng.choice(n, n_query, replace=False))
        else:
            qids = np.arange(n)
        return {
            "points": torch.from_numpy(np.ascontiguousarray(pts[ids])),
            "values": torch.from_numpy(np.ascontiguousarray(frames[:, ids])),
            "query_points": torch.from_numpy(np.ascontiguousarray(pts[qids])),
            "target": torch.from_numpy(np.ascontiguousarray(frames[:, qids])),
            "traj": torch.tensor(traj),
            "start": torch.tensor(start),
        }

    def sample(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        traj = self.usable[int(rng.integers(len(self.usable)))]
        span = (self.n_frames - 1) * self.frame_stride + 1
        start = int(rng.integers(self.store.n_frames(traj) - span + 1))
        keep = float(rng.uniform(*self.keep))
        item = self.window(traj, start, keep, rng, self.n_query)
        if self.shift > 0:
            d = item["points"].shape[1]
            off = torch.from_numpy((rng.random(d) - 0.5).astype(np.float32) * self.shift)
            per = torch.tensor(self.domain.periodic)
            for key in ("points", "query_points"):
                moved = item[key] + off
                item[key] = torch.where(per, torch.remainder(moved, 1.0), moved)
        return item

    def batch(self, step: int, batch_size: int, rank: int = 0) -> dict[str, torch.Tensor]:
        """Rank `rank`'s share of the step's global batch: samples rank*batch_size ... of that step.

        Sample j of a step depends only on (seed, step, j): resumable, shard-distinct, and the global
        batch of W ranks x B equals one process's batch of W*B (so data parallel = a bigger batch)."""
        first = rank * batch_size
        return collate([self.sample(np.random.default_rng([self.seed, step, j]))
                        for j in range(first, first + batch_size)])


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items, zero-padding points/queries to the longest and adding point_mask / query_mask."""
    out: dict[str, torch.Tensor] = {}
    for key, mask_key, axis in (("points", "point_mask", 0), ("query_points", "query_mask", 0)):
        n_max = max(it[key].shape[0] for it in items)
        d = items[0][key].shape[1]
        pts = torch.zeros(len(items), n_max, d)
        mask = torch.zeros(len(items), n_max, dtype=torch.bool)
        for b, it in enumerate(items):
            n = it[key].shape[0]
            pts[b, :n] = it[key]
            mask[b, :n] = True
        out[key], out[mask_key] = pts, mask
    for key, npts in (("values", "points"), ("target", "query_points")):
        t, c = items[0][key].shape[0], items[0][key].shape[2]
        vals = torch.zeros(len(items), t, out[npts].shape[1], c)
        for b, it in enumerate(items):
            vals[b, :, : it[key].shape[1]] = it[key]
        out[key] = vals
    out["traj"] = torch.stack([it["traj"] for it in items])
    out["start"] = torch.stack([it["start"] for it in items])
    return out

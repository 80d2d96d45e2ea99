"""Memory budget of a rollout: how big the working chunks may be, and whether a rollout fits at all.

A rollout's memory has three parts:

* fixed O(N) arrays it cannot avoid: the observed frames, the compact neighbour lists of the
  continuous convolutions (indices only, see nn/contconv.py), the outputs (ensemble mean, std,
  optionally every member) and one decoded segment;
* the working chunks of the continuous convolutions: bounded by `chunk_size` (pair x frame terms
  alive at once), whatever the point count;
* the model and the latent grids: small (megabytes).

`MemoryBudget` is what the user sets (`--max-memory 2GB`, EchoRollout's MemoryBudget property;
empty/"auto" = what the machine has available now). `plan_rollout` estimates the fixed part,
gives the working chunks what is left (capped: bigger chunks stop paying off), and raises
`EchoUserError` with the estimate and the fix when even the smallest chunks would not fit, so
that a too-big rollout is refused up front instead of the kernel killing ParaView.

The per-term and per-pair costs below were measured with benchmarks/scale.py (peak RSS of encode
+ decode at several chunk sizes on CPU); they are deliberately rounded up.
"""
from __future__ import annotations

import math
import os
import re
import resource
from dataclasses import dataclass

from .errors import EchoUserError

MB = 1 << 20
GB = 1 << 30
BYTES_PER_TERM = 1200  # transient bytes per (neighbour pair x frame) term in a chunk (kernel MLP, padded tables, gathers)
MIN_WORK = 10 * MB  # smaller chunks only cost time
MAX_WORK = 40 * MB  # ~2^15 terms: as fast as any on CPU (chunks of 2^17+ fall out of cache and run slower)
MIN_CHUNK, MAX_CHUNK = 1 << 13, 1 << 15
AVAILABLE_FRACTION = 0.8  # of MemAvailable: leave room for the OS page cache and the GUI
KERNEL_TABLE_BYTES = 32 * MB  # at most this many bytes of kernel tables per neighbour list (nn/contconv.py)
BUILD_BYTES = 48 * MB  # transient while building a neighbour list: one block of candidates (nn/contconv.py)


def available_bytes() -> int:
    """Memory this process could still use: MemAvailable, capped by a cgroup (container) limit."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 4 * GB  # unknown platform: a conservative guess
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(0, int(avail))


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def format_bytes(n: float) -> str:
    return f"{n / GB:.2f} GB" if n >= GB else f"{n / MB:.0f} MB"


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": MB, "mb": MB, "g": GB, "gb": GB, "t": 1 << 40, "tb": 1 << 40}


@dataclass(frozen=True)
class MemoryBudget:
    """The most memory a rollout may use, in bytes; None = automatic (what is available now)."""

    max_bytes: int | None = None

    @classmethod
    def parse(cls, text: "str | int | float | None", where: str = "MemoryBudget") -> "MemoryBudget":
        """'' / 'auto' / 0 -> automatic; '1.5GB', '800MB', '2g', or a number of bytes."""
        if text is None or (isinstance(text, (int, float)) and text == 0):
            return cls(None)
        if isinstance(text, (int, float)):
            return cls(int(text))
        s = str(text).strip().lower().replace(" ", "").replace("ib", "b")
        if s in ("", "auto", "0"):
            return cls(None)
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)([a-z]*)", s)
        if not m or m.group(2) not in _UNITS:
            raise EchoUserError(
                f"{where}: cannot read {text!r} as an amount of memory; write e.g. '2GB', '1500MB' or 'auto'"
            )
        value = float(m.group(1)) * _UNITS[m.group(2)]
        if value < 64 * MB:
            raise EchoUserError(f"{where}: {text!r} is below 64 MB, too little for any rollout; use e.g. '1GB' or 'auto'")
        return cls(int(value))

    def limit(self) -> int:
        """Bytes the rollout may use now."""
        if self.max_bytes is not None:
            return int(self.max_bytes)
        return int(available_bytes() * AVAILABLE_FRACTION)

    def describe(self) -> str:
        return "automatic" if self.max_bytes is None else format_bytes(self.max_bytes)


def chunk_size_for(work_bytes: int) -> int:
    """Pair x frame terms per continuous-convolution chunk for a working memory of `work_bytes`."""
    return int(min(MAX_CHUNK, max(MIN_CHUNK, work_bytes // BYTES_PER_TERM)))


def auto_chunk_size(budget: MemoryBudget | None = None) -> int:
    """A chunk size for encode/decode outside a rollout plan (cache-latents, eval, benchmarks)."""
    limit = (budget or MemoryBudget()).limit()
    return chunk_size_for(min(MAX_WORK, max(MIN_WORK, limit // 4)))


def pairs_per_point(dim: int, radius: float) -> float:
    """Expected grid nodes within `radius` spacings of a point: the disk/ball volume (+5 %)."""
    vol = math.pi * radius**2 if dim == 2 else 4.0 / 3.0 * math.pi * radius**3
    return 1.05 * vol


@dataclass
class RolloutPlan:
    """Estimated bytes of a rollout's parts, the limit it was checked against and the chunk size."""

    inputs: int
    pair_lists: int
    outputs: int
    work: int
    limit: int
    chunk_size: int
    budget: MemoryBudget

    @property
    def fixed(self) -> int:
        return self.inputs + self.pair_lists + self.outputs

    @property
    def total(self) -> int:
        return self.fixed + self.work

    def summary(self) -> str:
        return (f"about {format_bytes(self.total)} (outputs {format_bytes(self.outputs)}, neighbour lists "
                f"{format_bytes(self.pair_lists)}, input frames {format_bytes(self.inputs)}, working chunks "
                f"{format_bytes(self.work)})")


@dataclass(frozen=True)
class RolloutShape:
    """What decides a rollout's memory (all counts, no data)."""

    n_points: int
    n_query: int
    n_channels: int
    n_observed: int
    n_frames: int
    window_frames: int
    n_samples: int
    keep_samples: bool
    dim: int
    enc_radius: float
    dec_radius: float
    n_nodes: int
    output_copies: int = 1  # extra copies a consumer makes of the outputs (e.g. VTK arrays)


def estimate_fixed(s: RolloutShape) -> tuple[int, int, int]:
    """(inputs, pair lists, outputs) bytes of a rollout with shape `s`."""
    f32 = 4
    inputs = 4 * s.n_observed * s.n_points * s.n_channels * f32  # observed, normalised, torch, permuted copies
    per_list_point = s.dim * f32 + 8  # node-unit coordinates + CSR offsets of a decoder list
    enc_pairs = pairs_per_point(s.dim, s.enc_radius) * s.n_points
    dec_pairs = pairs_per_point(s.dim, s.dec_radius) * s.n_query
    idx_bytes = 4 + s.dim  # int32 source + int8 periodic shift
    lists = enc_pairs * idx_bytes + s.n_points * s.dim * f32 + dec_pairs * idx_bytes + s.n_query * per_list_point
    if s.n_query != s.n_points:  # re-encoding decodes the last frames at the input points too
        lists += pairs_per_point(s.dim, s.dec_radius) * s.n_points * idx_bytes + s.n_points * per_list_point
    # the lists are built block by block straight into their final arrays (~100 B per candidate)
    build = min(BUILD_BYTES, max(s.n_points, s.n_query) * (2 * max(s.enc_radius, s.dec_radius) + 1) ** s.dim * 100)
    for pairs in (enc_pairs, dec_pairs, dec_pairs):  # cached kernel tables (~200 B per pair), capped per list
        lists += min(KERNEL_TABLE_BYTES, pairs * 200)
    frame = s.n_query * s.n_channels * f32
    n_out = 1 + (s.n_samples > 1)  # mean, running variance
    outputs = n_out * s.n_frames * frame * (1 + s.output_copies)
    if s.keep_samples and s.n_samples > 1:
        outputs += s.n_samples * s.n_frames * frame
    outputs += 3 * s.window_frames * frame  # one decoded segment + its denormalised/float64 frame copies
    return int(inputs), int(lists + build), int(outputs)


def plan_rollout(shape: RolloutShape, budget: MemoryBudget | None = None) -> RolloutPlan:
    """Estimate, pick the chunk size, and refuse (EchoUserError) when even the smallest chunks do not fit."""
    budget = budget or MemoryBudget()
    limit = budget.limit()
    inputs, lists, outputs = estimate_fixed(shape)
    fixed = inputs + lists + outputs
    work = int(min(MAX_WORK, max(MIN_WORK, (limit - fixed) // 2)))
    plan = RolloutPlan(inputs=inputs, pair_lists=lists, outputs=outputs, work=work, limit=limit,
                       chunk_size=chunk_size_for(work), budget=budget)
    if plan.total > limit:
        raise EchoUserError(_refusal(plan, shape))
    return plan


def _refusal(plan: RolloutPlan, s: RolloutShape) -> str:
    where = ("the MemoryBudget / --max-memory setting" if plan.budget.max_bytes is not None
             else "the memory available now")
    fixes = [f"fewer frames per run (NumberOfFrames / --frames, now {s.n_frames})"]
    if s.n_samples > 1:
        fixes.append(f"fewer ensemble members (NumberOfSamples / --samples, now {s.n_samples})")
    fixes.append(f"a coarser mesh ({s.n_query:,} points now)")
    fixes.append("a larger MemoryBudget / --max-memory" if plan.budget.max_bytes is not None
                 else "closing other programs")
    return (f"not enough memory for this rollout: it needs {plan.summary()}, but {where} allows "
            f"{format_bytes(plan.limit)}. Use " + ", or ".join(fixes) + ".")


__all__ = ["MemoryBudget", "RolloutPlan", "RolloutShape", "auto_chunk_size", "available_bytes", "chunk_size_for",
           "estimate_fixed", "format_bytes", "peak_rss_bytes", "plan_rollout"]

"""Continuous convolution between scattered points and a regular latent grid (pure torch).

Two layers, both "continuous convolutions" in the CALM-PDE sense, adapted to a FIXED regular grid
(ECHO §3.1.1; echo-method.md §3.2):

    PointsToGrid   points (N, d) with values (F, N, Cin)  ->  grid features (F, Cout, *S)
    GridToPoints   grid features (F, Cin, *S)             ->  values at query points (F, M, Cout)

For a target y with neighbours x_v (|y - x_v| <= R grid spacings):

    h(y) = sum_v  w_v * K(delta_v) . u(x_v)        with  w_v = phi(|delta_v|/R) / sum_v' phi(...)

* delta = (point - node) in units of grid spacing (so the kernel is resolution independent);
  on periodic axes the minimum image is used.
* K(delta) = MLP(random Fourier features of delta / R) + a learned constant filter.
  PointsToGrid uses a full Cin x Cout kernel (Cin = data channels, small); GridToPoints a
  depthwise kernel on linearly projected grid features (Cin = latent width, large).
* phi(s) = (1 - s^2)^2 on s < 1: a smooth, compact distance weight; normalising it over the
  neighbourhood makes the layer a weighted *average*, so the output does not depend on the point
  density (dropout of input points, a finer input mesh, a finer query set) and the decoded field
  is continuous in the query position.

Neighbour search is grid binning, not a search: the grid is regular, so the nodes within R of a
point are in a fixed box of floor(2R)+1 nodes per axis around it. Building the pairs costs
O(N (2R+1)^d) in chunks of points, never an N x G matrix, needs no scipy (so it runs inside
ParaView's Python) and runs on CUDA. Pair lists are cached per static point set (keyed by a hash
of the coordinates): `clear_neighbour_cache()` empties it.

Chunking: pairs are stored grouped by target (CSR). A chunk is a contiguous range of targets whose
pairs x frames fit in `chunk_size`; frames are chunked too when one target range is already too
big. Targets of different chunks are disjoint, so chunked == unchunked up to float rounding, and
peak memory is bounded by `chunk_size` (plus the grid and the inputs/outputs themselves) whatever
the point count. Under autograd each chunk is gradient-checkpointed, so training memory is bounded
too. These layers always compute in float32 (autocast is switched off inside): sums of thousands
of neighbours in bf16 would lose the signal.

Batches: these layers take ONE point set. Trajectories with different point sets are processed one
by one by the autoencoder (see autoencoder.py), which also drops padded points via the mask.
"""
from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

# --------------------------------------------------------------------------------------------
# neighbour pairs (grid binning) and their cache
# --------------------------------------------------------------------------------------------

_BUILD_CHUNK = 1 << 16  # points per block while building pairs (bounds the candidate tensors, ~4 MB per 1k points)
_CACHE_MAX = 8
_CACHE: "OrderedDict[tuple, PairList]" = OrderedDict()


@dataclass
class PairList:
    """Point/grid-node pairs grouped by target, CSR style.

    ptr (n_targets + 1,) int64 start of each target's pairs; src (E,) int32 source index of each
    pair; delta (E, d) float32 offset point - node in grid spacings; weight (E,) float32
    normalised distance weight (sums to 1 per target that has pairs); has (n_targets,) bool.
    """

    ptr: torch.Tensor
    src: torch.Tensor
    delta: torch.Tensor
    weight: torch.Tensor
    has: torch.Tensor

    @property
    def n_targets(self) -> int:
        return int(self.ptr.shape[0] - 1)

    @property
    def n_pairs(self) -> int:
        return int(self.src.shape[0])

    def nbytes(self) -> int:
        return sum(t.element_size() * t.numel() for t in (self.ptr, self.src, self.delta, self.weight, self.has))


def clear_neighbour_cache() -> None:
    """Forget all cached neighbour pairs (e.g. after a mesh changed or to free memory)."""
    _CACHE.clear()


def neighbour_cache_size() -> int:
    return len(_CACHE)


def _fingerprint(points: torch.Tensor) -> str:
    data = points.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hashlib.blake2b(data, digest_size=16).hexdigest() + f":{tuple(points.shape)}"


def _distance_weight(s2: torch.Tensor) -> torch.Tensor:
    """phi(s) = (1 - s^2)^2 for s < 1, else 0 (s2 = s^2): smooth and compactly supported."""
    return (1.0 - s2).clamp(min=0.0) ** 2


def _point_node_pairs(
    points: torch.Tensor, grid: Sequence[int], radius: float, periodic: Sequence[bool]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All (point, node) pairs with |point - node| < radius grid spacings, point-major order.

    Returns point index (E,), flat node index (E,), delta (E, d) and raw weight (E,).
    Nodes sit at cell centres (i + 0.5) / S_a, so a 2S-point mesh and an S grid nest neatly.
    """
    device = points.device
    d = points.shape[1]
    sizes = torch.tensor(list(grid), device=device, dtype=torch.float32)
    n_c = int(math.floor(2 * radius)) + 1  # candidate nodes per axis
    offs = torch.stack(
        torch.meshgrid(*[torch.arange(n_c, device=device)] * d, indexing="ij"), dim=-1
    ).reshape(-1, d)  # (K, d)
    strides = [1] * d
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * int(grid[a + 1])
    strides_t = torch.tensor(strides, device=device, dtype=torch.int64)
    per = torch.tensor([bool(p) for p in periodic], device=device)
    out_p, out_n, out_d, out_w = [], [], [], []
    for start in range(0, points.shape[0], _BUILD_CHUNK):
        x = points[start : start + _BUILD_CHUNK].to(torch.float32)
        x = torch.where(per, torch.remainder(x, 1.0), x)
        u = x * sizes - 0.5  # position in node-index units
        base = torch.ceil(u - radius).to(torch.int64)  # (n, d)
        idx = base[:, None, :] + offs[None, :, :]  # (n, K, d)
        delta = u[:, None, :] - idx.to(torch.float32)  # min image: idx is not wrapped yet
        s2 = (delta * delta).sum(-1) / (radius * radius)
        ok = s2 < 1.0
        inside = (idx >= 0) & (idx < sizes.to(torch.int64))
        ok &= (inside | per).all(-1)
        idx = torch.where(per, torch.remainder(idx, sizes.to(torch.int64)), idx)
        flat = (idx * strides_t).sum(-1)
        pi, ki = ok.nonzero(as_tuple=True)
        out_p.append((pi + start).to(torch.int32))  # int32 halves the O(N) lists (2^31 points is plenty)
        out_n.append(flat[pi, ki].to(torch.int32))
        out_d.append(delta[pi, ki])
        out_w.append(_distance_weight(s2[pi, ki]))
    cat = [torch.cat(out_p)]
    del out_p
    cat.append(torch.cat(out_n))
    del out_n
    cat.append(torch.cat(out_d))
    del out_d
    cat.append(torch.cat(out_w))
    return tuple(cat)


def _csr(parts: list[torch.Tensor], to_grid: bool, n_targets: int) -> PairList:
    """Group pairs by target. `parts` = [point, node, delta, weight] is consumed (emptied) so that
    arrays are freed as soon as they are reordered: the transient peak stays ~2x the final lists."""
    pi, ni, delta, w = parts
    parts.clear()
    target, source = (ni, pi) if to_grid else (pi, ni)
    del pi, ni
    if to_grid:  # point-major generation: sort by node (decoder pairs are already target-major)
        order = torch.argsort(target, stable=True)
        target = target[order]
        source = source[order]
        delta = delta[order]
        w = w[order]
        del order
    tl = target.long()
    del target
    counts = torch.bincount(tl, minlength=n_targets)
    ptr = torch.zeros(n_targets + 1, dtype=torch.int64, device=tl.device)
    ptr[1:] = torch.cumsum(counts, 0)
    total = torch.zeros(n_targets, dtype=torch.float32, device=tl.device).index_add_(0, tl, w)
    has = total > 0
    w = w / total.clamp(min=1e-30)[tl]
    # int32 sources: the lists are O(N) and cached, so they dominate memory at 10^6 points
    return PairList(ptr=ptr, src=source.to(torch.int32), delta=delta.contiguous(), weight=w.contiguous(), has=has)


def neighbour_pairs(
    points: torch.Tensor,
    grid: Sequence[int],
    radius: float,
    periodic: Sequence[bool] | None = None,
    *,
    to_grid: bool,
    cache: bool = True,
) -> PairList:
    """Neighbour pairs between `points` (N, d) in [0, 1]^d and the regular `grid`.

    to_grid=True: targets are grid nodes (encoder); False: targets are the points (decoder).
    Cached per (coordinates, grid, radius, periodic, direction, device) when `cache`.
    """
    if points.ndim != 2 or points.shape[1] != len(grid):
        raise ValueError(f"points must be (N, {len(grid)}) for a {len(grid)}-D grid, got {tuple(points.shape)}")
    if radius <= 0.5:
        raise ValueError(f"radius {radius} grid spacings is too small: a point could see no node (use >= 1)")
    periodic = tuple(bool(p) for p in (periodic or (False,) * len(grid)))
    key = None
    if cache:
        key = (_fingerprint(points), tuple(int(g) for g in grid), float(radius), periodic, to_grid, str(points.device))
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    with torch.no_grad():
        parts = list(_point_node_pairs(points.detach(), grid, radius, periodic))
        n_nodes = int(math.prod(int(g) for g in grid))
        pairs = _csr(parts, to_grid, n_nodes if to_grid else points.shape[0])
    if key is not None:
        _CACHE[key] = pairs
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return pairs


def _target_chunks(ptr: torch.Tensor, budget: int | None) -> list[tuple[int, int]]:
    """Contiguous target ranges whose pair counts stay within `budget` (>= 1 target each)."""
    n = ptr.shape[0] - 1
    if budget is None or int(ptr[-1]) <= budget:
        return [(0, n)]
    bounds = [0]
    ptr_cpu = ptr.cpu()
    while bounds[-1] < n:
        s = bounds[-1]
        limit = int(ptr_cpu[s]) + budget
        e = int(torch.searchsorted(ptr_cpu, torch.tensor(limit), right=True)) - 1
        bounds.append(min(max(e, s + 1), n))
    return list(zip(bounds[:-1], bounds[1:]))


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------


class FourierKernel(nn.Module):
    """K(delta) = MLP([sin, cos](2 pi B delta/R)) + constant; B fixed random (a saved buffer)."""

    def __init__(self, dim: int, n_out: int, radius: float, n_freq: int = 16, scale: float = 1.0,
                 hidden: int = 32, seed: int = 0, const_init: float = 1.0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(dim, n_freq, generator=g) * scale)
        self.radius = float(radius)
        self.net = nn.Sequential(nn.Linear(2 * n_freq, hidden), nn.GELU(), nn.Linear(hidden, n_out))
        nn.init.normal_(self.net[-1].weight, std=0.1 / math.sqrt(hidden))
        nn.init.zeros_(self.net[-1].bias)
        self.const = nn.Parameter(torch.full((n_out,), float(const_init)))

    def forward(self, delta: torch.Tensor) -> torch.Tensor:
        proj = (2 * math.pi / self.radius) * (delta @ self.freqs)
        return self.net(torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)) + self.const


class PointsToGrid(nn.Module):
    """Encoder's first layer: scattered point values -> features on the regular grid.

    forward(points (N, d) in [0,1]^d, values (F, N, Cin), chunk_size=None) -> (F, Cout, *grid).
    out = Linear(GELU(sum_v w_v K(delta_v) u_v + b) ++ [has-neighbours]); a node without any
    point within R gets GELU(b) and the flag 0.
    """

    def __init__(self, dim: int, in_channels: int, out_channels: int, grid: Sequence[int], radius: float = 1.5,
                 periodic: Sequence[bool] | None = None, hidden: int | None = None, n_freq: int = 16,
                 freq_scale: float = 1.0, kernel_hidden: int = 32, seed: int = 0) -> None:
        super().__init__()
        self.dim, self.cin, self.cout = dim, in_channels, out_channels
        self.grid = tuple(int(g) for g in grid)
        if len(self.grid) != dim:
            raise ValueError(f"grid {self.grid} is not {dim}-D")
        self.radius = float(radius)
        self.periodic = tuple(bool(p) for p in (periodic or (False,) * dim))
        self.hidden = int(hidden or out_channels)
        self.kernel = FourierKernel(dim, in_channels * self.hidden, radius, n_freq, freq_scale, kernel_hidden, seed,
                                    const_init=1.0 / in_channels)
        self.bias = nn.Parameter(torch.zeros(self.hidden))
        self.proj = nn.Linear(self.hidden + 1, out_channels)

    def pairs(self, points: torch.Tensor, cache: bool = True) -> PairList:
        return neighbour_pairs(points, self.grid, self.radius, self.periodic, to_grid=True, cache=cache)

    def _chunk(self, values: torch.Tensor, src: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # values (N, F, Cin); src/weight (n_t, K), delta (n_t, K, d) padded (weight 0) -> (n_t, F, H)
        n_t, k = src.shape
        a = (self.kernel(delta) * weight[..., None]).reshape(n_t, k * self.cin, self.hidden)
        u = values.index_select(0, src.reshape(-1)).reshape(n_t, k, -1, self.cin)  # (n_t, K, F, Cin)
        u = u.permute(0, 1, 3, 2).reshape(n_t, k * self.cin, -1)  # (n_t, K Cin, F)
        return torch.bmm(u.transpose(1, 2), a)  # contraction over (K, Cin) as one batched matmul

    def forward(self, points: torch.Tensor, values: torch.Tensor, chunk_size: int | None = None,
                cache: bool = True) -> torch.Tensor:
        if values.ndim != 3 or values.shape[1] != points.shape[0] or values.shape[2] != self.cin:
            raise ValueError(f"values must be (F, {points.shape[0]}, {self.cin}), got {tuple(values.shape)}")
        dev_type = values.device.type
        with torch.autocast(dev_type, enabled=False):
            pairs = self.pairs(points, cache=cache)
            vals = values.float().permute(1, 0, 2).contiguous()  # (N, F, Cin): gather along dim 0
            n_f = vals.shape[1]
            h = _chunked_neighbour_sum(self._chunk, vals, pairs, chunk_size)  # (G, F, H)
            h = torch.nn.functional.gelu(h + self.bias)
            flag = pairs.has.to(h.dtype)[:, None, None].expand(-1, h.shape[1], 1)
            out = self.proj(torch.cat([h, flag], -1))  # (G, F, Cout)
            return out.permute(1, 2, 0).reshape(n_f, self.cout, *self.grid)


class GridToPoints(nn.Module):
    """Decoder's last layer: grid features -> values at arbitrary query points.

    forward(grid_feats (F, Cin, *grid), query (M, d) in [0,1]^d, chunk_size=None) -> (F, M, Cout).
    h(q) = GELU(sum_k w_k K(delta_k) * (W_in z)(xi_k) + b); out = pointwise MLP(h) (H -> H -> Cout).
    """

    def __init__(self, dim: int, in_channels: int, out_channels: int, grid: Sequence[int], radius: float = 1.5,
                 periodic: Sequence[bool] | None = None, hidden: int | None = None, n_freq: int = 16,
                 freq_scale: float = 1.0, kernel_hidden: int = 32, seed: int = 1) -> None:
        super().__init__()
        self.dim, self.cin, self.cout = dim, in_channels, out_channels
        self.grid = tuple(int(g) for g in grid)
        self.radius = float(radius)
        self.periodic = tuple(bool(p) for p in (periodic or (False,) * dim))
        self.hidden = int(hidden or in_channels)
        self.lin_in = nn.Linear(in_channels, self.hidden)
        self.kernel = FourierKernel(dim, self.hidden, radius, n_freq, freq_scale, kernel_hidden, seed)
        self.bias = nn.Parameter(torch.zeros(self.hidden))
        self.head = nn.Sequential(nn.Linear(self.hidden, self.hidden), nn.GELU(), nn.Linear(self.hidden, out_channels))

    def pairs(self, query: torch.Tensor, cache: bool = True) -> PairList:
        return neighbour_pairs(query, self.grid, self.radius, self.periodic, to_grid=False, cache=cache)

    def _chunk(self, feats: torch.Tensor, src: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # feats (G, F, H); src/weight (n_t, K), delta (n_t, K, d) padded (weight 0) -> (n_t, F, Cout)
        n_t, k = src.shape
        a = self.kernel(delta) * weight[..., None]  # (n_t, K, H)
        g = feats.index_select(0, src.reshape(-1)).reshape(n_t, k, feats.shape[1], self.hidden)
        h = (g * a[:, :, None, :]).sum(1)  # depthwise kernel
        return self.head(torch.nn.functional.gelu(h + self.bias))

    def forward(self, grid_feats: torch.Tensor, query: torch.Tensor, chunk_size: int | None = None,
                cache: bool = True) -> torch.Tensor:
        if grid_feats.shape[1] != self.cin or tuple(grid_feats.shape[2:]) != self.grid:
            raise ValueError(f"grid features must be (F, {self.cin}, {self.grid}), got {tuple(grid_feats.shape)}")
        with torch.autocast(grid_feats.device.type, enabled=False):
            pairs = self.pairs(query, cache=cache)
            n_f = grid_feats.shape[0]
            g = grid_feats.float().reshape(n_f, self.cin, -1).permute(2, 0, 1)  # (G, F, Cin)
            feats = self.lin_in(g)  # (G, F, H): grid-sized, fine
            out = _chunked_neighbour_sum(self._chunk, feats, pairs, chunk_size)  # (M, F, Cout)
            return out.permute(1, 0, 2)


def _chunked_neighbour_sum(chunk_fn, src: torch.Tensor, pairs: PairList, chunk_size: int | None) -> torch.Tensor:
    """chunk_fn over frame batches x target ranges, so at most ~chunk_size (pair x frame) terms
    are alive at once; chunks are gradient-checkpointed when training. src (N_src, F, C) -> (N_tgt, F, C')."""
    n_f = src.shape[1]
    fc = n_f if chunk_size is None else max(1, min(n_f, chunk_size // max(1, pairs_max_degree(pairs))))
    outs_f = []
    for f0 in range(0, n_f, fc):
        v = src[:, f0 : f0 + fc]
        budget = None if chunk_size is None else max(1, chunk_size // v.shape[1])
        parts = []
        for t0, t1 in _target_chunks(pairs.ptr, budget):
            args = (v, *_padded(pairs, t0, t1))
            if torch.is_grad_enabled() and budget is not None:
                parts.append(checkpoint(chunk_fn, *args, use_reentrant=False))
            else:
                parts.append(chunk_fn(*args))
        outs_f.append(torch.cat(parts, 0) if len(parts) > 1 else parts[0])
    return torch.cat(outs_f, 1) if len(outs_f) > 1 else outs_f[0]


def _padded(pairs: PairList, t0: int, t1: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets t0..t1 as a dense (n_t, K) neighbour table (K = their max degree; padding has weight 0).

    Dense tables turn the neighbour sums into batched matmuls / reductions instead of scatters.
    """
    start = pairs.ptr[t0:t1]
    deg = pairs.ptr[t0 + 1 : t1 + 1] - start
    k = max(1, int(deg.max())) if t1 > t0 else 1
    ar = torch.arange(k, device=start.device)
    valid = ar[None, :] < deg[:, None]
    pos = torch.where(valid, start[:, None] + ar[None, :], start[:, None].clamp(max=max(0, pairs.n_pairs - 1)))
    if pairs.n_pairs == 0:
        n_t = t1 - t0
        z = torch.zeros(n_t, k, device=start.device)
        return z.long(), torch.zeros(n_t, k, pairs.delta.shape[1], device=start.device), z
    src = pairs.src[pos].long()
    delta = pairs.delta[pos]
    weight = torch.where(valid, pairs.weight[pos], torch.zeros((), device=start.device))
    return src, delta, weight


def pairs_max_degree(pairs: PairList) -> int:
    m = getattr(pairs, "_max_degree", None)
    if m is None:
        m = int((pairs.ptr[1:] - pairs.ptr[:-1]).max()) if pairs.n_targets else 0
        pairs._max_degree = m  # type: ignore[attr-defined]
    return m

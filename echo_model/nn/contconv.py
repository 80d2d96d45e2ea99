"""Continuous convolution between scattered points and a regular latent grid (pure torch).

Two layers, both "continuous convolutions" in the CALM-PDE sense, adapted to a FIXED regular grid
(ECHO, arXiv 2512.04974, §3.1.1):

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
of the coordinates): `clear_neighbour_cache()` empties it. A cached list keeps only indices
(int32 source per pair, an int8 periodic image shift, int64 CSR offsets): ~4-6 bytes per pair,
so ~70 bytes per point for encoder + decoder in 2-D. Offsets and normalised weights are
recomputed per chunk with the same float operations that built them (identical values).

Chunking: pairs are stored grouped by target (CSR). A chunk is a contiguous range of targets whose
pairs x frames fit in `chunk_size`; frames are chunked too when one target range is already too
big. Targets of different chunks are disjoint, so chunked == unchunked up to float rounding, and
peak memory is bounded by `chunk_size` (plus the grid, the inputs/outputs themselves and the
compact pair lists) whatever the point count; without autograd the chunks are written into one
preallocated output, and `echo_model.memory` picks `chunk_size` from the available memory. Under
autograd each chunk (when there are several) is gradient-checkpointed, so training memory is
bounded too. These layers always compute in float32 (autocast is switched off inside): sums of thousands
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

_BUILD_CANDIDATES = 1 << 18  # candidate (point, node) pairs per block while building (~100 bytes each, transient)
_CACHE_MAX = 8
_CACHE: "OrderedDict[tuple, PairList]" = OrderedDict()


@dataclass
class PairList:
    """Point/grid-node pairs grouped by target, CSR style, stored compactly.

    ptr (n_targets + 1,) int64 start of each target's pairs; src (E,) int32 source index of each
    pair; shift (E, d) int8 periodic image of the node (None without periodic axes); total
    (n_targets,) float32 sum of the raw distance weights of each target; u (N, d) float32 point
    positions in node-index units. Offsets and normalised weights are NOT stored: `gather`
    recomputes them per chunk from u (the same float operations, so the values are identical),
    which keeps a cached list at ~4-6 bytes per pair instead of ~20.
    """

    ptr: torch.Tensor
    src: torch.Tensor
    shift: torch.Tensor | None
    total: torch.Tensor
    u: torch.Tensor
    grid: tuple[int, ...]
    radius: float
    to_grid: bool
    point_weight: torch.Tensor | None = None  # (N,) quadrature weight per point (encoder), None = uniform

    @property
    def n_targets(self) -> int:
        return int(self.ptr.shape[0] - 1)

    @property
    def n_pairs(self) -> int:
        return int(self.src.shape[0])

    @property
    def has(self) -> torch.Tensor:
        return self.total > 0

    @property
    def delta(self) -> torch.Tensor:
        """(E, d) offsets point - node in grid spacings (computed on demand: whole list)."""
        return self.gather(torch.arange(self.n_pairs, device=self.src.device))[1]

    @property
    def weight(self) -> torch.Tensor:
        """(E,) normalised weights (computed on demand: whole list)."""
        return self.gather(torch.arange(self.n_pairs, device=self.src.device))[2]

    def nbytes(self) -> int:
        ts = [self.ptr, self.src, self.total, self.u] + [t for t in (self.shift, self.point_weight) if t is not None]
        return sum(t.element_size() * t.numel() for t in ts)

    def targets_of(self, pos: torch.Tensor) -> torch.Tensor:
        """Target index of the pairs at positions `pos` (any shape)."""
        return torch.searchsorted(self.ptr, pos.reshape(-1), right=True).reshape(pos.shape) - 1

    def gather(self, pos: torch.Tensor, target: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pairs at positions `pos` (any shape S) -> source index (S) int64, delta (S, d), weight (S)."""
        if target is None:
            target = self.targets_of(pos)
        src = self.src[pos].long()
        point, node = (src, target) if self.to_grid else (target, src)
        d = len(self.grid)
        idx = torch.empty(*node.shape, d, dtype=torch.int64, device=node.device)
        rest = node
        for a in range(d - 1, -1, -1):  # flat node index -> per-axis index (row-major)
            idx[..., a] = rest % self.grid[a]
            rest = rest // self.grid[a]
        if self.shift is not None:  # back to the unwrapped (minimum-image) node the pair was built with
            idx += self.shift[pos].long() * torch.tensor(self.grid, device=idx.device)
        delta = self.u[point] - idx.to(torch.float32)
        s2 = (delta * delta).sum(-1) / (self.radius * self.radius)
        weight = _distance_weight(s2)
        if self.point_weight is not None:
            weight = weight * self.point_weight[point]
        return src, delta, weight / self.total.clamp(min=1e-30)[target]


def clear_neighbour_cache() -> None:
    """Forget all cached neighbour pairs (e.g. after a mesh changed or to free memory)."""
    _CACHE.clear()


def neighbour_cache_size() -> int:
    return len(_CACHE)


def neighbour_cache_nbytes() -> int:
    """Bytes held by the cached pair lists."""
    return sum(p.nbytes() for p in _CACHE.values())


def _fingerprint(points: torch.Tensor) -> str:
    data = points.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hashlib.blake2b(data, digest_size=16).hexdigest() + f":{tuple(points.shape)}"


def _distance_weight(s2: torch.Tensor) -> torch.Tensor:
    """phi(s) = (1 - s^2)^2 for s < 1, else 0 (s2 = s^2): smooth and compactly supported."""
    return (1.0 - s2).clamp(min=0.0) ** 2


def _node_units(points: torch.Tensor, grid: Sequence[int], periodic: Sequence[bool]) -> torch.Tensor:
    """Point positions in node-index units (nodes at cell centres: node i sits at i), periodic axes wrapped."""
    sizes = torch.tensor(list(grid), device=points.device, dtype=torch.float32)
    per = torch.tensor([bool(p) for p in periodic], device=points.device)
    x = points.to(torch.float32)
    x = torch.where(per, torch.remainder(x, 1.0), x)
    return x * sizes - 0.5


def _candidates(uc: torch.Tensor, radius: float, grid: Sequence[int], per: Sequence[bool]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Candidate nodes of a block of points (n, d) in node units: the fixed box of floor(2R)+1
    nodes per axis. -> ok (n, K) bool (within R and inside or periodic), flat node index (n, K),
    raw weight (n, K), periodic image shift (n, K, d) int8 (None without periodic axes).

    The box is a product of per-axis ranges, so everything is computed per axis on (n, floor(2R)+1)
    and combined by broadcasting (4-5x less work than on the full (n, K, d) box)."""
    n, d = uc.shape
    n_c = int(math.floor(2 * radius)) + 1
    ar = torch.arange(n_c, device=uc.device)
    s2 = flat = valid = None
    shifts = []
    stride = 1
    for a in range(d - 1, -1, -1):
        view = [n] + [1] * d
        view[1 + a] = n_c
        idx = torch.ceil(uc[:, a] - radius).to(torch.int64)[:, None] + ar  # (n, n_c) unwrapped
        dl = uc[:, a : a + 1] - idx.to(torch.float32)  # min image: idx is not wrapped yet
        q = (dl * dl).reshape(view)
        if per[a]:
            wrapped = torch.remainder(idx, grid[a])
            shifts.append(((idx - wrapped) // grid[a]).to(torch.int8).reshape(view))
            ok_a = None
        else:
            wrapped = idx
            shifts.append(None)
            ok_a = ((idx >= 0) & (idx < grid[a])).reshape(view)
        s2 = q if s2 is None else q + s2
        f = (wrapped * stride).reshape(view)
        flat = f if flat is None else flat + f
        if ok_a is not None:
            valid = ok_a if valid is None else valid & ok_a
        stride *= int(grid[a])
    shape = [n] + [n_c] * d
    s2 = s2.expand(shape).reshape(n, -1) / (radius * radius)
    ok = s2 < 1.0
    if valid is not None:
        ok &= valid.expand(shape).reshape(n, -1)
    shift = None
    if any(per):
        shifts.reverse()
        z = torch.zeros((), dtype=torch.int8, device=uc.device)
        shift = torch.stack([(s if s is not None else z).expand(shape).reshape(n, -1) for s in shifts], -1)
    return ok, flat.expand(shape).reshape(n, -1), _distance_weight(s2), shift


def _cell_weights(u: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
    """Quadrature weight of each point: 1 / (points in its grid cell), a cell-area estimate.

    With it the encoder's weighted average approximates an integral over the kernel's support
    instead of an average over points, so a mesh refined near a body (more points there) does not
    pull the latent value towards the refined side: the same field on another mesh encodes alike.
    On a uniform point set every weight is equal and nothing changes."""
    idx = torch.round(u).to(torch.int64)
    flat = torch.zeros(u.shape[0], dtype=torch.int64, device=u.device)
    for a, g in enumerate(grid):
        flat = flat * g + idx[:, a].clamp(0, g - 1)
    counts = torch.bincount(flat, minlength=int(math.prod(grid)))
    return 1.0 / counts[flat].to(torch.float32)


def _build_pairs(u: torch.Tensor, grid: tuple[int, ...], radius: float, periodic: tuple[bool, ...],
                 to_grid: bool, point_weight: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """CSR pair list (ptr, src int32, shift int8 | None, total raw weight per target) in two passes
    over blocks of points (count, then fill), so nothing bigger than the final lists and one block's
    candidates is ever alive. Within a target, pairs keep point order (the order a stable sort by
    target of the point-major pairs would give)."""
    device, d = u.device, u.shape[1]
    per = periodic
    n_t = int(math.prod(grid)) if to_grid else u.shape[0]
    counts = torch.zeros(n_t, dtype=torch.int64, device=device)
    total = torch.zeros(n_t, dtype=torch.float32, device=device)
    step = max(1, _BUILD_CANDIDATES // (int(math.floor(2 * radius)) + 1) ** d)  # points per block
    blocks = [(s, min(s + step, u.shape[0])) for s in range(0, u.shape[0], step)]
    for s, e in blocks:  # pass 1: pairs per target and weight sums
        ok, flat, w, _ = _candidates(u[s:e], radius, grid, per)
        if to_grid:
            nodes = flat[ok]
            counts += torch.bincount(nodes, minlength=n_t)
            if point_weight is not None:
                w = w * point_weight[s:e, None]
            total.index_add_(0, nodes, w[ok])
        else:
            counts[s:e] = ok.sum(1)
            total[s:e] = (w * ok).sum(1)
    ptr = torch.zeros(n_t + 1, dtype=torch.int64, device=device)
    ptr[1:] = torch.cumsum(counts, 0)
    n_pairs = int(ptr[-1])
    src = torch.empty(n_pairs, dtype=torch.int32, device=device)
    shift = torch.empty(n_pairs, d, dtype=torch.int8, device=device) if any(periodic) else None
    fill = ptr[:-1].clone()
    for s, e in blocks:  # pass 2: write each block's pairs at their targets' next free slots
        ok, flat, _, sh = _candidates(u[s:e], radius, grid, per)
        pi, ki = ok.nonzero(as_tuple=True)
        if to_grid:
            nodes = flat[pi, ki]
            order = torch.argsort(nodes, stable=True)
            nodes, pi, ki = nodes[order], pi[order], ki[order]
            c = torch.bincount(nodes, minlength=n_t)
            rank = torch.arange(nodes.shape[0], device=device) - (torch.cumsum(c, 0) - c)[nodes]
            pos = fill[nodes] + rank
            fill += c
            src[pos] = (pi + s).to(torch.int32)
        else:
            pos = torch.arange(int(ptr[s]), int(ptr[e]), device=device)
            src[pos] = flat[pi, ki].to(torch.int32)
        if sh is not None:
            shift[pos] = sh[pi, ki]
    return ptr, src, shift, total


def neighbour_pairs(
    points: torch.Tensor,
    grid: Sequence[int],
    radius: float,
    periodic: Sequence[bool] | None = None,
    *,
    to_grid: bool,
    cache: bool = True,
    quadrature: bool = False,
) -> PairList:
    """Neighbour pairs between `points` (N, d) in [0, 1]^d and the regular `grid`.

    to_grid=True: targets are grid nodes (encoder); False: targets are the points (decoder).
    quadrature (to_grid only): weight each point by its cell-area estimate (`_cell_weights`).
    Cached per (coordinates, grid, radius, periodic, direction, device) when `cache`.
    """
    if points.ndim != 2 or points.shape[1] != len(grid):
        raise ValueError(f"points must be (N, {len(grid)}) for a {len(grid)}-D grid, got {tuple(points.shape)}")
    if radius <= 0.5:
        raise ValueError(f"radius {radius} grid spacings is too small: a point could see no node (use >= 1)")
    periodic = tuple(bool(p) for p in (periodic or (False,) * len(grid)))
    grid = tuple(int(g) for g in grid)
    key = None
    if cache:
        key = (_fingerprint(points), grid, float(radius), periodic, to_grid, str(points.device), bool(quadrature))
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    with torch.no_grad():
        u = _node_units(points.detach(), grid, periodic)
        pw = _cell_weights(u, grid) if quadrature and to_grid else None
        ptr, source, shift, total = _build_pairs(u, grid, float(radius), periodic, to_grid, pw)
        pairs = PairList(ptr=ptr, src=source, shift=shift, total=total, u=u, grid=grid, radius=float(radius),
                         to_grid=to_grid, point_weight=pw)
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
                 freq_scale: float = 1.0, kernel_hidden: int = 32, seed: int = 0, quadrature: bool = False) -> None:
        super().__init__()
        self.dim, self.cin, self.cout = dim, in_channels, out_channels
        self.quadrature = bool(quadrature)
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
        return neighbour_pairs(points, self.grid, self.radius, self.periodic, to_grid=True, cache=cache,
                               quadrature=self.quadrature)

    def _chunk(self, values: torch.Tensor, src: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self._contract(values, src, self._table(delta, weight))

    def _table(self, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Weighted kernel of a padded chunk: delta (n_t, K, d), weight (n_t, K) -> (n_t, K Cin, H)."""
        n_t, k = weight.shape
        return (self.kernel(delta) * weight[..., None]).reshape(n_t, k * self.cin, self.hidden)

    def _contract(self, values: torch.Tensor, src: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        # values (N, F, Cin); src (n_t, K) padded, a from _table -> (n_t, F, H)
        n_t, k = src.shape
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
            h = _chunked_neighbour_sum(self, vals, pairs, chunk_size)  # (G, F, H)
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
        return self._contract(feats, src, self._table(delta, weight))

    def _table(self, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Weighted depthwise kernel of a padded chunk: delta (n_t, K, d), weight (n_t, K) -> (n_t, K, H)."""
        return self.kernel(delta) * weight[..., None]

    def _contract(self, feats: torch.Tensor, src: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        # feats (G, F, H); src (n_t, K) padded, a from _table -> (n_t, F, Cout)
        n_t, k = src.shape
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
            out = _chunked_neighbour_sum(self, feats, pairs, chunk_size)  # (M, F, Cout)
            return out.permute(1, 0, 2)


def _chunked_neighbour_sum(layer: nn.Module, src: torch.Tensor, pairs: PairList, chunk_size: int | None
                           ) -> torch.Tensor:
    """layer._chunk over frame batches x target ranges, so at most ~chunk_size (pair x frame) terms
    are alive at once; chunks are gradient-checkpointed when training. src (N_src, F, C) -> (N_tgt, F, C').

    Without autograd every chunk is written straight into one preallocated output (no list of
    parts and no concatenation, which would double the output's memory at the end), and its
    weighted kernel table is reused across calls on the same mesh when small (see _kernel_table)."""
    n_f = src.shape[1]
    fc = n_f if chunk_size is None else max(1, min(n_f, chunk_size // max(1, pairs_max_degree(pairs))))
    grad = torch.is_grad_enabled()
    out: torch.Tensor | None = None
    outs_f = []
    for f0 in range(0, n_f, fc):
        v = src[:, f0 : f0 + fc]
        budget = None if chunk_size is None else max(1, chunk_size // v.shape[1])
        ranges = _target_chunks(pairs.ptr, budget)
        parts = []
        for t0, t1 in ranges:
            if not grad:
                res = layer._contract(v, *_kernel_table(layer, pairs, t0, t1))
                if out is None:
                    out = res.new_empty((pairs.n_targets, n_f, res.shape[-1]))
                out[t0:t1, f0 : f0 + v.shape[1]] = res
                del res
            elif len(ranges) > 1:
                parts.append(checkpoint(layer._chunk, v, *_padded(pairs, t0, t1), use_reentrant=False))
            else:
                parts.append(layer._chunk(v, *_padded(pairs, t0, t1)))
        if grad:
            outs_f.append(torch.cat(parts, 0) if len(parts) > 1 else parts[0])
    if not grad:
        return out
    return torch.cat(outs_f, 1) if len(outs_f) > 1 else outs_f[0]


KERNEL_TABLE_BYTES = 32 << 20  # per neighbour list: small meshes keep their kernel tables, large ones recompute


def _kernel_table(layer: nn.Module, pairs: PairList, t0: int, t1: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(padded sources, weighted kernel) of targets t0..t1, cached on the pair list while they fit
    KERNEL_TABLE_BYTES. The kernel depends only on the geometry and the weights, so a rollout on a
    small mesh evaluates the kernel MLPs once instead of once per frame batch, member and segment.
    Keyed by the layer and its parameters' versions (an optimizer step or a reload invalidates it)."""
    key = (id(layer), tuple((q.data_ptr(), q._version) for q in layer.kernel.parameters()), t0, t1)
    tables = pairs.__dict__.setdefault("_tables", {})
    hit = tables.get(key)
    if hit is not None:
        return hit
    src, delta, weight = _padded(pairs, t0, t1)
    out = (src, layer._table(delta, weight))
    nbytes = sum(t.numel() * t.element_size() for t in out)
    used = pairs.__dict__.get("_tables_bytes", 0)
    if used + nbytes <= KERNEL_TABLE_BYTES:
        tables[key] = out
        pairs._tables_bytes = used + nbytes  # type: ignore[attr-defined]
    return out


def _padded(pairs: PairList, t0: int, t1: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets t0..t1 as a dense (n_t, K) neighbour table (K = their max degree; padding has weight 0).

    Dense tables turn the neighbour sums into batched matmuls / reductions instead of scatters.
    Offsets and weights are recomputed here for this chunk only (the cached list keeps indices).
    """
    start = pairs.ptr[t0:t1]
    deg = pairs.ptr[t0 + 1 : t1 + 1] - start
    k = max(1, int(deg.max())) if t1 > t0 else 1
    n_t = t1 - t0
    if pairs.n_pairs == 0:
        z = torch.zeros(n_t, k, device=start.device)
        return z.long(), torch.zeros(n_t, k, len(pairs.grid), device=start.device), z
    ar = torch.arange(k, device=start.device)
    valid = ar[None, :] < deg[:, None]
    pos = torch.where(valid, start[:, None] + ar[None, :], start[:, None].clamp(max=pairs.n_pairs - 1))
    target = torch.arange(t0, t1, device=start.device)[:, None].expand(n_t, k)
    src, delta, weight = pairs.gather(pos, target)
    weight = torch.where(valid, weight, torch.zeros((), device=start.device))
    return src, delta, weight


def pairs_max_degree(pairs: PairList) -> int:
    m = getattr(pairs, "_max_degree", None)
    if m is None:
        m = int((pairs.ptr[1:] - pairs.ptr[:-1]).max()) if pairs.n_targets else 0
        pairs._max_degree = m  # type: ignore[attr-defined]
    return m

"""Continuous convolution: neighbour pairs, chunking, invariances, periodic wrap, cache."""
from __future__ import annotations


import pytest
import torch

from echo_model.nn.contconv import (GridToPoints, PointsToGrid, clear_neighbour_cache, neighbour_cache_size,
                                    neighbour_pairs)

torch.set_num_threads(1)  # small tensors; spin-waiting threads hurt on a shared machine


def _brute_pairs(points, grid, radius, periodic):
    """Reference: every (point, node) pair within radius, by a dense search (small sizes only)."""
    d = points.shape[1]
    nodes = torch.stack(torch.meshgrid(*[(torch.arange(g) + 0.5) / g for g in grid], indexing="ij"), -1).reshape(-1, d)
    scale = torch.tensor(grid, dtype=torch.float32)
    diff = (points[:, None, :] - nodes[None, :, :]) * scale
    for a, p in enumerate(periodic):
        if p:
            diff[..., a] = diff[..., a] - grid[a] * torch.round(diff[..., a] / grid[a])
    dist2 = (diff**2).sum(-1)
    return {(int(i), int(j)) for i, j in (dist2 < radius**2).nonzero().tolist()}


@pytest.mark.parametrize("periodic", [(False, False), (True, True), (True, False)])
def test_pairs_match_brute_force_2d(periodic):
    torch.manual_seed(0)
    pts = torch.rand(300, 2)
    grid = (8, 12)
    pairs = neighbour_pairs(pts, grid, 1.5, periodic, to_grid=False, cache=False)
    got = set()
    for i in range(pairs.n_targets):
        for e in range(int(pairs.ptr[i]), int(pairs.ptr[i + 1])):
            got.add((i, int(pairs.src[e])))
    assert got == _brute_pairs(pts, grid, 1.5, periodic)
    # weights are normalised per target
    sums = torch.zeros(pairs.n_targets).index_add_(0, torch.repeat_interleave(
        torch.arange(pairs.n_targets), pairs.ptr[1:] - pairs.ptr[:-1]), pairs.weight)
    assert torch.allclose(sums[pairs.has], torch.ones(int(pairs.has.sum())), atol=1e-5)


def test_pairs_match_brute_force_3d_to_grid():
    torch.manual_seed(1)
    pts = torch.rand(200, 3)
    grid = (4, 4, 6)
    pairs = neighbour_pairs(pts, grid, 1.2, (True, False, True), to_grid=True, cache=False)
    got = set()
    for node in range(pairs.n_targets):
        for e in range(int(pairs.ptr[node]), int(pairs.ptr[node + 1])):
            got.add((int(pairs.src[e]), node))
    assert got == _brute_pairs(pts, grid, 1.2, (True, False, True))


def test_periodic_minimum_image_offsets():
    pts = torch.tensor([[0.01, 0.5]])
    pairs = neighbour_pairs(pts, (10, 10), 1.5, (True, False), to_grid=False, cache=False)
    # node (9, *) sits at x = 0.95, i.e. 0.6 spacings to the left across the boundary
    n_y = 10
    src = pairs.src.tolist()
    assert any(s // n_y == 9 for s in src)
    assert pairs.delta[:, 0].abs().max() < 1.5


@pytest.mark.parametrize("dim", [2, 3])
def test_chunked_equals_unchunked_with_gradients(dim):
    torch.manual_seed(0)
    grid = (8,) * dim
    pts = torch.rand(700, dim)
    vals = torch.randn(3, 700, 2)
    enc = PointsToGrid(dim, 2, 8, grid, periodic=(True,) * dim)
    dec = GridToPoints(dim, 8, 2, grid, periodic=(True,) * dim)
    q = torch.rand(500, dim)

    def run(chunk):
        enc.zero_grad(), dec.zero_grad()
        out = dec(enc(pts, vals, chunk_size=chunk), q, chunk_size=chunk)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in list(enc.parameters()) + list(dec.parameters())]

    full, g_full = run(None)
    small, g_small = run(900)  # several target chunks and frame chunks
    assert full.shape == (3, 500, 2)
    assert torch.allclose(full, small, atol=1e-5, rtol=1e-5)
    for a, b in zip(g_full, g_small):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_point_order_invariance():
    torch.manual_seed(2)
    pts = torch.rand(900, 2)
    vals = torch.randn(2, 900, 1)
    enc = PointsToGrid(2, 1, 8, (16, 16))
    perm = torch.randperm(900)
    with torch.no_grad():
        a = enc(pts, vals)
        b = enc(pts[perm], vals[:, perm])
    assert torch.allclose(a, b, atol=1e-5)
    assert a.shape == (2, 8, 16, 16)


def test_decoder_is_continuous_in_query_position():
    torch.manual_seed(3)
    dec = GridToPoints(2, 4, 1, (8, 8))
    g = torch.randn(1, 4, 8, 8)
    x = torch.linspace(0.2, 0.8, 2001)
    q = torch.stack([x, torch.full_like(x, 0.43)], -1)
    with torch.no_grad():
        v = dec(g, q, cache=False)[0, :, 0]
    # smooth compact weights: neighbouring queries 3e-4 apart differ by far less than the field's range
    assert (v[1:] - v[:-1]).abs().max() < 0.05 * (v.max() - v.min())


def test_cache_hit_and_clear():
    clear_neighbour_cache()
    pts = torch.rand(100, 2)
    a = neighbour_pairs(pts, (8, 8), 1.5, to_grid=True)
    b = neighbour_pairs(pts.clone(), (8, 8), 1.5, to_grid=True)
    assert a is b and neighbour_cache_size() == 1
    c = neighbour_pairs(pts + 1e-3, (8, 8), 1.5, to_grid=True)
    assert c is not a
    clear_neighbour_cache()
    assert neighbour_cache_size() == 0


def test_no_neighbour_nodes_are_flagged():
    pts = torch.tensor([[0.05, 0.05]])
    enc = PointsToGrid(2, 1, 4, (8, 8))
    pairs = enc.pairs(pts, cache=False)
    assert 0 < int(pairs.has.sum()) < 64
    out = enc(pts, torch.ones(1, 1, 1))
    assert torch.isfinite(out).all()


def test_frame_chunking_forward():
    torch.manual_seed(4)
    pts = torch.rand(400, 2)
    vals = torch.randn(5, 400, 1)
    enc = PointsToGrid(2, 1, 4, (8, 8))
    dec = GridToPoints(2, 4, 1, (8, 8))
    with torch.no_grad():
        g_full, g_small = enc(pts, vals), enc(pts, vals, chunk_size=60)  # < max degree x frames
        q_full, q_small = dec(g_full, pts), dec(g_full, pts, chunk_size=20)
    assert torch.allclose(g_full, g_small, atol=1e-5)
    assert torch.allclose(q_full, q_small, atol=1e-5)


def test_quadrature_makes_the_encoder_average_mesh_independent():
    """A linear field on a mesh refined in one corner: plain point averages are pulled towards the
    refined corner, quadrature-weighted ones stay near the uniform-mesh value."""
    from echo_model.nn.contconv import neighbour_pairs

    torch.manual_seed(0)
    uniform = torch.rand(4000, 2)
    refined = torch.cat([torch.rand(4000, 2), 0.3 * torch.rand(12000, 2)])  # 4x denser near the origin
    grid = (8, 8)

    def node_avg(points, quadrature):
        pairs = neighbour_pairs(points, grid, 1.5, to_grid=True, cache=False, quadrature=quadrature)
        pos = torch.arange(pairs.n_pairs)
        src, _, w = pairs.gather(pos)
        field = points[:, 0]  # f(x, y) = x
        tgt = pairs.targets_of(pos)
        return torch.zeros(64).index_add_(0, tgt, w * field[src])

    ref = node_avg(uniform, False)
    plain = (node_avg(refined, False) - ref).abs().max()
    quad = (node_avg(refined, True) - ref).abs().max()
    assert quad < 0.5 * plain
    # on a uniform grid of points the weights are equal: identical to the plain average
    g = torch.stack(torch.meshgrid(torch.arange(32) / 32 + 1 / 64, torch.arange(32) / 32 + 1 / 64,
                                   indexing="ij"), -1).reshape(-1, 2)
    torch.testing.assert_close(node_avg(g, True), node_avg(g, False))

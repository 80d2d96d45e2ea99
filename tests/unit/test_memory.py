"""Bounded memory: chunked == unchunked, compact pair lists, the ensemble reduced on the fly,
peak memory that grows less than the outputs, and the estimate / refusal before a rollout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from echo_model import rollout as R
from echo_model.data.normalize import ChannelStats, Domain
from echo_model.errors import EchoUserError
from echo_model.memory import GB, MB, MemoryBudget, chunk_size_for, plan_rollout
from echo_model.nn.contconv import GridToPoints, PointsToGrid, neighbour_pairs

torch.set_num_threads(1)

LAYOUT = [("w", 1), ("U", 2)]


@pytest.fixture(scope="module")
def sur():
    return R.create_untrained(LAYOUT, 2, domain=Domain([0, 0], [2, 2], (True, False)),
                              stats=ChannelStats([3.0, 0, 0], [0.5, 1, 1]), dt=0.25, seed=1)


def _case(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2)) * 2.0
    obs = (np.sin(np.pi * pts[:, :1]) + 0.1 * rng.standard_normal((n, 3))).astype(np.float32)[None]
    return pts, obs


def test_rollout_chunked_equals_unchunked(sur):
    pts, obs = _case(500)
    n = sur.segment_frames + 2  # two segments: the re-encode runs chunked too
    kw = dict(n_samples=3, seed=5, keep_samples=True)
    small = sur.rollout(pts, obs, n, chunk_size=97, **kw)  # far below one target's pairs x frames
    whole = sur.rollout(pts, obs, n, chunk_size=1 << 30, **kw)
    assert small.info["chunk_size"] == 97
    np.testing.assert_allclose(small.samples, whole.samples, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(small.mean, whole.mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(small.std, whole.std, rtol=1e-5, atol=1e-5)


def test_running_mean_and_std_match_the_members(sur):
    pts, obs = _case(300, seed=1)
    res = sur.rollout(pts, obs, 5, n_samples=4, seed=2, keep_samples=True)
    np.testing.assert_allclose(res.mean, res.samples.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.std, res.samples.std(0), rtol=1e-4, atol=1e-5)
    assert res.std.max() > 0  # the members differ
    lean = sur.rollout(pts, obs, 5, n_samples=4, seed=2, keep_samples=False)
    assert lean.samples is None
    np.testing.assert_allclose(lean.mean, res.mean, rtol=1e-6, atol=1e-6)


def test_decode_frames_equals_full_window_decode(sur):
    pts = torch.rand(400, 2)
    z = torch.randn(1, sur.ae.latent_dim, sur.latent_frames, *sur.ae.config.latent_grid)
    full = sur.decode(z, pts)[0]  # (T_win, M, C)
    frames = [1, 4, sur.window_frames - 1]
    part = sur.decode_frames(z, pts, frames, chunk_size=50)
    torch.testing.assert_close(part, full[frames], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("periodic", [(False, False, False), (True, False, True)])
def test_3d_layers_chunked_equal_unchunked(periodic):
    torch.manual_seed(0)
    grid = (6, 6, 6)
    pts, vals = torch.rand(800, 3), torch.randn(2, 800, 1)
    enc = PointsToGrid(3, 1, 4, grid, periodic=periodic)
    dec = GridToPoints(3, 4, 1, grid, periodic=periodic)
    with torch.no_grad():
        g_full, g_small = enc(pts, vals, cache=False), enc(pts, vals, chunk_size=50, cache=False)
        q_full, q_small = dec(g_full, pts, cache=False), dec(g_full, pts, chunk_size=30, cache=False)
    torch.testing.assert_close(g_small, g_full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(q_small, q_full, rtol=1e-5, atol=1e-5)


def test_pair_lists_are_compact():
    pts = torch.rand(20000, 2)
    for to_grid in (True, False):
        pairs = neighbour_pairs(pts, (32, 32), 1.5, (True, True), to_grid=to_grid, cache=False)
        assert pairs.src.dtype == torch.int32 and pairs.shift.dtype == torch.int8
        # indices only: well under the ~20 bytes per pair of stored offsets + weights
        assert pairs.nbytes() < 8 * pairs.n_pairs + 16 * len(pts)


_PEAK_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from echo_model import rollout as R
    from echo_model.data.normalize import Domain
    from echo_model.nn import contconv
    # kernel tables are a bounded cache (KERNEL_TABLE_BYTES per list, tested below); at these small
    # sizes they would still be filling up, so measure the streaming path without them
    contconv.KERNEL_TABLE_BYTES = 0
    n, frames = int(sys.argv[1]), int(sys.argv[2])
    sur = R.create_untrained([("w", 1)], 2, domain=Domain([0, 0], [1, 1]), seed=0)
    rng = np.random.default_rng(0)
    pts = rng.random((n, 2))
    obs = rng.standard_normal((1, n, 1)).astype(np.float32)
    sur.rollout(pts[:500], obs[:, :500], 1)  # warm-up: libraries and allocator pools, not the data
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res = sur.rollout(pts, obs, frames, n_samples=2, keep_samples=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"growth": peak - base, "outputs": res.mean.nbytes + res.std.nbytes}))
""")


def _peak(n: int, frames: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(n), str(frames)], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1",
                              # live memory, not glibc heap retention (as benchmarks/ae_memory.py)
                              "MALLOC_MMAP_THRESHOLD_": "131072"}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peak_memory_at_4x_points_grows_less_than_the_outputs():
    frames = 64  # many frames: the outputs are what must grow with the points, nothing else should
    small, big = _peak(10000, frames), _peak(40000, frames)  # both above one chunk of pairs
    assert big["outputs"] == 4 * small["outputs"]
    # before bounded memory, the rollout held ~12 KB per point (all pairs x frames at once)
    assert big["growth"] - small["growth"] < big["outputs"], (small, big)


def test_budget_parsing():
    assert MemoryBudget.parse("").max_bytes is None and MemoryBudget.parse("auto").max_bytes is None
    assert MemoryBudget.parse(0).max_bytes is None
    assert MemoryBudget.parse("1.5GB").max_bytes == int(1.5 * GB)
    assert MemoryBudget.parse("800 MiB").max_bytes == 800 * MB
    assert MemoryBudget.parse("2g").max_bytes == 2 * GB
    for bad in ("lots", "12 parsecs", "1MB"):
        with pytest.raises(EchoUserError):
            MemoryBudget.parse(bad, where="--max-memory")
    assert chunk_size_for(1) >= 1 << 13 and chunk_size_for(100 * GB) <= 1 << 15


def test_estimate_grows_with_points_frames_and_samples(sur):
    def total(**kw):
        args = dict(n_points=1 << 20, n_query=1 << 20, n_frames=16, n_samples=4, keep_samples=False)
        args.update(kw)
        q = args.pop("n_query")
        return sur.plan(args.pop("n_points"), q, memory="64GB", **args).total

    base = total()
    assert total(n_points=1 << 22, n_query=1 << 22) > 3.5 * base
    assert total(n_frames=64) > total() and total(keep_samples=True) > total()
    assert total(n_samples=1) < total()
    # 1M points, 16 frames, mean + std: the outputs alone are 128 MB; the estimate stays well under 1.5 GB
    assert 128 * MB < base < 1.5 * GB


def test_refusal_names_the_estimate_and_the_fix(sur):
    pts, obs = _case(200)
    with pytest.raises(EchoUserError) as exc:
        sur.plan(50_000_000, 50_000_000, 200, n_samples=8, memory="1GB")
    msg = str(exc.value)
    assert "not enough memory" in msg and "GB" in msg and "MemoryBudget" in msg and "--max-memory" in msg
    assert "NumberOfSamples" in msg and "NumberOfFrames" in msg
    with pytest.raises(EchoUserError, match="not enough memory"):  # the rollout itself refuses before working
        sur.rollout(pts, obs, 10_000_000, memory="100MB")
    shape = sur.rollout_shape(200, 200, 3)
    assert plan_rollout(shape, MemoryBudget.parse("1GB")).total < GB


def test_kernel_tables_are_reused_and_follow_the_weights():
    torch.manual_seed(5)
    pts = torch.rand(300, 2)
    dec = GridToPoints(2, 4, 1, (8, 8))
    g = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        first = dec(g, pts)
        pairs = dec.pairs(pts)
        assert pairs._tables and pairs._tables_bytes > 0  # cached on the (cached) neighbour list
        torch.testing.assert_close(dec(g, pts), first, rtol=0, atol=0)
        for q in dec.kernel.parameters():
            q.add_(0.1)  # an optimizer step or a reload: the tables must not be reused
        fresh = dec(g, pts, cache=False)
        torch.testing.assert_close(dec(g, pts), fresh, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(fresh, first)


def test_kernel_tables_stay_within_their_cap(monkeypatch):
    from echo_model.nn import contconv

    monkeypatch.setattr(contconv, "KERNEL_TABLE_BYTES", 200_000)
    pts = torch.rand(20000, 2)
    dec = GridToPoints(2, 4, 1, (16, 16))
    with torch.no_grad():
        full = dec(torch.randn(1, 4, 16, 16), pts, chunk_size=4096, cache=False)
    pairs = dec.pairs(pts, cache=False)  # a fresh list: fill it through a cached call
    with torch.no_grad():
        dec(torch.randn(1, 4, 16, 16), pts, chunk_size=4096)
    cached = dec.pairs(pts)
    assert 0 < cached._tables_bytes <= 200_000 < 20000 * 7 * 4 * 4  # part of the tables, never more than the cap
    assert full.shape == (1, 20000, 1) and pairs.n_pairs > 0

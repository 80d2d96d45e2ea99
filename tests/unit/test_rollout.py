"""Surrogate rollout with untrained tiny models: chaining, seam, seeding, ensembles, model file."""
import os
import time

import numpy as np
import pytest
import torch

from echo_model import rollout as R
from echo_model.bundle import load_tensors, prefixed, save_tensors
from echo_model.data.normalize import ChannelStats, Domain
from echo_model.errors import EchoUserError

torch.set_num_threads(1)

LAYOUT = [("w", 1), ("U", 2)]


def _grid(n=16):
    x = (np.arange(n) + 0.5) / n * 2.0  # domain [0, 2]^2
    xx, yy = np.meshgrid(x, x)
    return np.stack([xx.ravel(), yy.ravel()], 1)


def _obs(pts, t=1, seed=0):
    rng = np.random.default_rng(seed)
    base = np.sin(np.pi * pts[:, :1]) * np.cos(np.pi * pts[:, 1:2])
    fr = np.concatenate([3.0 + base, base, -base], axis=1)[None].repeat(t, 0)
    return (fr + 0.1 * rng.standard_normal(fr.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def sur():
    return R.create_untrained(LAYOUT, 2, domain=Domain([0, 0], [2, 2], (True, True)),
                              stats=ChannelStats([3.0, 0, 0], [0.5, 1, 1]), dt=0.25, seed=1)


@pytest.fixture(scope="module")
def baseline():
    return R.create_untrained(LAYOUT, 2, domain=Domain([0, 0], [2, 2]), generator_kind="baseline", seed=2)


def test_contract_properties(sur):
    assert sur.field_layout == LAYOUT and sur.dim == 2 and sur.dt == 0.25
    assert sur.n_observed_frames == 1 + sur.time_factor * (sur.known_latent_frames - 1)
    assert sur.segment_frames == sur.time_factor * (sur.latent_frames - sur.known_latent_frames) > 0


def test_chained_rollout_length_times_and_seam(sur):
    pts = _grid()
    seg = sur.segment_frames
    n = seg + 3  # needs two segments
    res = sur.rollout(pts, _obs(pts), n, seed=3)
    assert res.mean.shape == (n, len(pts), 3) and res.std is None and res.samples is None
    np.testing.assert_allclose(res.times, 0.25 * np.arange(1, n + 1))
    assert np.isfinite(res.mean).all()
    # seam: the second segment is generated from the last frame of the first one; restarting a
    # rollout from that frame (with that segment's seed) must reproduce it
    again = sur.rollout(pts, res.mean[seg - 1 : seg], 3, seed=3 + R.SEGMENT_SEED_STRIDE)
    np.testing.assert_allclose(res.mean[seg:], again.mean, rtol=1e-3, atol=1e-3)
    assert not np.allclose(res.mean[seg:], sur.rollout(pts, res.mean[seg - 1 : seg], 3, seed=4).mean, atol=1e-3)


def test_baseline_chained_seam_and_determinism(baseline):
    pts = _grid()
    seg = baseline.segment_frames
    res = baseline.rollout(pts, _obs(pts), 2 * seg, n_samples=4, seed=0)
    assert res.mean.shape == (2 * seg, len(pts), 3) and res.std is None  # deterministic: one sample
    again = baseline.rollout(pts, res.mean[seg - 1 : seg], seg, seed=99)
    np.testing.assert_allclose(res.mean[seg:], again.mean, rtol=1e-3, atol=1e-3)


def test_seeded_sampling_reproducible(sur):
    pts = _grid()
    a = sur.rollout(pts, _obs(pts), 4, seed=11, n_samples=2)
    b = sur.rollout(pts, _obs(pts), 4, seed=11, n_samples=2)
    c = sur.rollout(pts, _obs(pts), 4, seed=12, n_samples=2)
    assert np.array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)


def test_ensemble_mean_std_shapes_and_query_points(sur):
    pts = _grid()
    q = np.random.default_rng(0).uniform(0, 2, size=(37, 2))
    res = sur.rollout(pts, _obs(pts, t=3), 5, query_points=q, n_samples=3, sampler="heun", steps=1)
    assert res.samples.shape == (3, 5, 37, 3)
    assert res.mean.shape == res.std.shape == (5, 37, 3)
    np.testing.assert_allclose(res.mean, res.samples.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.std, res.samples.std(0), rtol=1e-4, atol=1e-5)
    assert (res.std > 0).any()


def test_progress_abort_and_errors(sur):
    pts = _grid()
    seen = []
    sur.rollout(pts, _obs(pts), sur.segment_frames + 1, progress=seen.append)
    assert seen[-1] == 1.0 and all(b >= a for a, b in zip(seen, seen[1:])) and len(seen) > 2
    with pytest.raises(R.RolloutAborted):
        sur.rollout(pts, _obs(pts), 4, should_abort=lambda: True)
    # the caller's data and options: user errors that name the fix (not ValueErrors, which are bugs)
    with pytest.raises(EchoUserError, match="channels"):
        sur.rollout(pts, _obs(pts)[..., :2], 4)
    with pytest.raises(EchoUserError, match="points"):
        sur.rollout(pts[:, :1], _obs(pts), 4)
    with pytest.raises(EchoUserError, match="n_frames 0"):
        sur.rollout(pts, _obs(pts), 0)
    with pytest.raises(EchoUserError, match="n_samples 0"):
        sur.rollout(pts, _obs(pts), 4, n_samples=0)
    multi = R.create_untrained(LAYOUT, 2, known_latent_frames=2)
    with pytest.raises(EchoUserError, match=f"needs {multi.n_observed_frames} observed"):
        multi.rollout(pts, _obs(pts, t=1), 4)
    with pytest.raises(ValueError, match="observed must be"):  # a programming error stays a ValueError
        sur.rollout(pts, _obs(pts)[None], 4)


def test_model_file_round_trip_and_cache(sur, tmp_path):
    pts = _grid()
    path = tmp_path / "m.safetensors"
    sur.save(path)
    R.clear_cache()
    loaded = R.Surrogate.load(path, device="cpu")
    assert R.Surrogate.load(path, device="cpu") is loaded  # cached
    a = sur.rollout(pts, _obs(pts), 6, n_samples=2, seed=5)
    b = loaded.rollout(pts, _obs(pts), 6, n_samples=2, seed=5)
    assert np.array_equal(a.samples, b.samples)
    assert loaded.field_layout == LAYOUT and loaded.dt == 0.25
    assert loaded.domain.periodic == (True, True)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # "retrained in place"
    assert R.Surrogate.load(path, device="cpu") is not loaded
    R.clear_cache()
    assert not R._CACHE


def test_export_bundle_from_ae_file_and_dit_checkpoint(sur, tmp_path):
    from echo_model.nn.autoencoder import save_autoencoder

    ae_path = tmp_path / "ae.safetensors"
    save_autoencoder(ae_path, sur.ae, meta={"field_layout": LAYOUT, "stats": sur.stats.to_dict(),
                                            "domain": sur.domain.to_dict(), "dt": 0.25})
    ckpt = tmp_path / "dit.safetensors"
    save_tensors(ckpt, prefixed(sur.gen.state_dict(), R.GEN_KEY), {
        "kind": "dit-checkpoint", "dit": sur.gen.cfg.to_dict(), "latent_frames": sur.latent_frames,
        "known_latent_frames": 1, "generator_kind": "flow", "latent_mean": sur.latent_mean.tolist(),
        "latent_std": sur.latent_std.tolist(), "sampler": "euler", "steps": 2})
    out = R.export_bundle(ae_path, ckpt, tmp_path / "bundle.safetensors")
    loaded = R.Surrogate.load(out, cache=False)
    pts = _grid()
    assert np.array_equal(loaded.rollout(pts, _obs(pts), 3, seed=1).mean, sur.rollout(pts, _obs(pts), 3, seed=1).mean)
    tensors, meta = load_tensors(out)
    assert meta["kind"] == R.KIND and any(k.startswith("autoencoder.") for k in tensors)
    with pytest.raises(EchoUserError, match="not a complete surrogate"):
        R.Surrogate.load(ae_path, cache=False)


SAMPLE = R.__file__.rsplit("/echo_model/", 1)[0] + "/sample_cases/ns2d_vorticity"


@pytest.mark.skipif(not os.path.exists(SAMPLE + "/model_tiny.safetensors"), reason="sample model not present")
def test_shipped_tiny_model_forecasts_the_sample_case():
    """The committed demo model still loads with today's code and beats persistence clearly."""
    from echo_model import metrics
    from echo_model.data.store import TrajectoryStore

    sur = R.Surrogate.load(SAMPLE + "/model_tiny.safetensors", device="cpu", cache=False)
    with TrajectoryStore(SAMPLE + "/ns2d_64.h5") as store:
        i = int(store.split_indices("test")[0])
        fields = store.read_fields(i, slice(0, 1 + sur.segment_frames))
        res = sur.rollout(store.points(i), fields[:1], sur.segment_frames, params=store.params(i), steps=5,
                          sampler="euler", seed=0)
    err = metrics.rel_mse(res.mean, fields[1:])
    persistence = metrics.rel_mse(np.repeat(fields[:1], sur.segment_frames, 0), fields[1:])
    assert err < 0.05 and err < 0.3 * persistence, (err, persistence)


def test_state_error_is_chunked_like_a_rollout(monkeypatch):
    """The start-state check encodes and decodes a whole frame: unchunked it held every point's
    continuous-convolution terms at once (2.4 GB transient at 64^3 in EchoRollout, 18.8 GB at 128^3)."""
    sur = R.create_untrained(LAYOUT, 2, domain=Domain([0, 0], [2, 2]))
    pts = np.random.default_rng(0).uniform(0, 2, (300, 2))
    obs = np.random.default_rng(1).standard_normal((1, 300, 3)).astype(np.float32)
    whole = sur.state_error(pts, obs, chunk_size=10**9)
    seen = []
    for name in ("encode", "decode_frames"):
        real = getattr(sur, name)
        monkeypatch.setattr(sur, name, lambda *a, _real=real, **k: seen.append(k.get("chunk_size")) or _real(*a, **k))
    assert sur.state_error(pts, obs, chunk_size=64) == pytest.approx(whole, rel=1e-5)
    assert seen == [64, 64]
    seen.clear()
    sur.state_error(pts, obs)
    assert len(seen) == 2 and all(c is not None for c in seen)  # the default comes from the memory available


def test_reconstruct_is_the_autoencoders_round_trip_in_physical_units():
    """`Surrogate.reconstruct` (the benchmarks' floor and "is it the mesh or the flow?" check) equals
    encode -> decode by hand, decodes at other query points when asked, and keeps physical units."""
    sur = R.create_untrained(LAYOUT, 2, domain=Domain([0, 0], [2, 2]))
    rng = np.random.default_rng(0)
    pts, q = rng.uniform(0, 2, (300, 2)), rng.uniform(0, 2, (40, 2))
    frames = (5.0 + 3.0 * rng.standard_normal((sur.window_frames, 300, 3))).astype(np.float32)
    rec = sur.reconstruct(pts, frames)
    with torch.no_grad():
        z = sur.encode(sur._points(pts), torch.as_tensor(sur.stats.normalize(frames))[None])
        by_hand = sur.stats.denormalize(sur.decode(z, sur._points(pts))[0].numpy())
    assert rec.shape == frames.shape
    np.testing.assert_allclose(rec, by_hand, rtol=1e-4, atol=1e-4)
    at_q = sur.reconstruct(pts, frames, query_points=q)
    assert at_q.shape == (sur.window_frames, 40, 3) and np.isfinite(at_q).all()
    assert not np.allclose(at_q, rec[:, :40])  # decoded at q, not at the first 40 points
    err = sur.state_error(pts, frames[:1])  # z-scored units: the same round trip, normalised
    assert err == pytest.approx(float(((sur.stats.normalize(sur.reconstruct(pts, frames[:1])) - sur.stats.normalize(frames[:1])) ** 2).mean()), rel=1e-4)

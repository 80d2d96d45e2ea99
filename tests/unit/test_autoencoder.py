"""EchoAutoencoder: shapes (2-D/3-D), causality, invariances, masks, chunking, model files."""
from __future__ import annotations

import pytest
import torch

from echo_model.errors import EchoUserError
from echo_model.nn.autoencoder import AutoencoderConfig, EchoAutoencoder, load_autoencoder, save_autoencoder
from echo_model.presets import AE_PRESETS, autoencoder_config

torch.set_num_threads(1)  # small tensors; spin-waiting threads hurt on a shared machine


def small_cfg(dim=2, channels_in=1, periodic=()):
    grid = (16, 16) if dim == 2 else (8, 8, 8)
    return AutoencoderConfig(dim=dim, in_channels=channels_in, grid=grid, periodic=periodic,
                             layout=("res", "cs", "ct", "res"), channels=(8, 16), latent_dim=4)


def make_model(dim=2, channels_in=1, seed=0, **kw):
    torch.manual_seed(seed)
    return EchoAutoencoder(small_cfg(dim, channels_in, **kw)).eval()


@pytest.mark.parametrize("dim", [2, 3])
def test_shapes_and_ratio(dim):
    ae = make_model(dim, channels_in=2)
    n, t = 600, 5
    pts = torch.rand(2, n, dim)
    vals = torch.randn(2, t, n, 2)
    with torch.no_grad():
        z = ae.encode(pts, vals)
        assert tuple(z.shape[1:]) == ae.latent_shape(t) == (4, 3, *(ae.config.latent_grid))
        out = ae.decode(z, torch.rand(2, 77, dim))
    assert out.shape == (2, t, 77, 2)
    assert ae.time_factor == 2 and ae.frames_for_latent(3) == 5
    expected = n * t * 2 / (4 * 3 * (ae.config.latent_grid[0] ** dim))
    assert ae.compression_ratio(n, t) == pytest.approx(expected)
    with pytest.raises(EchoUserError, match="1 \\+ 2 k"):
        ae.latent_shape(4)


def test_presets_compression():
    tiny = autoencoder_config("tiny")
    paper = autoencoder_config("paper")
    assert tiny.compression_ratio(64 * 64, 9) > 10
    assert paper.compression_ratio(1024 * 1024, 17) >= 100
    assert set(AE_PRESETS) >= {"tiny", "paper"}
    assert autoencoder_config("tiny", periodic=(True, True)).periodic == (True, True)
    assert autoencoder_config("tiny", padding_mode="circular").padding_mode == "circular"
    aniso = autoencoder_config("tiny", grid=(64, 16))  # e.g. a 4:1 channel
    assert aniso.grid == (64, 16) and aniso.latent_grid == (16, 4)
    assert autoencoder_config("tiny", dim=3).grid == (16, 16, 16)


@pytest.mark.parametrize("dim", [2, 3])
def test_encoder_causality(dim):
    ae = make_model(dim, periodic=(True,) * dim)
    torch.manual_seed(1)
    n, t = 400, 5
    pts = torch.rand(1, n, dim)
    vals = torch.randn(1, t, n, 1)
    with torch.no_grad():
        z = ae.encode(pts, vals)
        for frame in range(1, t):
            v2 = vals.clone()
            v2[:, frame] += torch.randn_like(v2[:, frame])
            z2 = ae.encode(pts, v2)
            changed = (z2 - z).flatten(3).abs().amax(dim=(0, 1, 3))  # per latent frame
            first = -(-frame // ae.time_factor)  # latent frames j with f j < frame are untouched
            assert torch.all(changed[:first] == 0), (frame, changed)
            assert changed[first:].max() > 0
        # latent frame 0 encodes frame 0 alone: a single frame gives the same first latent frame
        z0 = ae.encode(pts, vals[:, :1])
    assert torch.allclose(z0, z[:, :, :1], atol=1e-5)


def test_decoder_causality():
    ae = make_model()
    z = torch.randn(1, 4, 3, 8, 8)
    q = torch.rand(1, 50, 2)
    with torch.no_grad():
        base = ae.decode(z, q)
        z2 = z.clone()
        z2[:, :, 2] += 1.0
        out = ae.decode(z2, q)
    diff = (out - base).abs().amax(dim=(0, 2, 3))
    assert torch.all(diff[:3] == 0) and diff[3:].min() > 0  # frames t with ceil(t/2) < 2


def test_point_order_invariance_and_mask():
    ae = make_model()
    torch.manual_seed(2)
    pts = torch.rand(2, 500, 2)
    vals = torch.randn(2, 3, 500, 1)
    perm = torch.randperm(500)
    mask = torch.ones(2, 500, dtype=torch.bool)
    mask[1, 350:] = False
    with torch.no_grad():
        z = ae.encode(pts, vals, mask)
        z_perm = ae.encode(pts[:, perm], vals[:, :, perm], mask[:, perm])
        z1 = ae.encode(pts[1:, :350], vals[1:, :, :350])  # the padded sample alone, unpadded
    assert torch.allclose(z, z_perm, atol=1e-4)
    assert torch.allclose(z[1:], z1, atol=1e-5)


def test_chunked_equals_unchunked():
    ae = make_model()
    torch.manual_seed(3)
    pts = torch.rand(1, 800, 2)
    vals = torch.randn(1, 3, 800, 1)
    q = torch.rand(1, 300, 2)
    with torch.no_grad():
        a = ae.decode(ae.encode(pts, vals), q)
        b = ae.decode(ae.encode(pts, vals, chunk_size=700), q, chunk_size=100)
    assert torch.allclose(a, b, atol=1e-5)


def test_decode_at_other_points_is_consistent():
    ae = make_model()
    torch.manual_seed(4)
    pts = torch.rand(1, 400, 2)
    vals = torch.randn(1, 3, 400, 1)
    fine = torch.rand(1, 1000, 2)
    with torch.no_grad():
        z = ae.encode(pts, vals)
        out_fine = ae.decode(z, fine)
        out_sub = ae.decode(z, fine[:, ::7])
        qmask = torch.zeros(1, 1000, dtype=torch.bool)
        qmask[0, :600] = True
        out_masked = ae.decode(z, fine, query_mask=qmask)
    assert out_fine.shape == (1, 3, 1000, 1) and torch.isfinite(out_fine).all()
    assert torch.allclose(out_sub, out_fine[:, :, ::7], atol=1e-5)
    assert torch.allclose(out_masked[:, :, :600], out_fine[:, :, :600], atol=1e-5)
    assert torch.all(out_masked[:, :, 600:] == 0)


def test_model_file_round_trip(tmp_path):
    ae = make_model(periodic=(True, True))
    path = tmp_path / "ae.safetensors"
    save_autoencoder(path, ae, meta={"stats": {"mean": [0.0], "std": [1.0]}})
    loaded, meta = load_autoencoder(path)
    assert loaded.config == ae.config and meta["kind"] == "autoencoder"
    pts = torch.rand(1, 300, 2)
    vals = torch.randn(1, 3, 300, 1)
    with torch.no_grad():
        a = ae(pts, vals)
        b = loaded(pts, vals)
    assert torch.equal(a, b)


def test_bad_inputs_raise_clear_errors():
    ae = make_model()
    with pytest.raises(ValueError, match="channels"):
        ae.encode(torch.rand(1, 10, 2), torch.randn(1, 3, 10, 2))
    with pytest.raises(ValueError, match="points must be"):
        ae.encode(torch.rand(1, 10, 3), torch.randn(1, 3, 10, 1))
    with pytest.raises(ValueError, match="z must be"):
        ae.decode(torch.randn(1, 4, 2, 4, 4), torch.rand(1, 5, 2))
    with pytest.raises(EchoUserError, match="divisible"):
        AutoencoderConfig(grid=(12, 12), layout=("cs", "cs", "cs"), channels=(4, 4, 4, 4))

"""DiT over latent tokens: shapes (2D/3D, patches), AdaLN-Zero start, conditioning paths."""
import pytest
import torch

from echo_model.errors import EchoUserError
from echo_model.nn.dit import DIT_PRESETS, DiT, DiTConfig, dit_config, sincos_pos_embed

torch.set_num_threads(1)


def _small(**kw) -> DiTConfig:
    base = dict(latent_dim=3, spatial_dims=2, width=32, depth=2, heads=4, mlp_ratio=2.0, freq_embed_dim=32)
    base.update(kw)
    return DiTConfig(**base)


def _perturb(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("spatial,patch_t,patch_s", [(2, 1, 1), (2, 1, 2), (3, 1, 1), (2, 2, 2)])
def test_shapes_and_patch_roundtrip(spatial, patch_t, patch_s):
    cfg = _small(spatial_dims=spatial, patch_time=patch_t, patch_space=patch_s)
    model = DiT(cfg)
    grid = (4,) + (4,) * spatial
    z = torch.randn(2, 3, *grid)
    assert torch.equal(model.unpatchify(model.patchify(z), grid, 3), z)
    out = model(z, z, torch.ones(2, 4), torch.rand(2))
    assert out.shape == z.shape


def test_adaln_zero_starts_at_zero_and_learns_conditioning():
    model = DiT(_small(param_dim=2))
    z = torch.randn(2, 3, 3, 4, 4)
    mask = torch.tensor([[1.0, 0, 0], [1, 1, 0]])
    out = model(z, z, mask, torch.rand(2), torch.randn(2, 2))
    assert torch.count_nonzero(out) == 0  # zero-initialised final layer and gates
    _perturb(model)
    a = model(z, z, mask, torch.full((2,), 0.3), torch.zeros(2, 2))
    b = model(z, z, mask, torch.full((2,), 0.7), torch.zeros(2, 2))
    c = model(z, z, mask, torch.full((2,), 0.3), torch.ones(2, 2))
    d = model(z, z, torch.zeros(2, 3), torch.full((2,), 0.3), torch.zeros(2, 2))
    assert not torch.allclose(a, b)  # flow time matters
    assert not torch.allclose(a, c)  # PDE parameters matter
    assert not torch.allclose(a, d)  # the observation mask / condition matters


def test_condition_is_masked_inside():
    """Unobserved frames of `cond` must not leak into the prediction."""
    model = DiT(_small())
    _perturb(model)
    z = torch.randn(1, 3, 3, 4, 4)
    mask = torch.tensor([[1.0, 0, 0]])
    cond2 = z.clone()
    cond2[:, :, 1:] = torch.randn_like(cond2[:, :, 1:])
    tau = torch.tensor([0.5])
    assert torch.allclose(model(z, z, mask, tau), model(z, cond2, mask, tau))


def test_position_embedding_distinguishes_tokens():
    emb = sincos_pos_embed((3, 4, 4), 48)
    assert emb.shape == (48, 48)
    assert torch.unique(emb, dim=0).shape[0] == 48


def test_bad_grid_and_presets():
    model = DiT(_small(patch_space=2))
    with pytest.raises(ValueError, match="patch"):
        model(torch.randn(1, 3, 2, 5, 4), torch.randn(1, 3, 2, 5, 4), torch.ones(1, 2), torch.rand(1))
    with pytest.raises(EchoUserError, match="preset"):
        dit_config("huge")
    assert {"tiny", "paper"} <= set(DIT_PRESETS)
    assert dit_config("paper").width >= 512
    cfg = dit_config("tiny", latent_dim=5)
    assert DiTConfig.from_dict(cfg.to_dict()) == cfg

"""Rectified flow: loss decreases, samplers by hand, mask semantics, seeding, task masks, CFG."""
import math

import torch

from echo_model import flow
from echo_model.nn.dit import DiT, DiTConfig

torch.set_num_threads(1)


def _model(seed=0, perturb=True) -> DiT:
    torch.manual_seed(seed)
    m = DiT(DiTConfig(latent_dim=2, spatial_dims=2, width=32, depth=1, heads=2, mlp_ratio=2.0, freq_embed_dim=32))
    if perturb:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return m


def _latent_dataset(n=32, seed=0) -> torch.Tensor:
    """Smooth travelling waves: z[b, d, t, y, x] = a_b sin(2 pi (x + c t) / 4 + phi_b + d)."""
    g = torch.Generator().manual_seed(seed)
    a = 0.5 + torch.rand(n, generator=g)
    phi = 2 * math.pi * torch.rand(n, generator=g)
    t = torch.arange(3.0)[:, None, None]
    x = torch.arange(4.0)[None, None, :]
    y = torch.arange(4.0)[None, :, None]
    z = torch.stack([a[i] * torch.sin(2 * math.pi * (x + 0.5 * t + 0 * y) / 4 + phi[i] + torch.arange(2.0)[:, None, None, None])
                     for i in range(n)])
    return z  # (n, 2, 3, 4, 4)


def test_flow_loss_decreases_on_tiny_latent_dataset():
    z = _latent_dataset()
    model = _model(perturb=False)
    eval_gen = torch.Generator().manual_seed(123)
    eval_mask = flow.sample_task_masks(32, 3, eval_gen)
    eval_tau = flow.sample_tau(32, eval_gen)
    eval_noise = torch.randn(z.shape, generator=eval_gen)

    def eval_loss() -> float:
        with torch.no_grad():
            return float(flow.flow_loss(model, z, eval_mask, tau=eval_tau, noise=eval_noise))

    before = eval_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(0, 32, (16,), generator=g)
        mask = flow.sample_task_masks(16, 3, g)
        loss = flow.flow_loss(model, z[idx], mask, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.6 * before, (before, after)


def test_one_step_euler_equals_hand_computation():
    model = _model()
    cond = torch.randn(2, 2, 3, 4, 4)
    mask = flow.forward_mask(2, 3, 1)
    noise = torch.randn(cond.shape, generator=torch.Generator().manual_seed(5))
    out = flow.sample(model, cond, mask, steps=1, sampler="euler", noise=noise)
    keep = mask.bool()[:, None, :, None, None].expand_as(cond)
    x0 = torch.where(keep, cond, noise)
    with torch.no_grad():
        v = model(x0, cond, mask, torch.zeros(2), None)
    by_hand = torch.where(keep, cond, x0 + v)
    assert torch.allclose(out, by_hand, atol=1e-6)
    # Heun, one step: average of the slopes at tau = 0 and tau = 1
    out_h = flow.sample(model, cond, mask, steps=1, sampler="heun", noise=noise)
    with torch.no_grad():
        x1 = torch.where(keep, cond, x0 + v)
        v2 = model(x1, cond, mask, torch.ones(2), None)
    assert torch.allclose(out_h, torch.where(keep, cond, x0 + 0.5 * (v + v2)), atol=1e-6)


def test_observed_frames_come_back_unchanged_for_every_sampler():
    model = _model()
    cond = torch.randn(3, 2, 3, 4, 4)
    mask = torch.tensor([[1.0, 0, 0], [0, 0, 1], [1, 0, 1]])
    for sampler in flow.SAMPLERS:
        out = flow.sample(model, cond, mask, steps=3, sampler=sampler, generator=torch.Generator().manual_seed(0))
        for b in range(3):
            for t in range(3):
                if mask[b, t]:
                    assert torch.equal(out[b, :, t], cond[b, :, t])
                else:
                    assert not torch.equal(out[b, :, t], cond[b, :, t])


def test_seeded_sampling_is_reproducible():
    model = _model()
    cond = torch.randn(2, 2, 3, 4, 4)
    mask = flow.forward_mask(2, 3, 1)
    a = flow.sample(model, cond, mask, steps=4, sampler="midpoint", generator=torch.Generator().manual_seed(7))
    b = flow.sample(model, cond, mask, steps=4, sampler="midpoint", generator=torch.Generator().manual_seed(7))
    c = flow.sample(model, cond, mask, steps=4, sampler="midpoint", generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_task_masks_cover_all_tasks_and_leave_work():
    g = torch.Generator().manual_seed(0)
    masks = flow.sample_task_masks(400, 4, g)
    assert masks.shape == (400, 4)
    assert torch.all(masks.sum(1) <= 3)  # always at least one frame to generate
    rows = {tuple(int(v) for v in r) for r in masks}
    assert (0, 0, 0, 0) in rows  # unconditional
    assert (1, 0, 0, 0) in rows and (1, 1, 1, 0) in rows  # forward
    assert (0, 0, 0, 1) in rows  # inverse
    assert (1, 0, 1, 0) in rows or (0, 1, 0, 1) in rows  # interpolation
    frac_uncond = float((masks.sum(1) == 0).float().mean())
    assert 0.05 < frac_uncond < 0.3


def test_loss_ignores_observed_positions():
    model = _model()
    z = torch.randn(2, 2, 3, 4, 4)
    mask = flow.forward_mask(2, 3, 2)
    tau = torch.full((2,), 0.5)
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(0))
    l1 = flow.flow_loss(model, z, mask, tau=tau, noise=noise)
    noise2 = noise.clone()
    noise2[:, :, :2] += 10.0  # noise on observed frames is discarded (they stay clean)
    l2 = flow.flow_loss(model, z, mask, tau=tau, noise=noise2)
    assert torch.allclose(l1, l2)


def test_cfg_scale_one_is_plain_conditional():
    model = _model()
    cond = torch.randn(1, 2, 3, 4, 4)
    mask = flow.forward_mask(1, 3, 1)
    a = flow.sample(model, cond, mask, steps=2, sampler="euler", generator=torch.Generator().manual_seed(1))
    b = flow.sample(model, cond, mask, steps=2, sampler="euler", generator=torch.Generator().manual_seed(1), cfg_scale=1.0)
    c = flow.sample(model, cond, mask, steps=2, sampler="euler", generator=torch.Generator().manual_seed(1), cfg_scale=2.0)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)

"""Rectified flow over latent trajectory segments: task masks, loss, samplers.

Path (linear, tau: 0 = noise, 1 = data):  x_tau = (1 - tau) eps + tau z,  target v* = z - eps.
Observed latent frames (mask = 1) are kept clean in x_tau, passed to the network as the
condition, and excluded from the loss; the samplers re-impose them at every step and return
them unchanged (bit-exact), so "observed frames come back as given" holds by construction.

One model serves every task along time; per sample a mask is drawn from
  forward        first k latent frames known (1 <= k < T_l)
  inverse        last k frames known
  interpolation  a random subset known (at least one unknown)
  unconditional  nothing known (also what classifier-free guidance uses as "uncond")

The network is any callable model(x_tau, cond, mask, tau, params) -> velocity, e.g. nn.dit.DiT.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch

from .errors import EchoUserError
from .samplers import DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS, SAMPLER_EVALS, SAMPLERS  # noqa: F401 (re-exported)


def sampler_evaluations(sampler: str, steps: int) -> int:
    """Network evaluations (on_step calls) of one `sample` call: steps x the sampler's order."""
    if sampler not in SAMPLER_EVALS:
        raise EchoUserError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    return max(1, int(steps) * SAMPLER_EVALS[sampler])


@dataclass
class TaskProbs:
    forward: float = 0.5
    inverse: float = 0.15
    interpolation: float = 0.25
    unconditional: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


def _broadcast_mask(mask: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(B, T_l) frame mask -> broadcastable to z (B, D, T_l, *S)."""
    return mask.to(z.dtype).reshape(z.shape[0], 1, z.shape[2], *([1] * (z.dim() - 3)))


def forward_mask(batch: int, t_latent: int, n_known: int, device=None) -> torch.Tensor:
    """The forecast mask: the first n_known latent frames observed."""
    m = torch.zeros(batch, t_latent, device=device)
    m[:, :n_known] = 1.0
    return m


def sample_task_masks(
    batch: int,
    t_latent: int,
    generator: torch.Generator | None = None,
    probs: TaskProbs | None = None,
    max_known: int | None = None,
    device=None,
) -> torch.Tensor:
    """(B, T_l) float masks, one task per sample; every mask leaves >= 1 frame unknown."""
    probs = probs or TaskProbs()
    if t_latent < 2:
        raise ValueError("task masks need at least 2 latent frames (one known, one to generate)")
    max_known = min(max_known or t_latent - 1, t_latent - 1)
    p = torch.tensor([probs.forward, probs.inverse, probs.interpolation, probs.unconditional])
    kinds = torch.multinomial(p / p.sum(), batch, replacement=True, generator=generator)
    ks = torch.randint(1, max_known + 1, (batch,), generator=generator)
    rand = torch.rand(batch, t_latent, generator=generator)
    masks = torch.zeros(batch, t_latent)
    for i in range(batch):
        kind, k = int(kinds[i]), int(ks[i])
        if kind == 0:
            masks[i, :k] = 1
        elif kind == 1:
            masks[i, t_latent - k :] = 1
        elif kind == 2:
            row = (rand[i] < 0.5).float()
            if row.sum() >= t_latent:  # keep one unknown
                row[int(torch.randint(0, t_latent, (1,), generator=generator))] = 0
            masks[i] = row
        # kind 3: unconditional, all zeros
    return masks.to(device) if device is not None else masks


def sample_tau(batch: int, generator: torch.Generator | None = None, kind: str = "logit_normal") -> torch.Tensor:
    """Flow times in (0, 1). Logit-normal puts more weight mid-path (SD3 practice)."""
    if kind == "uniform":
        return torch.rand(batch, generator=generator)
    if kind == "logit_normal":
        return torch.sigmoid(torch.randn(batch, generator=generator))
    raise EchoUserError(f"unknown tau sampling {kind!r}: use 'uniform' or 'logit_normal'")


def flow_loss(
    model: Callable,
    z: torch.Tensor,
    mask: torch.Tensor,
    params: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    tau_kind: str = "logit_normal",
    tau: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rectified-flow MSE on the unobserved latent positions (mean per unknown element)."""
    b = z.shape[0]
    dev = z.device
    if noise is None:
        noise = torch.randn(z.shape, generator=generator, dtype=z.dtype) if generator is not None else torch.randn_like(z)
    noise = noise.to(dev)
    if tau is None:
        tau = sample_tau(b, generator, tau_kind)
    tau = tau.to(dev, z.dtype)
    m = _broadcast_mask(mask.to(dev), z)
    tb = tau.reshape(b, *([1] * (z.dim() - 1)))
    x = (1 - tb) * noise + tb * z
    x = m * z + (1 - m) * x  # observed frames stay clean
    v = model(x, z, mask.to(dev), tau, params)
    err = (v.float() - (z - noise).float()) ** 2 * (1 - m)
    denom = (1 - m).expand_as(z).sum().clamp_min(1.0)
    return err.sum() / denom


def regression_loss(model: Callable, z: torch.Tensor, mask: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
    """Deterministic baseline: same network, x_tau = 0 and tau = 0, predict z on the unknown frames."""
    m = _broadcast_mask(mask, z)
    zero = torch.zeros_like(z)
    tau = torch.zeros(z.shape[0], device=z.device)
    pred = model(zero, z, mask, tau, params)
    err = (pred.float() - z.float()) ** 2 * (1 - m)
    return err.sum() / (1 - m).expand_as(z).sum().clamp_min(1.0)


@torch.no_grad()
def predict_deterministic(model: Callable, cond: torch.Tensor, mask: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
    m = _broadcast_mask(mask, cond)
    tau = torch.zeros(cond.shape[0], device=cond.device)
    pred = model(torch.zeros_like(cond), cond, mask, tau, params).to(cond.dtype)
    return torch.where(m.bool().expand_as(cond), cond, pred)


@torch.no_grad()
def sample(
    model: Callable,
    cond: torch.Tensor,
    mask: torch.Tensor,
    steps: int = DEFAULT_SAMPLER_STEPS,
    sampler: str = DEFAULT_SAMPLER,
    generator: torch.Generator | None = None,
    cfg_scale: float = 1.0,
    params: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Integrate dx/dtau = v from tau = 0 (noise) to 1 (data); observed frames returned unchanged.

    cond: (B, D, T_l, *S) clean latent (only observed frames matter), mask: (B, T_l).
    generator seeds the initial noise (drawn on the CPU, so results do not depend on the device).
    cfg_scale != 1 mixes the unconditional prediction: v = v_u + s (v_c - v_u).
    steps counts sampler steps; each costs SAMPLER_EVALS[sampler] network evaluations.
    on_step() is called after every network evaluation (progress / abort; it may raise).
    """
    if sampler not in SAMPLERS:
        raise EchoUserError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    if steps < 1:
        raise EchoUserError("steps must be >= 1")
    b = cond.shape[0]
    dev = cond.device
    m = _broadcast_mask(mask, cond)
    if noise is None:
        noise = torch.randn(cond.shape, generator=generator, dtype=torch.float32)
    x = noise.to(dev, cond.dtype)
    zero_mask = torch.zeros_like(mask)

    keep = m.bool().expand_as(cond)

    def clamp(xx: torch.Tensor) -> torch.Tensor:
        return torch.where(keep, cond, xx)  # where, not arithmetic: bit-exact observed frames

    def vel(xx: torch.Tensor, t: float) -> torch.Tensor:
        tau = torch.full((b,), float(t), device=dev)
        v = model(xx, cond, mask, tau, params).to(cond.dtype)
        if cfg_scale != 1.0:
            vu = model(xx, cond, zero_mask, tau, params).to(cond.dtype)
            v = vu + cfg_scale * (v - vu)
        if on_step is not None:
            on_step()
        return v

    x = clamp(x)
    h = 1.0 / steps
    for i in range(steps):
        t = i * h
        v1 = vel(x, t)
        if sampler == "euler":
            x = x + h * v1
        elif sampler == "heun":
            x2 = clamp(x + h * v1)
            v2 = vel(x2, t + h)
            x = x + 0.5 * h * (v1 + v2)
        else:  # midpoint
            xm = clamp(x + 0.5 * h * v1)
            x = x + h * vel(xm, t + 0.5 * h)
        x = clamp(x)
    return x

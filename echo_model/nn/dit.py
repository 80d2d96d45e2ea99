"""Latent Diffusion Transformer (DiT) over space-time patches of the autoencoder's latent.

Input per latent voxel: concat[noisy latent x_tau, clean latent where observed (else 0),
observation mask] -> 2 D + 1 channels, patchified with (pt, ps, ps[, ps]) and linearly embedded.
Position: fixed sin-cos embeddings over (time, space...) computed for whatever grid comes in,
so one model runs on any latent grid / segment length. Conditioning: flow time tau
(sinusoidal -> MLP) plus an optional PDE-parameter vector (MLP), summed and fed to every block
through AdaLN-Zero (modulations start at zero, so each block starts as the identity: stable
training from step 0). QK-norm (LayerNorm on per-head queries/keys) keeps attention logits
bounded in bf16.

The same network serves the deterministic baseline (stage_baseline): it is called with
x_tau = 0 and tau = 0 and regresses the clean latent directly.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EchoUserError


@dataclass
class DiTConfig:
    """Constructor arguments of the latent `DiT`; stored in every model file's header.

    Parameters
    ----------
    latent_dim: channels D of the autoencoder's latent (B, D, T_l, *S_l).
    spatial_dims: 2 or 3.
    patch_time, patch_space: patch size in latent frames and latent nodes per axis.
    width, depth, heads, mlp_ratio: the transformer's size.
    param_dim: length of the PDE-parameter vector it is conditioned on (0: none).

    Example
    -------
    >>> cfg = dit_config("tiny", latent_dim=8, param_dim=1)
    >>> (cfg.width, cfg.depth, cfg.patch_space, cfg.param_dim)
    (96, 3, 2, 1)
    """

    latent_dim: int = 8  # D: channels of the autoencoder latent z (B, D, T_l, *S_l)
    spatial_dims: int = 2  # 2 or 3
    patch_time: int = 1
    patch_space: int = 1
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    param_dim: int = 0  # length of the PDE-parameter vector (0 = no parameter conditioning)
    qk_norm: bool = True
    freq_embed_dim: int = 256  # sinusoidal size for tau before its MLP

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DiTConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


DIT_PRESETS: dict[str, DiTConfig] = {
    # CPU-trainable in minutes: used by tests, the sample case and benchmarks.
    "tiny": DiTConfig(width=96, depth=3, heads=4, mlp_ratio=2.0, patch_space=2),
    "small": DiTConfig(width=256, depth=6, heads=8, mlp_ratio=4.0),
    # The ECHO paper's size: width 512, depth 8, 8 heads, MLP x4, patch (1, 2, 2).
    "paper": DiTConfig(width=512, depth=8, heads=8, mlp_ratio=4.0, patch_space=2),
}


def dit_config(preset: str = "tiny", **overrides) -> DiTConfig:
    if preset not in DIT_PRESETS:
        raise EchoUserError(f"unknown DiT preset {preset!r}; choose one of {sorted(DIT_PRESETS)}")
    cfg = DiTConfig(**{**DIT_PRESETS[preset].to_dict(), **overrides})
    return cfg


# ----------------------------------------------------------------------------------------
# Embeddings
# ----------------------------------------------------------------------------------------
def _sincos_1d(pos: torch.Tensor, dim: int) -> torch.Tensor:
    """(L,) positions -> (L, dim) sin/cos features (dim even)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=pos.device) / max(half, 1))
    ang = pos.float()[:, None] * freq[None]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)


def sincos_pos_embed(grid: tuple[int, ...], width: int, device=None) -> torch.Tensor:
    """Separable sin-cos embedding over a (T, S1, S2[, S3]) token grid -> (prod(grid), width).

    The width is split over the axes in even chunks; the remainder is zero-padded.
    """
    n_axes = len(grid)
    per = (width // n_axes) // 2 * 2
    axes = [torch.arange(g, device=device) for g in grid]
    mesh = torch.meshgrid(*axes, indexing="ij")
    parts = [_sincos_1d(m.reshape(-1), per) for m in mesh]
    emb = torch.cat(parts, dim=1)
    if emb.shape[1] < width:
        emb = F.pad(emb, (0, width - emb.shape[1]))
    return emb


class TimestepEmbedder(nn.Module):
    """tau in [0, 1] -> sinusoidal(1000 tau) -> MLP."""

    def __init__(self, width: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, tau: torch.Tensor) -> torch.Tensor:
        return self.mlp(_sincos_1d(tau * 1000.0, self.freq_dim))


# ----------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------
def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, qk_norm: bool) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"DiT width {width} must be divisible by heads {heads}")
        self.heads = heads
        self.head_dim = width // heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.q_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, k = self.q_norm(q), self.k_norm(k)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, w))


class DiTBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float, qk_norm: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, heads, qk_norm)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)  # AdaLN-Zero: the block starts as the identity
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        s1, sc1, g1, s2, sc2, g2 = self.ada(c).chunk(6, dim=1)
        x = x + g1[:, None] * self.attn(_modulate(self.norm1(x), s1, sc1))
        x = x + g2[:, None] * self.mlp(_modulate(self.norm2(x), s2, sc2))
        return x


class FinalLayer(nn.Module):
    def __init__(self, width: int, out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, out)
        for m in (self.ada[1], self.linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=1)
        return self.linear(_modulate(self.norm(x), shift, scale))


# ----------------------------------------------------------------------------------------
# DiT
# ----------------------------------------------------------------------------------------
class DiT(nn.Module):
    """velocity = DiT(x_tau, cond, mask, tau, params); all latents are (B, D, T_l, *S_l).

    mask: (B, T_l) with 1 where the latent frame is observed; cond is multiplied by it here,
    so callers may pass the full clean latent.
    """

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        if cfg.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {cfg.spatial_dims}")
        self.cfg = cfg
        self.patch = (cfg.patch_time,) + (cfg.patch_space,) * cfg.spatial_dims
        vol = math.prod(self.patch)
        in_ch = 2 * cfg.latent_dim + 1
        self.embed = nn.Linear(in_ch * vol, cfg.width)
        self.t_embed = TimestepEmbedder(cfg.width, cfg.freq_embed_dim)
        self.p_embed = (
            nn.Sequential(nn.Linear(cfg.param_dim, cfg.width), nn.SiLU(), nn.Linear(cfg.width, cfg.width))
            if cfg.param_dim > 0
            else None
        )
        self.blocks = nn.ModuleList(
            DiTBlock(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.qk_norm) for _ in range(cfg.depth)
        )
        self.final = FinalLayer(cfg.width, cfg.latent_dim * vol)
        nn.init.xavier_uniform_(self.embed.weight)
        nn.init.zeros_(self.embed.bias)

    # --- patchify helpers ---------------------------------------------------------------
    def _check_grid(self, grid: tuple[int, ...]) -> None:
        for g, p in zip(grid, self.patch):
            if g % p:
                raise ValueError(f"latent grid {grid} is not divisible by the DiT patch {self.patch}")

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, *S) -> (B, n_tokens, C * prod(patch))."""
        b, c = x.shape[:2]
        grid = x.shape[2:]
        nd = len(grid)
        shape = [b, c]
        for g, p in zip(grid, self.patch):
            shape += [g // p, p]
        x = x.reshape(shape)
        # order: B, (g0, g1, ...), (p0, p1, ..., C)
        perm = [0] + [2 + 2 * i for i in range(nd)] + [3 + 2 * i for i in range(nd)] + [1]
        x = x.permute(perm)
        n_tok = math.prod(g // p for g, p in zip(grid, self.patch))
        return x.reshape(b, n_tok, -1)

    def unpatchify(self, tok: torch.Tensor, grid: tuple[int, ...], c: int) -> torch.Tensor:
        b = tok.shape[0]
        nd = len(grid)
        coarse = [g // p for g, p in zip(grid, self.patch)]
        x = tok.reshape([b] + coarse + list(self.patch) + [c])
        # B, g0..g_{nd-1}, p0..p_{nd-1}, C -> B, C, g0, p0, g1, p1, ...
        perm = [0, 1 + 2 * nd]
        for i in range(nd):
            perm += [1 + i, 1 + nd + i]
        return x.permute(perm).reshape([b, c] + list(grid))

    def forward(
        self,
        x: torch.Tensor,
        cond: torch.Tensor,
        mask: torch.Tensor,
        tau: torch.Tensor,
        params: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, d = x.shape[:2]
        grid = tuple(x.shape[2:])
        if d != self.cfg.latent_dim or len(grid) != 1 + self.cfg.spatial_dims:
            raise ValueError(
                f"DiT expects latents (B, {self.cfg.latent_dim}, T_l, {'S, ' * self.cfg.spatial_dims}) "
                f"got {tuple(x.shape)}"
            )
        self._check_grid(grid)
        m = mask.to(x.dtype).reshape(b, 1, grid[0], *([1] * (len(grid) - 1))).expand(b, 1, *grid)
        inp = torch.cat([x, cond.to(x.dtype) * m, m], dim=1)
        tok = self.embed(self.patchify(inp))
        coarse = tuple(g // p for g, p in zip(grid, self.patch))
        tok = tok + sincos_pos_embed(coarse, self.cfg.width, device=x.device).to(tok.dtype)[None]
        tau = torch.as_tensor(tau, dtype=torch.float32, device=x.device).reshape(-1).expand(b)
        c = self.t_embed(tau)
        if self.p_embed is not None:
            if params is None:
                params = torch.zeros(b, self.cfg.param_dim, device=x.device)
            c = c + self.p_embed(params.to(c.dtype).reshape(b, -1))
        c = c.to(tok.dtype)
        for blk in self.blocks:
            tok = blk(tok, c)
        out = self.final(tok, c)
        return self.unpatchify(out, grid, d)

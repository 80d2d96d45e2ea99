"""ECHO trajectory autoencoder: scattered points -> compact space-time latent -> any query points.

API (the generator, rollout and the benchmarks rely on it; keep it stable)
-------------------------------------------------------------------------
    cfg = AutoencoderConfig(dim=2, in_channels=C, grid=(32, 32), ...)    # or presets.autoencoder_config("tiny")
    ae  = EchoAutoencoder(cfg)

    z = ae.encode(points, values, point_mask=None, chunk_size=None)
        points (B, N, d) float in [0, 1]^d (Domain.to_unit), values (B, T, N, C) z-scored
        (ChannelStats.normalize), point_mask (B, N) bool (True = real point; None = all real).
        T must be 1 + f * k with f = ae.time_factor. -> z (B, D, T_l, *S_l), T_l = 1 + (T - 1) / f.
    u = ae.decode(z, query_points, chunk_size=None, query_mask=None)
        z (B, D, T_l, *S_l), query_points (B, M, d) in [0, 1]^d -> (B, T, M, C), T = 1 + f (T_l - 1).
        Masked-out query rows come back as 0.
    ae(points, values, point_mask, query_points) == decode(encode(...), query_points)

    ae.latent_shape(n_frames) -> (D, T_l, *S_l)        ae.time_factor -> f = 2 ** (#compress_time)
    ae.frames_for_latent(T_l) -> 1 + f (T_l - 1)       ae.space_factor -> 2 ** (#compress_space)
    ae.compression_ratio(n_points, n_frames) -> float  (N T C) / (D T_l prod S_l)
    ae.latent_dim, ae.spatial_dims, ae.config

    save_autoencoder(path, ae, meta={...}) / load_autoencoder(path or (tensors, meta), prefix="autoencoder")
        The model file carries its constructor arguments (meta["autoencoder"] = cfg.to_dict()), so
        loading needs no code-side config. In a combined file (autoencoder + generator) the weights
        sit under the prefix "autoencoder."; `autoencoder_from_tensors` builds from already-loaded
        tensors.

Causality: latent frame j depends only on input frames <= f*j; latent frame 0 encodes frame 0
alone, so a single initial frame encodes to a clean z[:, :, :1] (initial-value conditioning), and
decoded frame t depends only on latent frames <= ceil(t / f). Single frames (T = 1) are valid inputs.

Batches: point sets may differ per trajectory (padded + point_mask); the continuous convolutions run
trajectory by trajectory (each trajectory's neighbour lists are cached by coordinates), the CNN runs
batched. `chunk_size` bounds the number of (neighbour pair x frame) evaluated at once in the
continuous convolutions (None = all at once): use e.g. 2**20 for million-point frames.

Window length: the model file's header has "n_frames", the training window (tiny: 9 frames -> 5 latent
frames). Encode windows of that length: any 1 + f k works, but in longer windows the later latent frames
see real past frames where training always had the causal zero padding (temporal receptive field ~18
frames for tiny), which the model has never seen.

Latent scale: z is not regularised (plain autoencoder, as ENMA on The Well); the generator should
normalise latents with per-channel statistics computed on the cached latents.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EchoUserError
from .causal import CausalConv, CompressSpace, CompressTime, FrameNorm, ResBlock, UpsampleSpace, UpsampleTime
from .contconv import GridToPoints, PointsToGrid

BLOCKS = ("res", "cs", "ct")
MODEL_KEY = "autoencoder"


@dataclass
class AutoencoderConfig:
    """Constructor arguments of `EchoAutoencoder`; stored in every model file's header.

    Parameters
    ----------
    dim: spatial dimension of the points (2 or 3).
    in_channels: flat data channels C (a 2D velocity and a pressure: 3).
    grid: latent grid nodes per axis over the unit box, each divisible by 2^(number of "cs" blocks).
    layout: the encoder's blocks in order ("res" residual, "cs" compress space, "ct" compress time);
        the decoder mirrors them.
    channels: CNN width per spatial level (one more than the "cs" blocks).
    latent_dim: channels D of the latent.
    enc_radius, dec_radius: continuous-convolution radius in latent-grid spacings.
    quadrature: weight the encoder's point sums by cell-area estimates (mesh-independent).

    Example
    -------
    >>> cfg = AutoencoderConfig(dim=2, in_channels=3, grid=(64, 16), latent_dim=8)
    >>> cfg.grid, cfg.periodic
    ((64, 16), (False, False))
    """

    dim: int = 2  # spatial dimension of the points (2 or 3)
    in_channels: int = 1  # C: flat data channels
    grid: tuple[int, ...] = (32, 32)  # latent grid Xi (cell-centred nodes in [0, 1]^d), divisible by 2^#cs
    periodic: tuple[bool, ...] = ()  # per axis; () = none
    layout: tuple[str, ...] = ("res", "cs", "res", "ct", "res")  # encoder blocks; decoder mirrors
    channels: tuple[int, ...] = (32, 64)  # CNN width per spatial level (len = #cs + 1)
    latent_dim: int = 8  # D
    enc_radius: float = 1.5  # continuous-conv receptive radius, in latent-grid spacings
    dec_radius: float = 1.5
    n_freq: int = 16  # random Fourier features of the kernel MLPs
    freq_scale: float = 1.0
    kernel_hidden: int = 32
    kt: int = 3  # temporal kernel of the causal convs
    ks: int = 3  # spatial kernel
    padding_mode: str = "zeros"  # spatial padding of the CNN: "zeros" or "circular"
    conv_in_kt: int = 3  # temporal kernel of the encoder's first conv (1 = per frame: cheaper at full grid size)
    quadrature: bool = False  # encoder weights points by cell-area estimates (mesh-independent sums; presets: on)

    def __post_init__(self) -> None:
        if self.dim not in (2, 3):
            raise EchoUserError(f"dim must be 2 or 3, got {self.dim}")
        g = self.grid
        self.grid = tuple(int(x) for x in ((g,) * self.dim if isinstance(g, int) else g))
        self.periodic = tuple(bool(p) for p in (self.periodic or (False,) * self.dim))
        self.layout = tuple(str(b) for b in self.layout)
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.grid) != self.dim or len(self.periodic) != self.dim:
            raise EchoUserError(f"grid {self.grid} / periodic {self.periodic} must have {self.dim} entries")
        bad = [b for b in self.layout if b not in BLOCKS]
        if bad:
            raise EchoUserError(f"unknown blocks {bad} in layout; use {BLOCKS}")
        n_cs = self.layout.count("cs")
        if len(self.channels) != n_cs + 1:
            raise EchoUserError(f"channels needs {n_cs + 1} widths (one per spatial level), got {self.channels}")
        if any(s % (2**n_cs) for s in self.grid):
            raise EchoUserError(f"grid {self.grid} must be divisible by 2^{n_cs} (the compress_space blocks)")
        if self.padding_mode not in ("zeros", "circular"):
            raise EchoUserError(f"padding_mode must be 'zeros' or 'circular', got {self.padding_mode!r}")

    @property
    def time_factor(self) -> int:
        return 2 ** self.layout.count("ct")

    @property
    def space_factor(self) -> int:
        return 2 ** self.layout.count("cs")

    @property
    def latent_grid(self) -> tuple[int, ...]:
        return tuple(s // self.space_factor for s in self.grid)

    def latent_shape(self, n_frames: int) -> tuple[int, ...]:
        f = self.time_factor
        if n_frames < 1 or (n_frames - 1) % f:
            raise EchoUserError(
                f"{n_frames} frames do not fit the temporal compression x{f}: use 1 + {f} k frames "
                f"(e.g. {1 + f}, {1 + 2 * f}, {1 + 4 * f})"
            )
        return (self.latent_dim, 1 + (n_frames - 1) // f, *self.latent_grid)

    def compression_ratio(self, n_points: int, n_frames: int) -> float:
        return n_points * n_frames * self.in_channels / math.prod(self.latent_shape(n_frames))

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "AutoencoderConfig":
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class EchoEncoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        c, d, pm = cfg.channels, cfg.dim, cfg.padding_mode
        self.to_grid = PointsToGrid(d, cfg.in_channels, c[0], cfg.grid, cfg.enc_radius, cfg.periodic,
                                    n_freq=cfg.n_freq, freq_scale=cfg.freq_scale, kernel_hidden=cfg.kernel_hidden,
                                    quadrature=cfg.quadrature)
        self.conv_in = CausalConv(d, c[0], c[0], cfg.conv_in_kt, cfg.ks, pm)
        blocks, lvl = [], 0
        for b in cfg.layout:
            if b == "res":
                blocks.append(ResBlock(d, c[lvl], c[lvl], cfg.kt, cfg.ks, pm))
            elif b == "cs":
                blocks.append(CompressSpace(d, c[lvl], c[lvl + 1], pm))
                lvl += 1
            else:
                blocks.append(CompressTime(c[lvl], c[lvl], cfg.kt))
        self.blocks = nn.ModuleList(blocks)
        self.norm_out = FrameNorm(c[lvl])
        self.conv_out = CausalConv(d, c[lvl], cfg.latent_dim, cfg.kt, cfg.ks, pm)

    def cnn(self, h: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(h)
        for blk in self.blocks:
            h = blk(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class EchoDecoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        c, d, pm = cfg.channels, cfg.dim, cfg.padding_mode
        lvl = len(c) - 1
        self.conv_in = CausalConv(d, cfg.latent_dim, c[lvl], cfg.kt, cfg.ks, pm)
        blocks = []
        for b in reversed(cfg.layout):
            if b == "res":
                blocks.append(ResBlock(d, c[lvl], c[lvl], cfg.kt, cfg.ks, pm))
            elif b == "cs":
                blocks.append(UpsampleSpace(d, c[lvl], c[lvl - 1], pm))
                lvl -= 1
            else:
                blocks.append(UpsampleTime(c[lvl], c[lvl], cfg.kt))
        self.blocks = nn.ModuleList(blocks)
        self.norm_out = FrameNorm(c[0])
        self.to_points = GridToPoints(d, c[0], cfg.in_channels, cfg.grid, cfg.dec_radius, cfg.periodic,
                                      n_freq=cfg.n_freq, freq_scale=cfg.freq_scale, kernel_hidden=cfg.kernel_hidden)

    def cnn(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        for blk in self.blocks:
            h = blk(h)
        return F.silu(self.norm_out(h))


class EchoAutoencoder(nn.Module):
    """See the module docstring for the API."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder = EchoEncoder(cfg)
        self.decoder = EchoDecoder(cfg)

    # --- shape helpers -----------------------------------------------------------------------
    @property
    def time_factor(self) -> int:
        return self.config.time_factor

    @property
    def space_factor(self) -> int:
        return self.config.space_factor

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def spatial_dims(self) -> int:
        return self.config.dim

    def latent_shape(self, n_frames: int) -> tuple[int, ...]:
        return self.config.latent_shape(n_frames)

    def frames_for_latent(self, n_latent_frames: int) -> int:
        if n_latent_frames < 1:
            raise ValueError(f"need at least one latent frame, got {n_latent_frames}")
        return 1 + self.time_factor * (n_latent_frames - 1)

    def compression_ratio(self, n_points: int, n_frames: int) -> float:
        return self.config.compression_ratio(n_points, n_frames)

    # --- encode / decode ---------------------------------------------------------------------
    def encode(self, points: torch.Tensor, values: torch.Tensor, point_mask: torch.Tensor | None = None,
               chunk_size: int | None = None, cache: bool = True) -> torch.Tensor:
        cfg = self.config
        if points.ndim != 3 or points.shape[-1] != cfg.dim:
            raise ValueError(f"points must be (B, N, {cfg.dim}), got {tuple(points.shape)}")
        if values.ndim != 4 or values.shape[0] != points.shape[0] or values.shape[2] != points.shape[1]:
            raise ValueError(f"values must be (B, T, N, C) matching points {tuple(points.shape)}, got {tuple(values.shape)}")
        if values.shape[3] != cfg.in_channels:
            raise ValueError(f"the model takes {cfg.in_channels} channels, values have {values.shape[3]}")
        self.latent_shape(values.shape[1])  # validates T
        grids = []
        for b in range(points.shape[0]):
            p, v = points[b], values[b]
            if point_mask is not None:
                m = point_mask[b]
                p, v = p[m], v[:, m]
            grids.append(self.encoder.to_grid(p, v, chunk_size=chunk_size, cache=cache))  # (T, C0, *S)
        h = torch.stack(grids, 0).transpose(1, 2)  # (B, C0, T, *S)
        return self.encoder.cnn(h)

    def decode(self, z: torch.Tensor, query_points: torch.Tensor, chunk_size: int | None = None,
               query_mask: torch.Tensor | None = None, cache: bool = True) -> torch.Tensor:
        cfg = self.config
        if z.ndim != 3 + cfg.dim or z.shape[1] != cfg.latent_dim or tuple(z.shape[3:]) != cfg.latent_grid:
            raise ValueError(f"z must be (B, {cfg.latent_dim}, T_l, {cfg.latent_grid}), got {tuple(z.shape)}")
        if query_points.ndim != 3 or query_points.shape[0] != z.shape[0] or query_points.shape[-1] != cfg.dim:
            raise ValueError(f"query_points must be (B={z.shape[0]}, M, {cfg.dim}), got {tuple(query_points.shape)}")
        h = self.decoder.cnn(z)  # (B, C0, T, *S)
        outs = []
        for b in range(z.shape[0]):
            q = query_points[b]
            if query_mask is None:
                outs.append(self.decoder.to_points(h[b].transpose(0, 1), q, chunk_size=chunk_size, cache=cache))
            else:
                m = query_mask[b]
                o = self.decoder.to_points(h[b].transpose(0, 1), q[m], chunk_size=chunk_size, cache=cache)
                full = o.new_zeros((o.shape[0], q.shape[0], o.shape[2]))
                full[:, m] = o
                outs.append(full)
        return torch.stack(outs, 0)

    def forward(self, points: torch.Tensor, values: torch.Tensor, point_mask: torch.Tensor | None = None,
                query_points: torch.Tensor | None = None, chunk_size: int | None = None,
                query_mask: torch.Tensor | None = None) -> torch.Tensor:
        z = self.encode(points, values, point_mask, chunk_size)
        return self.decode(z, points if query_points is None else query_points, chunk_size, query_mask)


# --- model files ---------------------------------------------------------------------------------


def save_autoencoder(path: str | os.PathLike, model: EchoAutoencoder, meta: dict[str, Any] | None = None) -> None:
    """Inference-only model file: weights under 'autoencoder.' + constructor args in the header."""
    from ..bundle import prefixed, save_tensors

    model = getattr(model, "module", model)
    header = {"kind": "autoencoder", **(meta or {}), MODEL_KEY: model.config.to_dict()}
    save_tensors(path, prefixed(model.state_dict(), MODEL_KEY), header)


def autoencoder_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                             prefix: str = MODEL_KEY, path: Any = "model file") -> EchoAutoencoder:
    from ..bundle import build_from_file, unprefixed

    if MODEL_KEY not in meta:
        raise ValueError("this model file has no autoencoder config (header key 'autoencoder'): "
                         "train one with `echopv train ae`")
    return build_from_file(lambda: EchoAutoencoder(AutoencoderConfig.from_dict(meta[MODEL_KEY])),
                           unprefixed(tensors, prefix), path, "autoencoder", meta[MODEL_KEY])


def load_autoencoder(source: str | os.PathLike | tuple[dict, dict], device: str | torch.device = "cpu",
                     prefix: str = MODEL_KEY) -> tuple[EchoAutoencoder, dict[str, Any]]:
    """Build an autoencoder from a model/checkpoint file (or (tensors, meta)); returns (model, meta) in eval mode."""
    from ..bundle import load_tensors

    if isinstance(source, tuple):
        tensors, meta = source
    else:
        tensors, meta = load_tensors(source)
    path = "model file" if isinstance(source, tuple) else source
    model = autoencoder_from_tensors(tensors, meta, prefix, path).to(device)
    model.eval()
    return model, meta

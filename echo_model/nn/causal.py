"""Causal space-time convolution blocks for the ECHO autoencoder (MAGVIT-v2 / ENMA style).

Tensors are (B, C, T, *S) with len(S) = dim in {2, 3}.

Causality: every temporal convolution pads only the past (zeros), and normalisation is per frame
(GroupNorm with time folded into the batch; a norm over T would leak the future). Hence output
frame j depends on input frames <= j, and frame 0 on frame 0 alone.

2-D space: a true 3-D convolution (kt, k, k). 3-D space would need a 4-D convolution, which torch
lacks, so it is factorised "(3+1)-D": a spatial Conv3d with time folded into the batch, then a
causal temporal convolution (a sum of per-tap channel mixes, `_temporal_conv`) - the usual
(2+1)-D trick of video models, one dimension up.

Time compression (`CompressTime`): stride-2 causal conv, kernel 3, two zero frames of past padding.
T = 2 T' - 1 (odd T): output j sees inputs 2j-2..2j, so latent frame j summarises frames <= 2j and
latent 0 is frame 0 alone. `UpsampleTime` mirrors it: latent j -> frames (2j-1, 2j), the frame
"-1" is dropped, so decoded frame t depends on latent frames <= ceil(t/2).
Space compression: stride-2 conv (k=3, pad 1) per frame; upsampling: nearest x2 then conv.
Spatial padding mode 'zeros' or 'circular' (periodic domains).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _fold(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(B, C, T, *S) -> (B*T, C, *S)."""
    b, c, t = x.shape[:3]
    return x.transpose(1, 2).reshape(b * t, c, *x.shape[3:]), t


def _unfold(x: torch.Tensor, t: int) -> torch.Tensor:
    bt, c = x.shape[:2]
    return x.reshape(bt // t, t, c, *x.shape[2:]).transpose(1, 2)


def _conv_nd(dim: int):
    return {2: nn.Conv2d, 3: nn.Conv3d}[dim]


def _temporal_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1) -> torch.Tensor:
    """Causal conv along T of (B, C, T, *S) with weight (Cout, Cin, kt): past zero padding kt-1."""
    kt = weight.shape[2]
    t_in = x.shape[2]
    pad = [0, 0] * (x.ndim - 3) + [kt - 1, 0]
    xp = F.pad(x, pad)
    if x.ndim == 5:  # 2-D space: one Conv3d with a (kt, 1, 1) kernel
        return F.conv3d(xp, weight[:, :, :, None, None], bias, stride=(stride, 1, 1))
    t_out = (t_in - 1) // stride + 1
    out = None
    for k in range(kt):
        sl = xp[:, :, k : k + stride * (t_out - 1) + 1 : stride]
        term = torch.einsum("oc,bc...->bo...", weight[:, :, k], sl)
        out = term if out is None else out + term
    if bias is not None:
        out = out + bias.view(1, -1, *([1] * (out.ndim - 2)))
    return out


class CausalConv(nn.Module):
    """(kt, k^dim) convolution, causal in time, 'same' in space."""

    def __init__(self, dim: int, cin: int, cout: int, kt: int = 3, ks: int = 3, padding_mode: str = "zeros") -> None:
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"spatial dimension must be 2 or 3, got {dim}")
        self.dim, self.kt, self.ks, self.padding_mode = dim, kt, ks, padding_mode
        if dim == 2:  # spatial padding inside the conv (circular or zeros); time padded by hand
            p = ks // 2
            self.conv = nn.Conv3d(cin, cout, (kt, ks, ks), padding=(0, p, p), padding_mode=padding_mode)
        else:
            self.spatial = nn.Conv3d(cin, cout, ks, padding=ks // 2, padding_mode=padding_mode)
            self.temporal = nn.Parameter(torch.zeros(cout, cout, kt))
            with torch.no_grad():  # start as identity in time: the spatial conv does the work
                self.temporal[:, :, -1] = torch.eye(cout)
            self.tbias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dim == 2:
            if self.kt > 1:
                x = F.pad(x, (0, 0, 0, 0, self.kt - 1, 0))
            return _conv3d_as_2d(self.conv, x) if x.device.type == "cpu" else self.conv(x)
        y, t = _fold(x)
        y = _unfold(self.spatial(y), t)
        return _temporal_conv(y, self.temporal, self.tbias)


def _conv3d_as_2d(conv: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    """conv3d (kt, k, k) without time padding as ONE conv2d over the stacked time taps: the same
    sums, 3-4x faster on CPU, where conv3d takes a slow non-mkldnn path for these shapes (GPUs keep
    conv3d: cuDNN is fast and this would triple the activation memory)."""
    b, c, t, h, w = x.shape
    kt = conv.kernel_size[0]
    to = t - kt + 1
    xs = x if kt == 1 else torch.cat([x[:, :, k : k + to] for k in range(kt)], 1)  # channel = tap * C + c
    xs = xs.transpose(1, 2).reshape(b * to, kt * c, h, w)
    wt = conv.weight.permute(0, 2, 1, 3, 4).reshape(conv.out_channels, kt * c, *conv.kernel_size[1:])
    pad = conv.padding[1:]
    if conv.padding_mode != "zeros":
        xs = F.pad(xs, (pad[1], pad[1], pad[0], pad[0]), mode=conv.padding_mode)
        pad = (0, 0)
    y = F.conv2d(xs, wt, conv.bias, stride=conv.stride[1:], padding=pad)
    return y.reshape(b, to, conv.out_channels, *y.shape[-2:]).transpose(1, 2).contiguous()


class FrameNorm(nn.Module):
    """GroupNorm applied to each frame separately (keeps causality)."""

    def __init__(self, channels: int, groups: int = 8) -> None:
        super().__init__()
        g = min(groups, channels)
        while channels % g:
            g -= 1
        self.norm = nn.GroupNorm(g, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, t = _fold(x)
        return _unfold(self.norm(y), t)


class ResBlock(nn.Module):
    """norm -> SiLU -> causal conv -> norm -> SiLU -> causal conv, plus (1x1) shortcut."""

    def __init__(self, dim: int, cin: int, cout: int, kt: int = 3, ks: int = 3, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.n1 = FrameNorm(cin)
        self.c1 = CausalConv(dim, cin, cout, kt, ks, padding_mode)
        self.n2 = FrameNorm(cout)
        self.c2 = CausalConv(dim, cout, cout, kt, ks, padding_mode)
        self.skip = None if cin == cout else nn.Parameter(torch.randn(cout, cin) / cin**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = self.c2(F.silu(self.n2(h)))
        s = x if self.skip is None else torch.einsum("oc,bc...->bo...", self.skip, x)
        return s + h


class CompressSpace(nn.Module):
    """Halve every spatial axis: stride-2 conv (k=3, pad 1) on each frame."""

    def __init__(self, dim: int, cin: int, cout: int, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.conv = _conv_nd(dim)(cin, cout, 3, stride=2, padding=1, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(s % 2 for s in x.shape[3:]):
            raise ValueError(f"CompressSpace needs even spatial sizes, got {tuple(x.shape[3:])}")
        y, t = _fold(x)
        return _unfold(self.conv(y), t)


class UpsampleSpace(nn.Module):
    """Double every spatial axis: nearest x2, then a k=3 conv on each frame."""

    def __init__(self, dim: int, cin: int, cout: int, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.conv = _conv_nd(dim)(cin, cout, 3, padding=1, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, t = _fold(x)
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        return _unfold(self.conv(y), t)


class CompressTime(nn.Module):
    """T -> (T+1)/2, causal: stride-2 temporal conv (kernel 3, two past zero frames). T must be odd."""

    def __init__(self, cin: int, cout: int, kt: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kt) / (cin * kt) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] % 2 == 0:
            raise ValueError(f"CompressTime needs an odd number of frames (1 + 2k), got {x.shape[2]}")
        return _temporal_conv(x, self.weight, self.bias, stride=2)


class UpsampleTime(nn.Module):
    """T' -> 2 T' - 1, causal: a causal temporal conv gives two frames per latent frame."""

    def __init__(self, cin: int, cout: int, kt: int = 3) -> None:
        super().__init__()
        self.cout = cout
        self.weight = nn.Parameter(torch.randn(2 * cout, cin, kt) / (cin * kt) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(2 * cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _temporal_conv(x, self.weight, self.bias)  # (B, 2C, T', *S)
        b, _, t = y.shape[:3]
        s = y.shape[3:]
        y = y.reshape(b, 2, self.cout, t, *s).permute(0, 2, 3, 1, *range(4, 4 + len(s)))  # (B, C, T', 2, *S)
        y = y.reshape(b, self.cout, 2 * t, *s)
        return y[:, :, 1:]  # drop frame "-1"

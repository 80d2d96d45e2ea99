"""Autoencoder presets (dataclasses) and their compression ratios.

    tiny   CPU, minutes on 2 cores: 64^2 vorticity -> grid 32^2 -> latent (8, T_l, 8, 8), time x2.
           9 frames of 64^2 -> (8, 5, 8, 8): x14.4.
    small  between the two (CPU hours / a small GPU run): grid 64^2 -> latent (8, T_l, 16, 16), time x2.
    paper  GPU: grid 256^2 -> latent (16, T_l, 32, 32), time x4 (the ECHO paper, §3.3):
           17 frames of 1024^2 -> (16, 5, 32, 32): x218; of 512^2: x54; of 256^2: x14.

`compression_table()` lists them; `python -m echo_model.presets` prints it.
"""
from __future__ import annotations

import math
from dataclasses import replace

from .errors import EchoUserError
from .nn.autoencoder import AutoencoderConfig

AE_PRESETS: dict[str, AutoencoderConfig] = {
    "tiny": AutoencoderConfig(
        grid=(32, 32),
        layout=("cs", "res", "cs", "ct", "res"),  # no block at 32^2: the CPU cost lives there
        channels=(16, 32, 32),
        latent_dim=8,
        kernel_hidden=32,
        conv_in_kt=1,
    ),
    "small": AutoencoderConfig(
        grid=(64, 64),
        layout=("res", "cs", "res", "cs", "res", "ct", "res"),
        channels=(32, 64, 96),
        latent_dim=8,
    ),
    "paper": AutoencoderConfig(
        grid=(256, 256),
        layout=("res", "cs", "res", "cs", "res", "ct", "res", "cs", "res", "ct", "res"),
        channels=(64, 128, 256, 256),
        latent_dim=16,
        kernel_hidden=64,
    ),
}

# the window lengths the presets are meant for (1 + time_factor * k)
DEFAULT_FRAMES = {"tiny": 9, "small": 9, "paper": 17}


def autoencoder_config(preset: str = "tiny", *, dim: int = 2, in_channels: int = 1,
                       periodic: tuple[bool, ...] = (), **overrides) -> AutoencoderConfig:
    """A preset adapted to the data (dimension, channels, periodic axes) plus overrides."""
    if preset not in AE_PRESETS:
        raise EchoUserError(f"unknown autoencoder preset {preset!r}; choose one of {sorted(AE_PRESETS)}")
    base = AE_PRESETS[preset]
    grid = overrides.pop("grid", None) or (base.grid if dim == 2 else (base.grid[0] // 2,) * 3)  # 3-D: halve per axis
    periodic = tuple(periodic) or (False,) * dim
    # The continuous convolutions wrap periodic axes; the CNN keeps zero padding by default because
    # circular padding costs ~2x in the CPU backward pass (pass padding_mode="circular" to change).
    overrides.setdefault("quadrature", True)  # mesh-independent encoder sums (no effect on uniform point sets)
    return replace(base, dim=dim, in_channels=in_channels, grid=grid, periodic=periodic, **overrides)


def grid_for_domain(base_grid: tuple[int, ...], extent, multiple: int, min_latent: int = 4) -> tuple[int, ...]:
    """A latent grid with the base grid's node count, shaped like the domain.

    Latent cells stay roughly square on an elongated domain (a 2.2 x 0.41 channel gets 64 x 16
    instead of 32 x 32, whose cells would be 5x longer than wide); each axis is a multiple of
    `multiple` (2^#compress_space) with at least `min_latent` latent nodes.

    >>> grid_for_domain((32, 32), (2.2, 0.41), 4), grid_for_domain((32, 32), (1.0, 1.0), 4)
    ((64, 16), (32, 32))
    """
    import numpy as np

    ext = np.asarray(extent, dtype=np.float64)
    total = math.prod(base_grid)
    ideal = total ** (1 / len(ext)) * ext / np.prod(ext) ** (1 / len(ext))
    lo = multiple * min_latent
    grid = [max(lo, multiple * int(round(x / multiple))) for x in ideal]
    longest = int(np.argmax(ext))
    others = math.prod(g for a, g in enumerate(grid) if a != longest)
    grid[longest] = max(lo, multiple * int(round(total / others / multiple)))
    return tuple(grid)


def compression_table(cases=(("tiny", 64, 9), ("small", 128, 9), ("paper", 256, 17), ("paper", 512, 17),
                             ("paper", 1024, 17))) -> list[dict]:
    rows = []
    for name, res, frames in cases:
        cfg = autoencoder_config(name)
        rows.append({"preset": name, "input": f"{frames} x {res}^2 x 1", "latent": cfg.latent_shape(frames),
                     "ratio": cfg.compression_ratio(res * res, frames)})
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in compression_table():
        print(f"{r['preset']:<6} {r['input']:<18} latent {str(r['latent']):<22} x{r['ratio']:.1f}")

"""A training batch that cannot fit in memory is refused before the first sample is drawn.

`ae_batch_size` 1e12 in a config used to build samples one by one until the machine ran out of
memory (6.6 GB and growing, the step never ending, so a stop request waited forever). The check
is a lower bound: the batch's own arrays (input points and values, query points and targets, the
collated copy) and the decoder's activations at the query points; the networks' weights and the
continuous-convolution chunks (bounded by --chunk-size) come on top.
"""
from __future__ import annotations

from ..errors import EchoUserError
from ..memory import MemoryBudget, format_bytes

ACTIVATION_CHANNELS = 32  # decoder features kept per query point and frame for the backward pass (tiny preset)


def batch_bytes(batch_size: int, n_points: int, n_query: int, frames: int, channels: int, dim: int) -> int:
    """Bytes of one autoencoder training batch (a lower bound, see the module docstring)."""
    per_sample = (n_points * dim + frames * n_points * channels + n_query * dim + frames * n_query * channels) * 4
    activations = frames * n_query * ACTIVATION_CHANNELS * 4
    return int(batch_size) * (2 * per_sample + activations)  # the samples, their collated copy, activations


def check_batch_memory(option: str, batch_size: int, n_points: int, n_query: int, frames: int, channels: int,
                       dim: int, budget: MemoryBudget | None = None) -> int:
    """Refuse a batch whose estimate exceeds the memory available; return the estimate in bytes.

    Parameters
    ----------
    option : str
        The option that set the batch size, for the message ("--batch-size", "ae_batch_size").
    batch_size, n_points, n_query, frames, channels, dim : int
        Samples per step, points of the largest trajectory, loss points per sample, frames per window,
        field channels, space dimension.
    budget : MemoryBudget, optional
        Default: what is available now.

    Raises
    ------
    EchoUserError
        Naming the option, the estimate, the memory available and the largest batch that fits.

    Example
    -------
    >>> check_batch_memory("--batch-size", 10**12, 4096, 1024, 5, 1, 2, MemoryBudget(1 << 30))
    Traceback (most recent call last):
    ...
    echo_model.errors.EchoUserError: --batch-size 1000000000000: one training batch needs at least 877380371.09 GB (4096 points, 1024 loss points, 5 frames per sample), more than the 1.00 GB available; use --batch-size 1139 or less (2 to 16 are usual)
    """
    need = batch_bytes(batch_size, n_points, n_query, frames, channels, dim)
    limit = (budget or MemoryBudget()).limit()
    if need > limit:
        fits = max(0, limit // max(1, batch_bytes(1, n_points, n_query, frames, channels, dim)))
        raise EchoUserError(
            f"{option} {batch_size}: one training batch needs at least {format_bytes(need)} ({n_points} points, "
            f"{n_query} loss points, {frames} frames per sample), more than the {format_bytes(limit)} available; "
            + (f"use {option} {fits} or less (2 to 16 are usual)" if fits else
               "use fewer --n-query loss points or a coarser dataset"))
    return need


__all__ = ["batch_bytes", "check_batch_memory"]

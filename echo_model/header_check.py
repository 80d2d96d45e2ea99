"""The JSON header of a model file, checked key by key before anything is built from it.

A header is JSON a user may hand us edited or crafted: `domain` a list, `field_layout` an int,
`provenance` a string used to end in a traceback; `stats.std = [NaN]` was silently read as 1.0
(ChannelStats maps a tiny std to unit scale, and NaN compares false), and `steps = 1e9` hung the
sampler. Every key the loaders read is checked here, when present, for its JSON type and range;
a refusal names the file, the key, what it holds, what it must hold and the fix. Keys a kind does
not use may be absent (a DMD file has no sampler); unknown keys are left alone.
"""
from __future__ import annotations

import math
import os
from typing import Any

from .errors import EchoUserError
from .samplers import MAX_SAMPLER_STEPS, SAMPLERS

_DICT_KEYS = ("autoencoder", "dit", "domain", "stats", "provenance", "dataset", "training", "checkpoint", "config")
_STR_KEYS = ("kind", "generator_kind", "stage")
_INT_KEYS = {"dim": (1, 3), "latent_frames": (2, 1 << 16), "known_latent_frames": (1, 1 << 16),
             "time_factor": (1, 1 << 10), "n_frames": (1, 1 << 24), "train_horizon_frames": (0, 1 << 31),
             "steps": (1, MAX_SAMPLER_STEPS)}
_FIX = "the file is damaged or was edited: copy or export the model file again, or retrain it"
# the network configurations (nn/autoencoder.AutoencoderConfig, nn/dit.DiTConfig): (type, lowest, highest).
# Fields that shape no weight (a radius, a padding mode) pass the weights' shape check, so they are checked here.
_AE_FIELDS: dict[str, tuple[type, float, float]] = {
    "dim": (int, 2, 3), "in_channels": (int, 1, 1024), "latent_dim": (int, 1, 4096), "enc_radius": (float, 1, 64),
    "dec_radius": (float, 1, 64), "n_freq": (int, 1, 4096), "freq_scale": (float, 1e-6, 1e6),
    "kernel_hidden": (int, 1, 4096), "kt": (int, 1, 64), "ks": (int, 1, 64), "conv_in_kt": (int, 1, 64)}
_DIT_FIELDS: dict[str, tuple[type, float, float]] = {
    "latent_dim": (int, 1, 4096), "spatial_dims": (int, 2, 3), "patch_time": (int, 1, 64),
    "patch_space": (int, 1, 64), "width": (int, 1, 1 << 16), "depth": (int, 1, 1024), "heads": (int, 1, 1024),
    "mlp_ratio": (float, 1e-3, 1e3), "param_dim": (int, 0, 1 << 16), "freq_embed_dim": (int, 2, 1 << 16)}
_AE_LISTS = {"grid": (int, 1, 1 << 14), "channels": (int, 1, 1 << 14)}
MAX_GRID_NODES = 1 << 24  # latent nodes of the encoder grid: [65536, 65536] would allocate terabytes


class HeaderError(EchoUserError):
    """A model file's header holds a key of the wrong JSON type or out of range."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind_of(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _bad(path: os.PathLike | str, key: str, value: Any, expected: str) -> HeaderError:
    return HeaderError(f"{path}: header key {key!r} is {_kind_of(value)} ({_show(value)}), expected {expected}; {_FIX}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _numbers(path, key: str, value: Any, n: int | None = None, positive: bool = False) -> list[float]:
    """A list of finite numbers (all > 0 when `positive`), of length n when given."""
    what = f"a list of {n if n is not None else ''} finite numbers{' > 0' if positive else ''}".replace("  ", " ")
    if not isinstance(value, list) or (n is not None and len(value) != n):
        raise _bad(path, key, value, what)
    for i, v in enumerate(value):
        if not _is_number(v) or (positive and v <= 0):
            raise HeaderError(f"{path}: header key {key!r} holds {_show(v)} at entry {i}, expected {what}"
                              f"{' (a standard deviation of NaN, 0 or below cannot scale a field)' if positive else ''}; "
                              f"{_FIX}")
    return [float(v) for v in value]


def _field_layout(path, meta: dict) -> int | None:
    """Channels of the field layout, or None when absent."""
    layout = meta.get("field_layout")
    if layout is None:
        return None
    ok = isinstance(layout, list) and layout and all(
        isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) and _is_int(x[1]) and 1 <= x[1] <= 9
        for x in layout)
    if not ok:
        raise _bad(path, "field_layout", layout, 'a list of [name, components] pairs, e.g. [["U", 2], ["p", 1]]')
    return int(sum(c for _, c in layout))


def _domain(path, dom: dict) -> None:
    lo = _numbers(path, "domain.lo", dom.get("lo"))
    hi = _numbers(path, "domain.hi", dom.get("hi"), len(lo))
    if not 1 <= len(lo) <= 3 or any(b <= a for a, b in zip(lo, hi)):
        raise HeaderError(f"{path}: header key 'domain' spans lo {lo} to hi {hi}, expected 1 to 3 axes with "
                          f"hi > lo on each; {_FIX}")
    periodic = dom.get("periodic", [])
    if not isinstance(periodic, list) or not all(isinstance(p, bool) for p in periodic) or \
            len(periodic) not in (0, len(lo)):
        raise _bad(path, "domain.periodic", periodic, f"a list of {len(lo)} booleans")


def _params(path, meta: dict) -> None:
    names = meta.get("param_names")
    if names is None:
        return
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _bad(path, "param_names", names, 'a list of parameter names, e.g. ["nu"]')
    for key in ("param_mean", "param_std", "param_min", "param_max"):
        if meta.get(key) is not None:
            _numbers(path, key, meta[key], len(names), positive=key == "param_std")


def _scalars(path, meta: dict) -> None:
    for key in _STR_KEYS:
        if key in meta and not isinstance(meta[key], str):
            raise _bad(path, key, meta[key], "a string")
    for key, (lo, hi) in _INT_KEYS.items():
        v = meta.get(key)
        if v is not None and not (_is_int(v) and lo <= v <= hi):
            extra = " (sampler steps per segment; 10 to 50 are usual)" if key == "steps" else ""
            raise _bad(path, key, v, f"a whole number from {lo} to {hi}{extra}")
    if "dt" in meta and not (_is_number(meta["dt"]) and meta["dt"] > 0):
        raise _bad(path, "dt", meta["dt"], "a finite time step > 0")
    if "sampler" in meta and meta["sampler"] not in SAMPLERS:
        raise _bad(path, "sampler", meta["sampler"], f"one of {', '.join(SAMPLERS)}")


def _network(path, name: str, cfg: dict, numbers: dict, lists: dict) -> None:
    """The numeric fields of a network configuration: type and range."""
    for key, (tp, lo, hi) in numbers.items():
        v = cfg.get(key)
        if key in cfg and not ((_is_int(v) if tp is int else _is_number(v)) and lo <= v <= hi):
            raise _bad(path, f"{name}.{key}", v, f"{'a whole number' if tp is int else 'a number'} from {lo:g} to {hi:g}")
    for key, (tp, lo, hi) in lists.items():
        v = cfg.get(key)
        if key in cfg and not (isinstance(v, list) and v and all(_is_int(x) and lo <= x <= hi for x in v)):
            raise _bad(path, f"{name}.{key}", v, f"a list of whole numbers from {lo} to {hi}")
    for key in ("layout", "padding_mode"):
        v = cfg.get(key)
        if v is not None and not (isinstance(v, str) or isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise _bad(path, f"{name}.{key}", v, "a string or a list of strings")
    for key in ("quadrature", "qk_norm"):
        if key in cfg and not isinstance(cfg[key], bool):
            raise _bad(path, f"{name}.{key}", cfg[key], "true or false")
    if "periodic" in cfg and not (isinstance(cfg["periodic"], list) and all(isinstance(p, bool) for p in cfg["periodic"])):
        raise _bad(path, f"{name}.periodic", cfg["periodic"], "a list of booleans")
    if isinstance(cfg.get("grid"), list) and math.prod(cfg["grid"]) > MAX_GRID_NODES:
        raise _bad(path, f"{name}.grid", cfg["grid"], f"at most {MAX_GRID_NODES:,} nodes in all")


def latent_window_bytes(nodes: int, channels: int, frames: int = 1, samples: int = 1) -> int:
    """Bytes of the latent windows a model of `nodes` grid nodes and `channels` latent channels holds at once
    (float32; a lower bound: the networks' activations and weights come on top)."""
    return 4 * int(nodes) * int(channels) * max(1, int(frames)) * max(1, int(samples))


def check_latent_memory(nodes: int, channels: int, frames: int, samples: int, what: str, fix: str,
                        error: type[EchoUserError] = EchoUserError) -> None:
    """Refuse declared latent sizes whose windows alone exceed the memory available, before allocating.

    Raises
    ------
    EchoUserError
        `what` (the file and keys, or the options), the bytes the sizes declare, the memory available, `fix`.
    """
    from .memory import available_bytes, format_bytes

    need, avail = latent_window_bytes(nodes, channels, frames, samples), available_bytes()
    if need > avail:
        raise error(f"{what} declare latent windows of {int(nodes):,} grid nodes x {int(channels)} channels"
                            f" x {max(1, int(frames))} frame(s) x {max(1, int(samples))} = {format_bytes(need)} "
                            f"before any activation, more than the {format_bytes(avail)} of memory available; {fix}")


def _latent_memory(path, meta: dict) -> None:
    """A header's grid and latent channels against the memory available (within range, they may still ask
    for more than the machine has: [4096, 4096] nodes x 4096 channels is 275 GB per latent frame)."""
    ae = meta.get("autoencoder") or {}
    grid, channels = ae.get("grid"), ae.get("latent_dim")
    if isinstance(grid, list) and grid and _is_int(channels):
        frames = meta.get("latent_frames") if _is_int(meta.get("latent_frames")) else 1
        check_latent_memory(math.prod(grid), channels, frames, 1,
                            f"{path}: header keys 'autoencoder.grid' {_show(grid)} and 'autoencoder.latent_dim' "
                            f"{channels}", _FIX, HeaderError)


def _same_dimension(path, meta: dict) -> None:
    """dim, the domain's axes and the autoencoder's dim describe one space."""
    dims = {"dim": meta.get("dim"), "domain.lo": len((meta.get("domain") or {}).get("lo") or []) or None,
            "autoencoder.dim": (meta.get("autoencoder") or {}).get("dim")}
    given = {k: int(v) for k, v in dims.items() if v is not None}
    if len(set(given.values())) > 1:
        listed = ", ".join(f"{k} {v}" for k, v in given.items())
        raise HeaderError(f"{path}: header keys disagree on the space dimension ({listed}); {_FIX}")


def check_header(meta: dict, path: str | os.PathLike) -> dict:
    """Refuse a header whose keys have the wrong JSON type or range (see the module docstring).

    Parameters
    ----------
    meta : dict
        The parsed header (`bundle.read_meta` calls this on every file it reads).
    path : str or os.PathLike
        The model file, for the message.

    Returns
    -------
    dict
        `meta` itself, checked.

    Raises
    ------
    HeaderError
        An EchoUserError naming the file, the key, its value, what it must be and the fix.

    Example
    -------
    >>> check_header({"stats": {"mean": [0.0], "std": [1.0]}, "steps": 10}, "m.safetensors")["steps"]
    10
    >>> check_header({"stats": {"mean": [0.0], "std": [float("nan")]}}, "m.safetensors")
    Traceback (most recent call last):
    ...
    echo_model.header_check.HeaderError: m.safetensors: header key 'stats.std' holds nan at entry 0, expected a list of finite numbers > 0 (a standard deviation of NaN, 0 or below cannot scale a field); the file is damaged or was edited: copy or export the model file again, or retrain it
    """
    for key in _DICT_KEYS:
        if key in meta and not isinstance(meta[key], dict):
            raise _bad(path, key, meta[key], "a JSON object {...}")
    _scalars(path, meta)
    if "autoencoder" in meta:
        _network(path, "autoencoder", meta["autoencoder"], _AE_FIELDS, _AE_LISTS)
    if "dit" in meta:
        _network(path, "dit", meta["dit"], _DIT_FIELDS, {})
    channels = _field_layout(path, meta)
    if "stats" in meta:
        _numbers(path, "stats.mean", meta["stats"].get("mean"), channels)
        _numbers(path, "stats.std", meta["stats"].get("std"), channels, positive=True)
    if "domain" in meta:
        _domain(path, meta["domain"])
    _same_dimension(path, meta)
    _latent_memory(path, meta)
    latent_dim = (meta.get("autoencoder") or {}).get("latent_dim")  # one statistic per latent channel
    for key in ("latent_mean", "latent_std"):
        if key in meta:
            _numbers(path, key, meta[key], int(latent_dim) if _is_int(latent_dim) else None,
                     positive=key == "latent_std")
    _params(path, meta)
    return meta


__all__ = ["HeaderError", "MAX_GRID_NODES", "MAX_SAMPLER_STEPS", "SAMPLERS", "check_header", "check_latent_memory",
           "latent_window_bytes"]

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

MAX_SAMPLER_STEPS = 1000  # flow.py: 10 to 50 are usual; a header or --steps of 1e9 would never finish
SAMPLERS = ("euler", "heun", "midpoint")  # flow.SAMPLER_EVALS (not imported: that pulls in torch)
_DICT_KEYS = ("autoencoder", "dit", "domain", "stats", "provenance", "dataset", "training", "checkpoint", "config")
_STR_KEYS = ("kind", "generator_kind", "stage")
_INT_KEYS = {"dim": (1, 3), "latent_frames": (2, 1 << 16), "known_latent_frames": (1, 1 << 16),
             "time_factor": (1, 1 << 10), "n_frames": (1, 1 << 24), "train_horizon_frames": (0, 1 << 31),
             "steps": (1, MAX_SAMPLER_STEPS)}
_FIX = "the file is damaged or was edited: copy or export the model file again, or retrain it"


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
    channels = _field_layout(path, meta)
    if "stats" in meta:
        _numbers(path, "stats.mean", meta["stats"].get("mean"), channels)
        _numbers(path, "stats.std", meta["stats"].get("std"), channels, positive=True)
    if "domain" in meta:
        _domain(path, meta["domain"])
    for key in ("latent_mean", "latent_std"):
        if key in meta:
            _numbers(path, key, meta[key], None, positive=key == "latent_std")
    _params(path, meta)
    return meta


__all__ = ["HeaderError", "MAX_SAMPLER_STEPS", "SAMPLERS", "check_header"]

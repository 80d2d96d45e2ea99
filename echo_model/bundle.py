"""The one checkpoint format: a single `.safetensors` file whose header carries a JSON config.

Weights are plain tensors (safetensors never executes code, so a file a user hands us is
data, not a program); everything needed to rebuild the model (constructor configs,
normalisation, domain, field layout, provenance) is JSON in the header under the key "echo".
One file is also what a ParaView file chooser selects best. Inspect with `echopv info FILE`.

Training checkpoints (optimizer state, step counters) use the same container: the optimizer
state dict is flattened into tensors plus JSON, see `flatten_state` / `unflatten_state`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

FORMAT = "echo-model"
FORMAT_VERSION = 1
_META_KEY = "echo"


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write tensors + JSON meta atomically (tmp file then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    clean = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    try:
        save_file(clean, str(tmp), metadata={_META_KEY: json.dumps(header, default=_json_default)})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header only (cheap: no tensor is read)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(_META_KEY)
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path} is not a safetensors file ({exc}); ECHO models are `.safetensors` files") from exc
    if raw is None:
        raise ValueError(f"{path} is a safetensors file without an ECHO header: not an echo-paraview model")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {meta.get('format')!r}")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer echo-paraview (format {meta['format_version']})")
    return meta


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load_file

    meta = read_meta(path)
    return load_file(str(path), device=str(device)), meta


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def unprefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def flatten_state(state: Any, prefix: str) -> tuple[dict[str, torch.Tensor], Any]:
    """Split a nested state (e.g. optimizer.state_dict()) into tensors and a JSON skeleton."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(obj: Any, key: str) -> Any:
        if isinstance(obj, torch.Tensor):
            tensors[key] = obj
            return {"__tensor__": key}
        if isinstance(obj, dict):
            return {"__dict__": [[walk(k, f"{key}.k{i}") if isinstance(k, torch.Tensor) else k,
                                  walk(v, f"{key}.{i}")] for i, (k, v) in enumerate(obj.items())]}
        if isinstance(obj, (list, tuple)):
            return {"__list__": [walk(v, f"{key}.{i}") for i, v in enumerate(obj)]}
        return obj

    return tensors, walk(state, prefix)


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        if "__list__" in skeleton:
            return [unflatten_state(v, tensors) for v in skeleton["__list__"]]
    return skeleton


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a model header")

"""The one checkpoint format: a single `.safetensors` file whose header carries a JSON config.

Weights are plain tensors (safetensors never executes code, so a file a user hands us is
data, not a program); everything needed to rebuild the model (constructor configs,
normalisation, domain, field layout, provenance) is JSON in the header under the key "echo".
One file is also what a ParaView file chooser selects best. Inspect with `echopv info FILE`.

Training checkpoints (optimizer state, step counters) use the same container: the optimizer
state dict is flattened into tensors plus JSON, see `flatten_state` / `unflatten_state`.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from .atomic import atomic_path
from .errors import EchoUserError
from .header_check import check_header

FORMAT = "echo-model"
FORMAT_VERSION = 1
_META_KEY = "echo"


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write tensors + JSON meta atomically (tmp file then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file or a link loop where the folder should be, or no permission
        raise EchoUserError(f"cannot create the folder {path.parent} for {path.name} ({exc.strerror}): choose "
                            "another output folder, or remove what is in its place") from None
    clean = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    try:
        with atomic_path(path) as tmp:
            save_file(clean, str(tmp), metadata={_META_KEY: json.dumps(header, default=_json_default)})
            os.chmod(tmp, 0o666 & ~current_umask())  # safetensors creates 0600: the usual umask-respecting mode
    except OSError as exc:
        raise disk_error(exc, path) from exc
    except Exception as exc:  # safetensors reports a failed write as its own error type
        if "No space left" in str(exc) or "too large" in str(exc):
            raise disk_error(OSError(errno.ENOSPC, str(exc)), path) from exc
        raise
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex): what a latent cache records of the autoencoder it was made with."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def current_umask() -> int:
    """This process's umask, read without changing it (Linux's /proc; else the set-and-restore idiom)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def disk_error(exc: OSError, path: str | os.PathLike) -> Exception:
    """A write that failed for lack of space or permission, as a message naming the file and the fix."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return EchoUserError(f"the disk holding {path} is full (or a quota / file-size limit was hit): free some "
                             "space or write to another folder, then run again; nothing half-written was left behind")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return EchoUserError(f"cannot write {path} ({exc.strerror}): choose a folder you can write to")
    return exc


def _damaged(path: Path, what: str) -> EchoUserError:
    return EchoUserError(f"{path} is damaged: {what}. Copy or export the model file again "
                         "(or use an earlier checkpoint of its run)")


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
        raise EchoUserError(f"{path} is not a safetensors file, or a truncated/damaged one ({exc}): copy it again, or "
                            "pick an ECHO model (a `.safetensors` file written by `echopv train`)") from exc
    if raw is None:
        raise EchoUserError(f"{path} is a safetensors file without an ECHO header: not an echo-paraview model")
    try:
        meta = json.loads(raw)
    except RecursionError:
        raise _damaged(path, "its header nests JSON deeper than Python can read") from None
    except ValueError as exc:
        raise _damaged(path, f"its header is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise _damaged(path, f"its header is a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT:
        raise EchoUserError(f"{path}: unknown format {meta.get('format')!r}")
    try:
        version = int(meta.get("format_version", 0))
    except (TypeError, ValueError):
        raise _damaged(path, f"format_version {meta.get('format_version')!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise EchoUserError(f"{path} was written by a newer echo-paraview (format {version}): update echo-paraview")
    return check_header(meta, path)  # every key a loader reads: JSON type and range


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu",
                 check_finite: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors + header; refuses a file whose float tensors hold NaN or Inf (a NaN never leaves as a result)."""
    from safetensors.torch import load_file

    meta = read_meta(path)
    try:
        tensors = load_file(str(path), device=str(device))
    except Exception as exc:  # truncated data after a valid header, or an unknown dtype
        raise _damaged(Path(path), f"its tensors cannot be read ({exc})") from exc
    if check_finite:
        require_finite_tensors(tensors, path)
    return tensors, meta


def require_finite_tensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise EchoUserError(
                f"{path}: weight {name!r} holds {bad} NaN/Inf value(s) of {t.numel()}: the model diverged or the "
                "file is damaged; use an earlier checkpoint or retrain (lower --lr)")


_LAYER_KEYS = ("depth", "n_layers", "num_layers")


def build_from_file(factory: Callable[[], torch.nn.Module], state: dict[str, torch.Tensor],
                    path: str | os.PathLike, what: str, config: dict | None = None) -> torch.nn.Module:
    """Build the module a file's header describes and load its weights, checking before allocating.

    The module is first built on the meta device (no memory), so a header declaring a huge network or
    weights of the wrong shape are refused with a message instead of an out-of-memory kill or a traceback.
    """
    # every layer owns tensors: more declared layers than tensors is a damaged or hostile header
    for key in _LAYER_KEYS:
        n = (config or {}).get(key)
        if isinstance(n, (int, float)) and n > max(len(state), 1):
            raise _damaged(Path(path), f"its {what} header declares {key}={n} but the file holds {len(state)} tensors")
    try:
        try:
            with torch.device("meta"):
                skeleton = factory()
        except ImportError:
            # meta-device init goes through torch._refs -> torch._dynamo -> sympy; inside ParaView the
            # distribution's older sympy comes first on the path and that import fails: check on CPU
            skeleton = factory()
    except (KeyError, TypeError, ValueError, EchoUserError) as exc:
        raise _damaged(Path(path), f"its {what} configuration is invalid ({type(exc).__name__}: {exc})") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = [f"{k} {got[k]} (expected {expected[k]})" for k in sorted(set(got) & set(expected)) if got[k] != expected[k]]
    if missing or unexpected or wrong:
        detail = "; ".join(x for x in (
            f"missing {missing[:3]}" if missing else "", f"unexpected {unexpected[:3]}" if unexpected else "",
            f"wrong shape {wrong[:3]}" if wrong else "") if x)
        raise _damaged(Path(path), f"its {what} weights do not match the network its header declares ({detail})")
    del skeleton
    module = factory()
    module.load_state_dict(state)
    return module


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

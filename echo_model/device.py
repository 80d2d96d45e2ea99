"""The one place that turns a device name ("auto", "cpu", "cuda", "cuda:1") into a torch.device.

"auto" takes the GPU when torch sees one (under torchrun the process's LOCAL_RANK GPU), else the
CPU. Asking for cuda where torch sees no GPU is a user error that says how to fix it, raised here
once for the CLI, the trainer, the data generators and the ParaView filters alike.
"""
from __future__ import annotations

import os

import torch

from .errors import EchoUserError


def resolve_device(name: str | torch.device | None = "auto", setting: str = "--device") -> torch.device:
    """torch.device for `name`; `setting` names the option or property in the error message.

    Example
    -------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name is None or str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise EchoUserError(f"{setting} {str(name)!r} is not a device: use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EchoUserError(
            f"{setting} is {str(name)!r} but this torch ({torch.__version__}) sees no CUDA GPU; set {setting} "
            f"to auto or cpu, or install a CUDA build of torch (ECHOPV_TORCH_INDEX_URL, see scripts/setup.sh)"
        )
    return dev


__all__ = ["resolve_device"]

"""The one thread policy: idle OpenMP threads sleep, and torch's CPU thread count is set here.

Why PASSIVE: on a shared, oversubscribed machine OpenMP's default spin-waiting makes every
parallel torch op wait for a descheduled sibling thread (measured on a 2-core machine at load 9:
one 64^2 x 8 spectral right-hand side took 77 ms with 2 spinning threads, 0.65 ms with PASSIVE),
and inside ParaView spinning threads take the cores from the GUI. OpenMP reads the variable once,
when torch loads it, so `echo_model/__init__.py` applies the policy before anything imports torch;
child processes (ParaView, training runs) get it through `apply_omp_policy(env)`.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, MutableMapping

OMP_POLICY: dict[str, str] = {"OMP_WAIT_POLICY": "PASSIVE"}


def apply_omp_policy(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add the policy to `env` (default: this process's environment) unless the user set it."""
    target = os.environ if env is None else env
    for key, value in OMP_POLICY.items():
        target.setdefault(key, value)
    return target


def set_threads(n: int | None) -> None:
    """torch CPU threads: n >= 1 sets them, None or 0 keeps torch's default; a negative n is refused."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        from .errors import EchoUserError

        raise EchoUserError(f"--threads {n!r}: give a whole number of torch CPU threads, 1 or more "
                            "(0 or leaving it out keeps torch's default)")
    if n:
        import torch

        torch.set_num_threads(int(n))


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with n torch CPU threads (None or 0: unchanged), restoring the old count."""
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


__all__ = ["OMP_POLICY", "apply_omp_policy", "set_threads", "torch_threads"]

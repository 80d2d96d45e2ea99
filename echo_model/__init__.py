"""ECHO in pure PyTorch + numpy: data model, networks, training, rollout. Never imports VTK."""
from .threads import apply_omp_policy as _apply_omp_policy

_apply_omp_policy()  # before any submodule imports torch (see threads.py for why)

__version__ = "0.1.0"

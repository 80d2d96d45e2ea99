"""ECHO in pure PyTorch + numpy: data model, networks, training, rollout. Never imports VTK."""
__version__ = "0.1.0"

"""The flow-matching samplers' names, costs and defaults, in one torch-free place.

`flow.sample` runs them; the training stage stores the default in a model's header, the header
check and the command lines offer the names. Importing this module costs nothing (no torch), so
ParaView's panel and `--help` can read it.

Example
-------
>>> from echo_model.samplers import DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS, SAMPLER_EVALS
>>> DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS, SAMPLER_EVALS[DEFAULT_SAMPLER] * DEFAULT_SAMPLER_STEPS
('heun', 10, 20)
"""
from __future__ import annotations

# Network evaluations per sampler step (what diffusers schedulers call their `order`): the cost
# of a sample is steps * SAMPLER_EVALS[sampler] evaluations (twice that with classifier-free guidance).
SAMPLER_EVALS: dict[str, int] = {"euler": 1, "heun": 2, "midpoint": 2}
SAMPLERS: tuple[str, ...] = tuple(SAMPLER_EVALS)
DEFAULT_SAMPLER = "heun"  # what a model stores unless `train dit --sampler` says otherwise
DEFAULT_SAMPLER_STEPS = 10  # its steps per generated segment (`train dit --sample-steps`)
MAX_SAMPLER_STEPS = 1000  # 10 to 50 are usual; a header or --steps of 1e9 would never finish

__all__ = ["DEFAULT_SAMPLER", "DEFAULT_SAMPLER_STEPS", "MAX_SAMPLER_STEPS", "SAMPLERS", "SAMPLER_EVALS"]

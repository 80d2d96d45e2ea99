"""Deterministic baseline: the same autoencoder and the same transformer, trained by regression.

The DiT network is called with x_tau = 0 and tau = 0 and regresses the clean normalised latent of
the unknown frames of a window from its first --known-latent-frames frames (MSE). Rollout is
autoregressive in segments exactly like ECHO's chaining (decode, re-encode the last frames,
predict the next segment), so the only difference to `echopv train dit` is generative flow
matching vs. deterministic regression. The model file it writes is a regular Surrogate
(generator_kind "baseline").

Example:
  echopv train baseline --cache runs/latents.h5 --run runs/baseline --steps 2000
"""
from __future__ import annotations

import argparse

from .stage_dit import add_common_arguments, train_generator


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, steps=2000, lr=3e-4)


def run(args: argparse.Namespace) -> int:
    return train_generator(args, "baseline")

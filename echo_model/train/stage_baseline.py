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

from .runs import GeneratorRun, add_arguments_from, from_namespace
from .stage_dit import train_generator


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, GeneratorRun)


def run(args: argparse.Namespace) -> int:
    train_generator(from_namespace(GeneratorRun, args, kind="baseline"))
    return 0

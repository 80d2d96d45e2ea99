"""A resumed run must be the run that was asked for: the preset recorded in its files against --preset.

A stage resumes from its checkpoint with the checkpoint's own network (`build_autoencoder`,
`build_generator`), and `train all` skips finished stages: `--preset small` on a run directory
trained with `tiny` used to resume (or return) the tiny model with exit 0. The preset each stage
trained with is recorded in its files (the autoencoder's header "preset", the generator's
"provenance.preset", the model's "provenance.generator.preset"); a different --preset is refused.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import EchoUserError
from .layout import AE_DIR, AUTOENCODER, CHECKPOINT, DIT_DIR, MODEL, REFINE_DIR


def recorded_preset(path: str | os.PathLike) -> str | None:
    """The preset a stage file was trained with, or None (not recorded: a file of an older echo-paraview)."""
    from ..bundle import read_meta

    meta = read_meta(path)
    prov = meta.get("provenance") or {}
    for value in (meta.get("preset"), prov.get("preset"), (prov.get("generator") or {}).get("preset")):
        if isinstance(value, str):
            return value
    return None


def check_preset(path: str | os.PathLike, preset: str, run_dir: str | os.PathLike) -> None:
    """Refuse resuming `path` (a checkpoint or finished stage file of `run_dir`) with another preset.

    Raises
    ------
    EchoUserError
        Naming the run directory, the file, both presets and the two ways out.
    """
    if not Path(path).is_file():
        return
    old = recorded_preset(path)
    if old is not None and old != preset:
        raise EchoUserError(
            f"--preset {preset}: the run directory {run_dir} was trained with --preset {old} ({path}), and resuming "
            f"it would continue the {old} model. Pass --preset {old} to continue it, or choose a new --run "
            f"directory (or delete {run_dir}) to train a {preset} model")


def check_pipeline_preset(run_dir: str | os.PathLike, preset: str) -> None:
    """`check_preset` on every stage file of a `train all` run directory that decides what it resumes."""
    run = Path(run_dir)
    for path in (run / AE_DIR / CHECKPOINT, run / AE_DIR / AUTOENCODER, run / REFINE_DIR / CHECKPOINT,
                 run / DIT_DIR / CHECKPOINT, run / MODEL):
        check_preset(path, preset, run_dir)


__all__ = ["check_pipeline_preset", "check_preset", "recorded_preset"]

"""The run directory's vocabulary: file names every stage, the pipeline and EchoTrain agree on.

    RUN/                         (`echopv train all`, EchoTrain)
        pipeline.json            the pipeline's status: stage, state running|done|failed, error, model
        train_config.json        the PipelineRun the out-of-process trainer was started with
        train.log / train.pid    EchoTrain's detached process
        train.lock               held by the one process training in RUN (`lock.RunLock`)
        dataset.h5               EchoTrain's export of its input (when no Dataset is set)
        model.safetensors        the COMPLETE model (autoencoder + generator): Surrogate.load, EchoRollout
        latents.h5               the latent cache
        budget.json              --budget-minutes: the measured step costs and the step counts they gave
        ae/ refine/              stage 1 / 2 run directories, each ending with autoencoder.safetensors
        dit/                     stage 3 run directory, ending with generator.safetensors

    any stage's run directory
        checkpoint.safetensors   weights + optimizer state, resumable
        progress.json            {stage, step, total, loss, eta_s, status} for watchers
        <stage output>           autoencoder.safetensors | generator.safetensors (inference weights)

Three kinds of weight file, three names: an autoencoder alone, a generator alone (no autoencoder:
it cannot roll out by itself) and the complete model.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..atomic import write_text_atomic

CHECKPOINT = "checkpoint.safetensors"
PROGRESS = "progress.json"
AUTOENCODER = "autoencoder.safetensors"
GENERATOR = "generator.safetensors"
MODEL = "model.safetensors"
PIPELINE_STATUS = "pipeline.json"
PIPELINE_CONFIG = "train_config.json"
LATENTS = "latents.h5"
BUDGET = "budget.json"
LOG = "train.log"
PID = "train.pid"
LOCK = "train.lock"
EXPORTED_DATASET = "dataset.h5"
# the stages' run directories inside RUN
AE_DIR = "ae"
REFINE_DIR = "refine"
DIT_DIR = "dit"
# `echopv train hybrid`'s RUN: dmd/model.safetensors, residual.h5, echo/ (a train-all run), model.safetensors
DMD_DIR = "dmd"
RESIDUALS = "residual.h5"
ECHO_DIR = "echo"


def _read_json(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def read_status(run_dir: str | os.PathLike) -> dict | None:
    """The pipeline's status (pipeline.json) or None when there is none (yet)."""
    return _read_json(Path(run_dir) / PIPELINE_STATUS)


def read_progress(stage_dir: str | os.PathLike) -> dict | None:
    """A stage's progress.json or None."""
    return _read_json(Path(stage_dir) / PROGRESS)


def _json_safe(obj):
    """NaN/Inf become null: `NaN` is not JSON, and strict readers (a browser, jq) refuse the whole file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj: dict) -> None:
    """Readers (ParaView polling the run) never see half a file; non-finite numbers are written as null."""
    write_text_atomic(path, json.dumps(_json_safe(obj), indent=1, default=str, allow_nan=False))

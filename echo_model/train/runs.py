"""Run configurations: one dataclass per training stage, and the CLI built from their fields.

Each stage is a pure function of its dataclass (`train_autoencoder(AutoencoderRun)`,
`refine(RefineRun)`, `train_generator(GeneratorRun)`, `cache_latents_run(CacheLatentsRun)`,
`train_all(PipelineRun)`); the `echopv train ...` commands only turn their options into the
dataclass. A field's metadata holds its help text (and, where the flag is not `--field-name`,
its flags), so an option is declared once, here, for the parser, the dataclass and the
equivalent command printed in logs (`to_argv`).

This module imports no torch: ParaView's EchoTrain builds a `PipelineRun` on the GUI thread.

Example
-------
>>> cfg = AutoencoderRun(data="d.h5", run="runs/ae", steps=10)
>>> to_argv(cfg)  # only what differs from the defaults
['--run', 'runs/ae', '--steps', '10', '--data', 'd.h5']
"""
from __future__ import annotations

import argparse
import json
import math
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..errors import EchoUserError
from ..header_check import MAX_GRID_NODES, MAX_SAMPLER_STEPS, check_latent_memory
from ..samplers import DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS, SAMPLERS

T = TypeVar("T")

# The default recipe, defined once: `echopv train ae|refine|dit` alone, `train all`, `train hybrid`,
# EchoTrain and the ParaView panel train the same step counts at the same learning rates.
AE_STEPS = 1500
AE_LR = 2e-3
REFINE_STEPS = 100
REFINE_LR = 2e-4
# 9000, not 3000: on the cylinder family 3x the DiT steps cut the St error from 17 % to ~3 % (3 seeds) and on
# the vorticity set 4k -> 12k steps 0.40x the error (benchmarks/results/cylinder_dit_budget/, vorticity.md)
DIT_STEPS = 9000
DIT_LR = 1e-3
# the shortest trajectory training accepts: the shortest window 1 + f k with k = 1 for the tiny and small
# presets (f = 2); the pipeline, EchoTrain and its export check it
MIN_FRAMES = 3


def opt(help: str, default: Any = MISSING, *, flags: tuple[str, ...] = (), required: bool = False,
        choices: tuple[str, ...] | None = None, cli: bool = True) -> Any:
    """A dataclass field with its command-line description."""
    meta = {"help": help, "flags": flags, "required": required, "choices": choices, "cli": cli}
    if required:
        return field(default=None, metadata=meta)
    return field(default=default, metadata=meta)


# ------------------------------------------------------------------------------------------
# the dataclasses
# ------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class StageRun:
    """What every trainer-driven stage shares: where it runs and its optimisation schedule."""

    # --run-dir: the spelling torchrun passes through (torchrun reads `--run` as its own --run-path)
    run: str = opt("run directory (checkpoint, progress.json, its model file); --run-dir under torchrun",
                   required=True, flags=("--run", "--run-dir"))
    steps: int = opt("optimisation steps", 1000)
    batch_size: int = opt("samples per step", 4)
    lr: float = opt("peak learning rate", 1e-3)
    min_lr: float = opt("final learning rate of the cosine schedule", 1e-6)
    warmup: int | None = opt("warm-up steps (default 5%% of --steps)", None)
    weight_decay: float = opt("AdamW weight decay", 1e-4)
    grad_clip: float = opt("gradient clipping by global norm (0 = off)", 1.0)
    ckpt_every: int = opt("steps between checkpoints (0 = only at the end)", 200)
    device: str = opt("auto | cpu | cuda | cuda:N", "auto")
    seed: int = opt("random seed (data order, dropout, initial weights)", 0)
    threads: int | None = opt("torch CPU threads (1 on a loaded shared machine)", None)
    resume: bool = opt("ignore an existing checkpoint in the run directory", True, flags=("--no-resume",))
    progress: bool = opt("no progress bar (progress.json is still written)", True, flags=("--no-progress",))

    def train_config(self, stage: str, **overrides: Any):
        """The Trainer's TrainConfig for this run."""
        from .trainer import TrainConfig

        warmup = self.warmup if self.warmup is not None else max(1, self.steps // 20)
        return TrainConfig(steps=self.steps, lr=self.lr, min_lr=self.min_lr, warmup=warmup,
                           weight_decay=self.weight_decay, grad_clip=self.grad_clip, ckpt_every=self.ckpt_every,
                           seed=self.seed, device=self.device, progress_bar=self.progress, stage=stage, **overrides)


@dataclass(kw_only=True)
class PointSampling:
    """Which points an autoencoder stage sees (input dropout) and scores (loss points)."""

    data: str = opt("ECHO dataset (.h5)", required=True)
    split: str = opt("dataset split to train on", "train")
    n_query: int | None = opt("loss points per sample (default: all points)", None)
    keep_min: float = opt("min fraction of input points kept", 0.5)
    keep_max: float = opt("max fraction of input points kept", 1.0)
    chunk_size: int | None = opt("max (neighbour pair x frame) per continuous-conv chunk (bounds memory)", None)
    shift: float = opt("random translation of each sample by up to +-shift/2 latent-grid spacings (0 = off): "
                       "teaches the continuous kernels all point-node offsets", 1.0)


@dataclass(kw_only=True)
class AutoencoderRun(PointSampling, StageRun):
    """Stage 1: the autoencoder on trajectory windows (`echopv train ae`)."""

    steps: int = opt("optimisation steps", AE_STEPS)
    lr: float = opt("peak learning rate", AE_LR)
    preset: str = opt("autoencoder preset", "tiny", choices=("tiny", "small", "paper"))
    frames: int | None = opt("window length 1 + f k (default per preset)", None)
    frame_stride: int = opt("take every n-th frame inside a window", 1)
    init: str | None = opt("start from this autoencoder file instead of random weights", None)
    grid: tuple[int, ...] | None = opt("latent grid nodes per axis (default: the preset's node count shaped like the "
                                       "domain, e.g. 64 16 for a 2.2 x 0.41 channel); each divisible by 2^(number "
                                       "of compress_space blocks)", None)
    latent_dim: int | None = opt("latent channels D, overriding the preset", None)
    quadrature: bool = opt("plain point averages in the encoder instead of cell-area weighted sums (ablation)",
                           True, flags=("--no-quadrature",))
    max_traj: int | None = opt("train on the first N trajectories of the split only (data-size studies)", None)


@dataclass(kw_only=True)
class RefineRun(PointSampling, StageRun):
    """Stage 2: the autoencoder refined on single high-resolution frames (`echopv train refine`)."""

    steps: int = opt("optimisation steps", REFINE_STEPS)
    lr: float = opt("peak learning rate", REFINE_LR)
    batch_size: int = opt("frames per step", 2)
    n_query: int | None = opt("loss points per frame", 4096)
    chunk_size: int | None = opt("max (neighbour pair x frame) per continuous-conv chunk (bounds memory)", 1 << 18)
    init: str | None = opt("stage-1 autoencoder file (not needed when resuming the run directory)", None)
    replay: str | None = opt("low-resolution window dataset mixed into every step so the temporal layers keep "
                             "their stage-1 behaviour (default: none; pass the stage-1 dataset)", None)
    replay_weight: float = opt("weight of the replay loss", 1.0)
    replay_batch: int = opt("replay windows per step", 2)
    replay_query: int = opt("loss points per replay window", 1024)


@dataclass(kw_only=True)
class GeneratorRun(StageRun):
    """Stage 3: the latent generator on cached latents (`echopv train dit` / `train baseline`)."""

    steps: int = opt("optimisation steps", DIT_STEPS)
    lr: float = opt("peak learning rate", DIT_LR)
    batch_size: int = opt("latent windows per step", 16)
    cache: str = opt("latent cache from `echopv cache-latents`", required=True)
    ae: str | None = opt("autoencoder file (default: the one the cache was made with)", None)
    out: str | None = opt("complete model file to write (default RUN/model.safetensors)", None)
    preset: str = opt("DiT preset: tiny | small | paper", "tiny")
    patch_space: int | None = opt("override the preset's spatial patch", None)
    known_latent_frames: int = opt("latent frames the forecast conditions on (1 = initial-value problem)", 1)
    params: bool = opt("ignore PDE parameters", True, flags=("--no-params",))
    sampler: str = opt("default sampler stored in the model", DEFAULT_SAMPLER, choices=SAMPLERS)
    sample_steps: int = opt("default sampler steps stored in the model", DEFAULT_SAMPLER_STEPS)
    tau: str = opt("flow-time sampling", "logit_normal", choices=("logit_normal", "uniform"))
    p_forward: float = opt("probability of the forward (forecast) mask", 0.5)
    p_inverse: float = opt("probability of the inverse mask", 0.15)
    p_interp: float = opt("probability of the interpolation mask", 0.25)
    p_uncond: float = opt("probability of the unconditional mask", 0.1)
    kind: str = opt("flow (ECHO) or baseline (deterministic regression)", "flow", cli=False)


@dataclass(kw_only=True)
class CacheLatentsRun:
    """Encode a dataset's windows once with the frozen autoencoder (`echopv cache-latents`)."""

    ae: str = opt("autoencoder file (echopv train ae|refine)", required=True)
    data: str = opt("ECHO dataset (.h5)", required=True)
    out: str = opt("latent cache to write (.h5)", required=True)
    split: str = opt("train | val | test | all", "train")
    frames: int | None = opt("window length 1 + f k (default: the autoencoder's training window)", None)
    frame_stride: int = opt("take every n-th frame inside a window", 1)
    window_stride: int = opt("frames between window starts", 1)
    batch_size: int = opt("windows encoded together", 4)
    chunk_size: int | None = opt("continuous-conv chunk (million-point data)", None)
    device: str = opt("auto | cpu | cuda", "auto")
    threads: int | None = opt("torch CPU threads", None)
    progress: bool = opt("no progress bar", True, flags=("--no-progress",))


@dataclass(kw_only=True)
class PipelineRun:
    """Every stage from a dataset to a complete model file (`echopv train all`, ParaView's EchoTrain)."""

    data: str = opt("ECHO dataset (.h5), e.g. from `echopv import` or the ParaView EchoTrain filter", required=True)
    run: str = opt("run directory; the final model is RUN/model.safetensors (--run-dir under torchrun)",
                   required=True, flags=("--run", "--run-dir"))
    preset: str = opt("autoencoder and DiT preset: tiny | small | paper", "tiny")
    ae_steps: int = opt("stage-1 steps", AE_STEPS)
    refine_steps: int = opt("stage-2 steps (0 skips stage 2)", REFINE_STEPS)
    dit_steps: int = opt("stage-3 steps", DIT_STEPS)
    budget_minutes: float | None = opt("CPU minutes for the whole run: the autoencoder and DiT step counts are set "
                                       "from step costs measured on this dataset (overrides --ae-steps, --dit-steps)",
                                       None)
    ae_batch_size: int = opt("autoencoder windows per step", 2)
    dit_batch_size: int = opt("latent windows per step", 16)
    dit_lr: float = opt("DiT peak learning rate", DIT_LR)
    n_query: int = opt("loss points per autoencoder sample", 1024)
    frames: int | None = opt("window length 1 + f k (default: the preset's, shortened to the shortest trajectory)",
                             None)
    grid: tuple[int, ...] | None = opt("latent grid override (train ae --grid)", None)
    latent_dim: int | None = opt("latent channels override (train ae --latent-dim)", None)
    ckpt_every: int = opt("steps between checkpoints", 250)
    device: str = opt("auto | cpu | cuda", "auto")
    seed: int = opt("random seed", 0)
    threads: int | None = opt("torch CPU threads (1 on a shared machine)", None)
    progress: bool = opt("no progress bars (progress.json is still written)", True, flags=("--no-progress",))


@dataclass(kw_only=True)
class DMDRun:
    """A DMD model fitted on a dataset's training trajectories (`echopv train dmd`)."""

    data: str = opt("ECHO dataset (.h5); its training trajectories must share one mesh", required=True)
    run: str = opt("run directory; the model is RUN/model.safetensors", required=True)
    split: str = opt("dataset split to fit on: train | val | test | all", "train")
    rank: int = opt("DMD modes (0: chosen on the held-out tail of the training frames)", 0)
    holdout: float = opt("trailing fraction of each trajectory held out for the rank and the skill report", 0.25)
    stabilise: bool = opt("keep eigenvalues outside the unit circle (default: pulled onto it)", True,
                          flags=("--no-stabilise",))


@dataclass(kw_only=True)
class HybridRun:
    """A DMD + ECHO hybrid (`echopv train hybrid`): DMD for the coherent part, ECHO for its residual."""

    data: str = opt("ECHO dataset (.h5); its training trajectories must share one mesh", required=True)
    run: str = opt("run directory: RUN/dmd, RUN/residual.h5, RUN/echo and the model RUN/model.safetensors",
                   required=True)
    rank: int = opt("DMD modes (0: chosen on held-out training frames)", 0)
    holdout: float = opt("trailing fraction of each trajectory held out to choose the DMD rank", 0.25)
    window_stride: int = opt("frames between the starts of ECHO's residual windows", 1)
    preset: str = opt("ECHO's autoencoder and DiT preset: tiny | small | paper", "tiny")
    ae_steps: int = opt("ECHO stage-1 steps", AE_STEPS)
    refine_steps: int = opt("ECHO stage-2 steps (0 skips stage 2)", 0)
    dit_steps: int = opt("ECHO stage-3 steps", DIT_STEPS)
    budget_minutes: float | None = opt("CPU minutes for the ECHO part: its step counts from measured step costs "
                                       "(train all --budget-minutes)", None)
    device: str = opt("auto | cpu | cuda", "auto")
    seed: int = opt("random seed", 0)
    threads: int | None = opt("torch CPU threads (1 on a shared machine)", None)
    progress: bool = opt("no progress bars", True, flags=("--no-progress",))


# ------------------------------------------------------------------------------------------
# dataclass <-> command line / JSON
# ------------------------------------------------------------------------------------------
def _cli_fields(cls: type) -> list:
    return [f for f in fields(cls) if f.metadata.get("cli", True)]


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(element type, is_tuple) of an annotation such as `int | None` or `tuple[int, ...] | None`."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        tp = args[0]
    if typing.get_origin(tp) is tuple:
        return typing.get_args(tp)[0], True
    return tp, False


def _flags(f) -> tuple[str, ...]:
    return tuple(f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),))


def add_arguments_from(parser: argparse.ArgumentParser, cls: type, optional: tuple[str, ...] = ()) -> None:
    """One option per field of `cls` (its help, default, type and flags from the field); fields named
    in `optional` are not required on the command line (the caller gets them elsewhere)."""
    hints = typing.get_type_hints(cls)
    for f in _cli_fields(cls):
        kw: dict[str, Any] = {"dest": f.name, "help": f.metadata["help"]}
        tp, is_tuple = _base_type(hints[f.name])
        if tp is bool:
            kw["action"] = "store_false" if f.default else "store_true"
        else:
            kw["type"] = tp
            kw["required"] = f.metadata.get("required", False) and f.name not in optional
            if not kw["required"]:
                kw["default"] = f.default
            if is_tuple:
                kw["nargs"] = "+"
            if f.metadata.get("choices"):
                kw["choices"] = f.metadata["choices"]
        parser.add_argument(*_flags(f), **kw)


# options naming a file or folder: an empty one would silently mean the current directory
_PATH_OPTIONS = ("run", "data")


def _require_paths(values: dict[str, Any], where: Callable[[str], str]) -> None:
    """Refuse an empty run or data path; `where(name)` says where the option came from."""
    for name in _PATH_OPTIONS:
        v = values.get(name)
        if isinstance(v, str) and not v.strip():
            what = "run directory" if name == "run" else "dataset file"
            raise EchoUserError(
                f"{where(name)} is empty: an empty path would mean the current directory; give the "
                f"{what} explicitly (e.g. {'runs/mycase' if name == 'run' else 'data/mycase.h5'})")


def from_namespace(cls: type[T], ns: argparse.Namespace, **extra: Any) -> T:
    """The dataclass from parsed options (lists become tuples); an empty --run/--data, a step count
    below 1 or another value out of its range is refused naming the option."""
    values = {}
    flags = {}
    for f in _cli_fields(cls):
        v = getattr(ns, f.name)
        values[f.name] = tuple(v) if isinstance(v, list) else v
        flags[f.name] = _flags(f)[0]
    _require_paths(values, lambda name: flags[name])
    check_values(cls, values, lambda name: flags[name])
    return cls(**values, **extra)


# the allowed range of each numeric option: (lowest, highest), None = unbounded. Zero or negative step
# counts used to write an untrained model ("loss nan") that rollout then used without a word.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "steps": (1, None), "ae_steps": (1, None), "dit_steps": (1, None), "refine_steps": (0, None),
    "batch_size": (1, 1 << 16), "ae_batch_size": (1, 1 << 16), "dit_batch_size": (1, 1 << 16),
    "replay_batch": (1, 1 << 16), "n_query": (1, None), "replay_query": (1, None), "frames": (1, None),
    "frame_stride": (1, None), "window_stride": (1, None), "max_traj": (1, None), "latent_dim": (1, 4096),
    "patch_space": (1, None), "known_latent_frames": (1, None), "sample_steps": (1, MAX_SAMPLER_STEPS),
    "ckpt_every": (0, None), "warmup": (0, None), "seed": (0, None), "threads": (0, 4096), "rank": (0, None),
    "chunk_size": (1, None), "grid": (1, 1 << 14), "lr": (0, None), "dit_lr": (0, None), "min_lr": (0, None),
    "weight_decay": (0, None), "grad_clip": (0, None), "keep_min": (0, 1), "keep_max": (0, 1), "shift": (0, None),
    "replay_weight": (0, None), "budget_minutes": (0, None), "holdout": (0, 1), "p_forward": (0, 1),
    "p_inverse": (0, 1), "p_interp": (0, 1), "p_uncond": (0, 1),
}
# options whose lowest value is excluded (a learning rate or a budget of 0 trains nothing)
_OPEN_BELOW = {"lr", "dit_lr", "budget_minutes", "keep_min", "keep_max"}
_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
_EXAMPLES = {int: "2 (no quotes)", float: "0.001 (no quotes)", str: '"text" (in quotes)', bool: "true or false"}


def _type_ok(value: Any, tp: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp) if isinstance(tp, type) else True


def _range_problem(name: str, value: float) -> str | None:
    if not math.isfinite(value):
        return "must be finite"
    lo, hi = _RANGES.get(name, (None, None))
    if lo is not None and (value < lo or (value == lo and name in _OPEN_BELOW)):
        return f"must be {'above' if name in _OPEN_BELOW else 'at least'} {lo:g}"
    if hi is not None and value > hi:
        return f"must be at most {hi:g}"
    return None


def check_values(cls: type, values: dict[str, Any], where: Callable[[str], str], types: bool = False) -> None:
    """Refuse option values of the wrong type (`types`: from JSON; argparse already converts) or out of range.

    Parameters
    ----------
    cls : type
        The run dataclass whose fields the values are for.
    values : dict
        Field name -> value (tuples for the tuple fields).
    where : callable(str) -> str
        Where an option came from, for the message ("--steps", "cfg.json: 'steps'").
    types : bool, default False
        Also check each value's JSON type against the field's annotation.

    Raises
    ------
    EchoUserError
        Naming the option, its value, what it must be and the fix.

    Example
    -------
    >>> check_values(AutoencoderRun, {"steps": 0}, lambda n: "--" + n)
    Traceback (most recent call last):
    ...
    echo_model.errors.EchoUserError: --steps = 0 must be at least 1: a run of 0 steps would write an untrained model; give a value in range
    """
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if value is None or name not in hints:
            continue
        tp, is_tuple = _base_type(hints[name])
        items = value if is_tuple and isinstance(value, (tuple, list)) else (value,)
        if types and (is_tuple and not isinstance(value, (tuple, list)) or not all(_type_ok(v, tp) for v in items)):
            shape = f"a list of {_TYPE_NAMES.get(tp, tp)}s" if is_tuple else _TYPE_NAMES.get(tp, str(tp))
            example = "[64, 16]" if is_tuple else _EXAMPLES.get(tp, "...")
            raise EchoUserError(f"{where(name)} = {value!r} ({type(value).__name__}) must be {shape}; write it "
                                f"in JSON like {example}")
        for v in items:
            problem = _range_problem(name, v) if tp in (int, float) and _type_ok(v, tp) else None
            if problem:
                why = ": a run of 0 steps would write an untrained model" if name.endswith("steps") and v <= 0 else ""
                raise EchoUserError(f"{where(name)} = {value!r} {problem}{why}; give a value in range")
    _check_latent_sizes(values, where)


def _check_latent_sizes(values: dict[str, Any], where: Callable[[str], str]) -> None:
    """A latent grid and channel count within range may still ask for more memory than the machine has:
    refuse them from the declared sizes, before a network is built."""
    grid, channels = values.get("grid"), values.get("latent_dim")
    if not (isinstance(grid, (tuple, list)) and grid and all(_type_ok(g, int) for g in grid)):
        return
    nodes = math.prod(grid) if len(grid) > 1 else int(grid[0]) ** 2  # one entry: every axis (2D at least)
    if nodes > MAX_GRID_NODES:
        raise EchoUserError(f"{where('grid')} = {list(grid)!r} makes {nodes:,} latent grid nodes, more than the "
                            f"{MAX_GRID_NODES:,} a model may have; give fewer nodes per axis (16 to 64 are usual)")
    if _type_ok(channels, int):
        batch = next((values[k] for k in ("ae_batch_size", "batch_size") if _type_ok(values.get(k), int)), 1)
        check_latent_memory(nodes, channels, 1, batch, f"{where('grid')} = {list(grid)!r} and "
                            f"{where('latent_dim')} = {channels}", "give a coarser grid or fewer latent channels")


def to_argv(cfg: Any) -> list[str]:
    """The command-line options that rebuild `cfg` (defaults left out): for logs and reruns."""
    argv: list[str] = []
    for f in _cli_fields(type(cfg)):
        v = getattr(cfg, f.name)
        if v == f.default and not f.metadata.get("required"):
            continue
        flag = _flags(f)[0]
        if isinstance(v, bool):
            argv.append(flag)
        elif isinstance(v, (tuple, list)):
            argv += [flag, *map(str, v)]
        else:
            argv += [flag, str(v)]
    return argv


def to_json(cfg: Any) -> str:
    return json.dumps({"kind": type(cfg).__name__, "config": asdict(cfg)}, indent=1)


def from_json(cls: type[T], text: str, source: str = "run configuration") -> T:
    """A dataclass written by `to_json`; unknown keys and a wrong kind are refused with a message."""
    try:
        obj = json.loads(text)
    except RecursionError:
        raise EchoUserError(f"{source} nests JSON deeper than Python can read: write it with `to_json` "
                            "(or ParaView's EchoTrain)") from None
    except ValueError as exc:
        raise EchoUserError(f"{source} is not JSON ({exc}): write it with `to_json`") from exc
    if not isinstance(obj, dict) or obj.get("kind") != cls.__name__ or not isinstance(obj.get("config"), dict):
        raise EchoUserError(f"{source} does not hold a {cls.__name__} configuration: expected "
                            f'{{"kind": "{cls.__name__}", "config": {{...}}}} as `to_json` writes it')
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(obj["config"]) - names)
    if unknown:
        raise EchoUserError(f"{source}: unknown {cls.__name__} options {unknown}; the known ones are {sorted(names)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in obj["config"].items()}
    where = lambda name: f"{source}: {name!r}"  # noqa: E731
    missing = [f.name for f in fields(cls) if f.metadata.get("required") and values.get(f.name) is None]
    if missing:
        raise EchoUserError(f"{source}: {cls.__name__} option {missing[0]!r} is missing; add it "
                            f"(e.g. \"{missing[0]}\": \"{'runs/mycase' if missing[0] == 'run' else 'data/mycase.h5'}\")")
    check_values(cls, values, where, types=True)
    _require_paths(values, where)
    return cls(**values)


def apply_threads(threads: int | None) -> None:
    """Set torch's CPU thread count when asked (None/0: leave torch's default)."""
    from ..threads import set_threads

    set_threads(threads)


__all__ = ["AutoencoderRun", "RefineRun", "GeneratorRun", "CacheLatentsRun", "PipelineRun", "DMDRun", "HybridRun", "StageRun",
           "add_arguments_from", "check_values", "from_namespace", "to_argv", "to_json", "from_json", "apply_threads"]

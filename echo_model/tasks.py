"""ECHO's tasks beyond the forecast, on one trained `Surrogate`: interpolate, inverse, reconstruct, sample.

The DiT is trained with four task masks over the latent frames of a window (echo_model/flow.py,
`sample_task_masks`): forward, inverse, interpolation (a subset known) and unconditional. The
forecast (`Surrogate.rollout`) uses the forward mask; the functions here use the others:

    interpolate(sur, points, frames, gap)     saved frames `gap` model steps apart -> a frame every dt
    inverse(sur, points, frames, n_frames)    the n_frames before the first given frame
    reconstruct(sur, probes, values, target)  full fields at `target` from values at sparse probes
    sample(sur, points, n_frames, params)     trajectories from the parameters alone (ensemble members)

Each returns a `RolloutResult` (mean, std/samples for n_samples > 1, times, field layout, info).

How a window is completed (`_complete`): the given frames sit in a window of `window_frames`
physical frames; a latent frame is known when one of its frames is given (the causal encoder puts
frame f j in latent frame j). The unknown frames are first filled in time (linear between given
frames, constant beyond them), the window is encoded, the DiT fills the unknown latent frames with
that mask; with `refine` > 0 the decoded frames replace the fill and the window is encoded and
generated again, so the known latent frames are encoded from the model's own in-between frames
rather than from the linear fill. Last, the decoder's error at the given frames is interpolated in time and
removed, which keeps the given frames exact and the result continuous through them.

Reconstruct does not need the DiT: the encoder takes any point set, but a few percent of the
points leave most grid nodes of its continuous convolution empty (benchmarks/results/tasks.md:
encoding the probes directly is several times worse than spatial interpolation). So the latent
frames are fitted instead: start from the encoding of an inverse-distance interpolation of the
probes, then minimise the decoder's misfit at the probes by gradient steps. A DiT prior step on top
(noise the fitted latent part way, integrate back with the unconditional mask, fit again) did not
lower the error on the vorticity sample, so the generator is not used here.

Which tasks a model file supports comes from its header's "task_probs" (the training mask
probabilities); a file without the record was trained with the defaults of `flow.TaskProbs` (every
mask) when its generator is a flow, and with the forward mask only when it is a deterministic
baseline. A task whose mask had probability 0 is refused with an EchoUserError.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from . import flow
from .errors import EchoUserError
from .memory import MemoryBudget
from .rollout import SEGMENT_SEED_STRIDE, Surrogate, _EnsembleAccumulator, _gpu_chunk, check_sampler, progress_ticker
from .rollout_result import RolloutResult

TASKS = ("forecast", "interpolate", "reconstruct", "inverse", "sample")
# the training mask each task needs (reconstruct fits latents through the decoder: no mask)
TASK_MASK = {"forecast": "forward", "interpolate": "interpolation", "inverse": "inverse",
             "sample": "unconditional", "reconstruct": None}
PASS_SEED_STRIDE = 104729


def trained_masks(sur) -> dict[str, float]:
    """The probabilities of the task masks the model's generator was trained with.

    Parameters
    ----------
    sur : Surrogate
        A loaded model (any kind: DMD and hybrid files forecast only).

    Returns
    -------
    dict of str to float
        Keys "forward", "inverse", "interpolation", "unconditional": the header's "task_probs" when
        recorded; for older flow models the defaults of `flow.TaskProbs` the trainer used.

    Example
    -------
    >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
    >>> trained_masks(sur)
    {'forward': 0.5, 'inverse': 0.15, 'interpolation': 0.25, 'unconditional': 0.1}
    """
    if not isinstance(sur, Surrogate):  # DMD / hybrid: a forecast of their own
        return {"forward": 1.0, "inverse": 0.0, "interpolation": 0.0, "unconditional": 0.0}
    recorded = sur.meta.get("task_probs")
    if recorded is not None:
        return {k: float(recorded.get(k, 0.0)) for k in flow.TaskProbs().to_dict()}
    if sur.generator_kind == "baseline":  # trained on the forward mask alone (train/stage_dit.py)
        return {"forward": 1.0, "inverse": 0.0, "interpolation": 0.0, "unconditional": 0.0}
    return flow.TaskProbs().to_dict()


def check_task(sur, task: str) -> None:
    """Refuse a task the model cannot do, naming the task and the fix.

    Raises
    ------
    EchoUserError
        For an unknown task name, a model kind without an autoencoder (reconstruct), or a
        generator trained with probability 0 for the task's mask.

    Example
    -------
    >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
    >>> check_task(sur, "interpolate")
    >>> check_task(sur, "extrapolate")
    Traceback (most recent call last):
    ...
    echo_model.errors.EchoUserError: task 'extrapolate' is not one of forecast, interpolate, reconstruct, inverse, sample
    """
    if task not in TASKS:
        raise EchoUserError(f"task {task!r} is not one of {', '.join(TASKS)}")
    where = getattr(sur, "path", "this model")
    if task != "forecast" and not isinstance(sur, Surrogate):
        raise EchoUserError(f"task {task!r}: {where} is a {sur.meta.get('kind')} model, which only forecasts; "
                            "use an ECHO model file (`echopv train all`)")
    mask = TASK_MASK[task]
    if mask is not None and trained_masks(sur).get(mask, 0.0) <= 0.0:
        opt = {"interpolation": "--p-interp", "inverse": "--p-inverse", "unconditional": "--p-uncond",
               "forward": "--p-forward"}[mask]
        raise EchoUserError(
            f"task {task!r}: the generator of {where} was not trained with the {mask} mask "
            f"(task probabilities {trained_masks(sur)}); retrain it with `echopv train dit {opt} 0.25` "
            "(a flow generator, not --kind baseline), or use the forecast")


# ------------------------------------------------------------------------------------------
# Shared machinery: settings, progress, the window completion
# ------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """What every window of one task call shares."""

    sur: Surrogate
    pts: torch.Tensor  # (N, d) unit coordinates
    p_vec: torch.Tensor | None
    n_samples: int
    seed: int
    steps: int
    sampler: str
    refine: int
    chunk: int
    tick: Callable[[], None]


def _start(sur: Surrogate, task: str, points: np.ndarray, params, *, n_frames: int, n_samples: int, seed: int,
           steps: int | None, sampler: str | None, refine: int, n_windows: int, progress, should_abort,
           memory, keep_samples: bool) -> _Run:
    """Check the task and settings, plan the memory, build the progress tick (one per network evaluation)."""
    check_task(sur, task)
    if n_samples < 1:
        raise EchoUserError(f"n_samples {n_samples}: the ensemble needs at least 1 member")
    if refine < 0:
        raise EchoUserError(f"refine {refine}: give 0 or more re-encoding passes")
    n_points = np.asarray(points).shape[0]
    plan = sur.plan(n_points, n_points, n_frames, n_samples, keep_samples, memory)
    chunk = int(plan.chunk_size if sur.device.type != "cuda" else _gpu_chunk(sur.device))
    steps = int(sur.default_steps if steps is None else steps)
    sampler = sampler or sur.default_sampler
    check_sampler(steps, sampler, n_windows * (1 + refine), n_samples)
    total = max(1, n_windows * (1 + refine) * flow.sampler_evaluations(sampler, steps))
    return _Run(sur, sur._points(points), sur._param_vector(params, n_samples), n_samples, int(seed), steps,
                sampler, int(refine), chunk, progress_ticker(total, progress, should_abort))


def time_fill(values: torch.Tensor, given: Sequence[bool]) -> torch.Tensor:
    """Fill the frames (axis -3) not given: linear in time between given frames, constant beyond them.

    Example
    -------
    >>> v = torch.tensor([0.0, 9.0, 9.0, 3.0]).reshape(4, 1, 1)
    >>> time_fill(v, [True, False, False, True]).flatten().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    idx = np.flatnonzero(np.asarray(given, dtype=bool))
    if idx.size == 0:
        return torch.zeros_like(values)
    out = values.clone()
    for t in range(values.shape[-3]):
        if given[t]:
            continue
        a, b = idx[idx < t], idx[idx > t]
        if a.size and b.size:
            w = (t - a[-1]) / (b[0] - a[-1])
            out[..., t, :, :] = (1 - w) * values[..., a[-1], :, :] + w * values[..., b[0], :, :]
        else:
            out[..., t, :, :] = values[..., (a[-1] if a.size else b[0]), :, :]
    return out


def latent_mask(given: Sequence[bool], time_factor: int, latent_frames: int) -> list[float]:
    """Latent frame j is known when one of its physical frames (f (j-1) + 1 .. f j; frame 0 for j = 0)
    is given; when that leaves none unknown, every other one (j odd) is left to the generator.

    Example
    -------
    >>> latent_mask([True, False, False, False, True, False, False, False, True], 2, 5)
    [1.0, 0.0, 1.0, 0.0, 1.0]
    >>> latent_mask([True, False] * 4 + [True], 2, 5)
    [1.0, 0.0, 1.0, 0.0, 1.0]
    """
    known = {math.ceil(t / time_factor) for t, g in enumerate(given) if g}
    mask = [1.0 if j in known else 0.0 for j in range(latent_frames)]
    if all(mask):
        mask = [1.0 if j % 2 == 0 else 0.0 for j in range(latent_frames)]
    return mask


@torch.no_grad()
def _complete(run: _Run, window: torch.Tensor, given: Sequence[bool], w: int) -> torch.Tensor:
    """Members' windows (S, W, N, C) normalised, frames `given` known -> the completed windows (S, W, N, C)."""
    sur, s = run.sur, window.shape[0]
    mask = torch.tensor(latent_mask(given, sur.time_factor, sur.latent_frames), device=sur.device)
    mask = mask[None].expand(s, -1)
    keep = torch.as_tensor(np.asarray(given, dtype=bool), device=sur.device)[None, :, None, None]
    x = time_fill(window, given)
    for p in range(1 + run.refine):
        z = torch.cat([sur.encode(run.pts, x[i : i + 1], run.chunk) for i in range(s)], 0)
        z = z * flow._broadcast_mask(mask, z)  # unknown latent frames carry nothing
        gen = torch.Generator().manual_seed(run.seed + SEGMENT_SEED_STRIDE * w + PASS_SEED_STRIDE * p)
        z = sur.generate(z, mask, run.p_vec, run.steps, run.sampler, gen, on_step=run.tick)
        dec = torch.cat([sur.decode(z[i : i + 1], run.pts, run.chunk) for i in range(s)], 0)
        x = torch.where(keep, window, dec)
    # the decoder's error at the given frames, interpolated in time, removed: given frames exact
    return dec + time_fill(window - dec, given)


def _result(sur: Surrogate, acc: _EnsembleAccumulator, times: np.ndarray, run: _Run, t0: float,
            task: str, **info) -> RolloutResult:
    mean, std, samples = acc.result()
    if not np.isfinite(mean).all():
        raise EchoUserError(f"task {task!r} on {getattr(sur, 'path', 'this model')} produced NaN/Inf values: the "
                            "input lies far outside the training data or the model is damaged")
    return RolloutResult(mean=mean, std=std, samples=samples, times=times, field_layout=list(sur.field_layout),
                         info={"task": task, "steps": run.steps, "sampler": run.sampler, "n_samples": run.n_samples,
                               "refine": run.refine, "wall_s": time.perf_counter() - t0,
                               "chunk_size": run.chunk, **info})


def _frames_in(sur: Surrogate, points: np.ndarray, frames: np.ndarray, what: str) -> np.ndarray:
    obs = np.asarray(frames, dtype=np.float32)
    if obs.ndim == 2:
        obs = obs[..., None]
    if obs.ndim != 3 or obs.shape[2] != sur.n_channels or obs.shape[1] != np.asarray(points).shape[0]:
        raise EchoUserError(f"{what}: frames must be (T, N={np.asarray(points).shape[0]}, C={sur.n_channels}) "
                            f"({sur.field_layout}), got {obs.shape}")
    if not np.isfinite(obs).all():
        raise EchoUserError(f"{what}: the given frames contain NaN or Inf: clean the input fields first")
    return obs


def _add(acc: _EnsembleAccumulator, sur: Surrogate, out: torch.Tensor, frames: range, first: int,
         exact: dict[int, np.ndarray] | None = None) -> None:
    """Members' normalised frames out[:, frames] -> physical units, into the accumulator from `first` on;
    window frames in `exact` take those values as given (bit-exact, no normalising round trip)."""
    exact = exact or {}
    for i in range(out.shape[0]):
        for j, f in enumerate(frames):
            x = exact[f] if f in exact else sur.stats.denormalize(out[i, f].float().cpu().numpy())
            acc.add(i, first + j, x)


# ------------------------------------------------------------------------------------------
# Interpolate
# ------------------------------------------------------------------------------------------
def interpolation_windows(n_given: int, gap: int, window: int) -> list[tuple[int, int]]:
    """(start, end) frame ranges of the windows (each starts on a given frame); the window at `start`
    supplies frames start .. end - 1 of the output, the last one also the final frame.

    Example
    -------
    >>> interpolation_windows(3, 4, 9), interpolation_windows(4, 3, 9)
    ([(0, 9)], [(0, 6), (6, 10)])
    """
    last = (n_given - 1) * gap
    out, s = [], 0
    while s + window - 1 < last:
        nxt = s + ((window - 1) // gap) * gap  # the last given frame inside the window
        out.append((s, nxt))
        s = nxt
    return out + [(s, last + 1)]


def interpolate(sur: Surrogate, points: np.ndarray, frames: np.ndarray, gap: int, *,
                params: dict[str, float] | None = None, n_samples: int = 1, seed: int = 0,
                steps: int | None = None, sampler: str | None = None, refine: int = 0,
                progress: Callable[[float], None] | None = None, should_abort: Callable[[], bool] | None = None,
                memory: MemoryBudget | str | int | None = None, keep_samples: bool = True) -> RolloutResult:
    """Fill in the frames between saved ones: a frame every model dt, the given frames kept exact.

    Parameters
    ----------
    sur : Surrogate
        An ECHO model trained with the interpolation mask (see `check_task`).
    points : numpy.ndarray, shape (N, dim)
        Where the frames' values are (physical units).
    frames : numpy.ndarray, shape (T, N, C)
        The saved frames, `gap` model steps (`sur.dt`) apart, T >= 2.
    gap : int
        Model steps between two saved frames, 2 .. window_frames - 1 (2..8 for the tiny preset).
    params, n_samples, seed, steps, sampler, progress, should_abort, memory, keep_samples
        As in `Surrogate.rollout`.
    refine : int, default 0
        Re-encoding passes after the first generation (each costs one more sampler run per window;
        on the vorticity sample they did not lower the error: benchmarks/results/tasks.md).

    Returns
    -------
    RolloutResult
        `mean` ((T - 1) gap + 1, N, C): frame i gap is frames[i] exactly; `times` = dt * (0, 1, ...)
        after the first saved frame.

    Example
    -------
    >>> from echo_model.data.store import TrajectoryStore
    >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
    >>> with TrajectoryStore("sample_cases/ns2d_vorticity/ns2d_64.h5") as store:
    ...     traj = store[0]
    >>> res = interpolate(sur, traj.points, traj.fields[0:9:4], gap=4, params=traj.params, steps=2, refine=0)
    >>> res.mean.shape, bool((res.mean[4] == traj.fields[4]).all())
    ((9, 4096, 1), True)
    """
    t0 = time.perf_counter()
    obs = _frames_in(sur, points, frames, "interpolate")
    w_len = sur.window_frames
    if not 2 <= int(gap) <= w_len - 1 or obs.shape[0] < 2:
        raise EchoUserError(f"interpolate: the gap must be 2 to {w_len - 1} model steps (dt = {sur.dt:g}) and at "
                            f"least 2 frames are needed; got gap {gap} and {obs.shape[0]} frame(s)")
    n_out = (obs.shape[0] - 1) * gap + 1
    wins = interpolation_windows(obs.shape[0], gap, w_len)
    run = _start(sur, "interpolate", points, params, n_frames=n_out, n_samples=n_samples, seed=seed, steps=steps,
                 sampler=sampler, refine=refine, n_windows=len(wins), progress=progress,
                 should_abort=should_abort, memory=memory, keep_samples=keep_samples)
    vals = torch.as_tensor(sur.stats.normalize(obs), device=sur.device)
    acc = _EnsembleAccumulator(run.n_samples, (n_out, obs.shape[1], sur.n_channels), keep_samples)
    for w, (s, e) in enumerate(wins):
        window = vals.new_zeros((run.n_samples, w_len) + vals.shape[1:])
        given = [(s + t) % gap == 0 and s + t < n_out for t in range(w_len)]
        for t in np.flatnonzero(given):
            window[:, t] = vals[(s + t) // gap]
        out = _complete(run, window, given, w)
        exact = {int(t): obs[(s + t) // gap] for t in np.flatnonzero(given)}
        _add(acc, sur, out, range(0, e - s), s, exact)
    return _result(sur, acc, sur.dt * np.arange(n_out, dtype=np.float64), run, t0, "interpolate",
                   gap=int(gap), windows=len(wins))


# ------------------------------------------------------------------------------------------
# Inverse
# ------------------------------------------------------------------------------------------
def inverse(sur: Surrogate, points: np.ndarray, frames: np.ndarray, n_frames: int, *,
            params: dict[str, float] | None = None, n_samples: int = 1, seed: int = 0,
            steps: int | None = None, sampler: str | None = None, refine: int = 0,
            progress: Callable[[float], None] | None = None, should_abort: Callable[[], bool] | None = None,
            memory: MemoryBudget | str | int | None = None, keep_samples: bool = True) -> RolloutResult:
    """The `n_frames` frames before the first given one (earlier states), through the inverse mask.

    Each window holds the earliest known frames at its end (at most `time_factor`: one latent frame)
    and generates the frames before them; a longer span chains windows backwards.

    Parameters
    ----------
    sur : Surrogate
        An ECHO model trained with the inverse mask.
    points : numpy.ndarray, shape (N, dim)
    frames : numpy.ndarray, shape (T, N, C)
        Known consecutive frames, `sur.dt` apart; the first ones condition the result.
    n_frames : int
        Frames to produce before frames[0].
    params, n_samples, seed, steps, sampler, refine, progress, should_abort, memory, keep_samples
        As in `interpolate`.

    Returns
    -------
    RolloutResult
        `mean` (n_frames, N, C) in time order; `times` = -dt n_frames .. -dt, relative to frames[0].

    Example
    -------
    >>> from echo_model.data.store import TrajectoryStore
    >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
    >>> with TrajectoryStore("sample_cases/ns2d_vorticity/ns2d_64.h5") as store:
    ...     traj = store[0]
    >>> res = inverse(sur, traj.points, traj.fields[8:10], 4, params=traj.params, steps=2, refine=0)
    >>> res.mean.shape, res.times.tolist()
    ((4, 4096, 1), [-2.0, -1.5, -1.0, -0.5])
    """
    t0 = time.perf_counter()
    obs = _frames_in(sur, points, frames, "inverse")
    if n_frames < 1:
        raise EchoUserError(f"inverse: n_frames {n_frames}: give the number of earlier frames (>= 1)")
    w_len, m = sur.window_frames, min(obs.shape[0], sur.time_factor)
    new_per = w_len - m
    n_win = math.ceil(n_frames / new_per)
    run = _start(sur, "inverse", points, params, n_frames=n_frames, n_samples=n_samples, seed=seed, steps=steps,
                 sampler=sampler, refine=refine, n_windows=n_win, progress=progress, should_abort=should_abort,
                 memory=memory, keep_samples=keep_samples)
    cond = torch.as_tensor(sur.stats.normalize(obs[:m]), device=sur.device)[None].expand(run.n_samples, -1, -1, -1)
    acc = _EnsembleAccumulator(run.n_samples, (n_frames, obs.shape[1], sur.n_channels), keep_samples)
    left = n_frames
    given = [False] * new_per + [True] * m
    for w in range(n_win):
        window = cond.new_zeros((run.n_samples, w_len) + cond.shape[2:])
        window[:, new_per:] = cond
        out = _complete(run, window, given, w)
        take = min(new_per, left)
        _add(acc, sur, out, range(new_per - take, new_per), left - take)
        cond = out[:, new_per - take : new_per - take + m]  # the earliest frames so far condition the next window
        left -= take
    return _result(sur, acc, -sur.dt * np.arange(n_frames, 0, -1, dtype=np.float64), run, t0, "inverse",
                   windows=n_win)


# ------------------------------------------------------------------------------------------
# Sample
# ------------------------------------------------------------------------------------------
def sample(sur: Surrogate, points: np.ndarray, n_frames: int, *, params: dict[str, float] | None = None,
           n_samples: int = 1, seed: int = 0, steps: int | None = None, sampler: str | None = None,
           progress: Callable[[float], None] | None = None, should_abort: Callable[[], bool] | None = None,
           memory: MemoryBudget | str | int | None = None, keep_samples: bool = True) -> RolloutResult:
    """Trajectories for the given parameters from the point set alone (the unconditional mask).

    Each member's first window is generated with nothing known; a longer span continues it with the
    forecast (`Surrogate.rollout`, one member at a time, seed + member).

    Parameters
    ----------
    sur : Surrogate
        An ECHO model trained with the unconditional mask.
    points : numpy.ndarray, shape (N, dim)
        Where to produce the fields.
    n_frames : int
        Frames per trajectory, `sur.dt` apart.
    params, n_samples, seed, steps, sampler, progress, should_abort, memory, keep_samples
        As in `Surrogate.rollout`; the members are independent draws.

    Returns
    -------
    RolloutResult
        `mean`/`std` over the members, `samples` (n_samples, n_frames, N, C) when kept;
        `times` = dt * (0, 1, ...).

    Example
    -------
    >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
    >>> xy = np.stack(np.meshgrid(np.arange(32) / 32, np.arange(32) / 32), -1).reshape(-1, 2)
    >>> res = sample(sur, xy, 5, params={"nu": 1e-3}, n_samples=2, steps=2)
    >>> res.samples.shape, bool(res.std.mean() > 0)
    ((2, 5, 1024, 1), True)
    """
    t0 = time.perf_counter()
    if n_frames < 1:
        raise EchoUserError(f"sample: n_frames {n_frames}: give the number of frames (>= 1)")
    w_len = sur.window_frames
    first = min(n_frames, w_len)
    run = _start(sur, "sample", points, params, n_frames=n_frames, n_samples=n_samples, seed=seed, steps=steps,
                 sampler=sampler, refine=0, n_windows=1, progress=progress, should_abort=should_abort,
                 memory=memory, keep_samples=keep_samples)
    n = np.asarray(points).shape[0]
    window = torch.zeros((run.n_samples, w_len, n, sur.n_channels), device=sur.device)
    out = _complete(run, window, [False] * w_len, 0)
    acc = _EnsembleAccumulator(run.n_samples, (n_frames, n, sur.n_channels), keep_samples)
    _add(acc, sur, out, range(first), 0)
    for i in range(run.n_samples if n_frames > w_len else 0):  # longer: each member forecast on
        obs = sur.stats.denormalize(out[i, w_len - sur.n_observed_frames :].float().cpu().numpy())
        res = sur.rollout(points, obs, n_frames - w_len, params=params, seed=seed + i, steps=run.steps,
                          sampler=run.sampler, should_abort=should_abort, memory=memory)
        for j in range(n_frames - w_len):
            acc.add(i, w_len + j, res.mean[j])
    return _result(sur, acc, sur.dt * np.arange(n_frames, dtype=np.float64), run, t0, "sample")


# ------------------------------------------------------------------------------------------
# Reconstruct
# ------------------------------------------------------------------------------------------
def idw(sur: Surrogate, probes_u: np.ndarray, values: np.ndarray, target_u: np.ndarray, k: int = 8) -> np.ndarray:
    """Inverse-distance interpolation (k nearest probes, squared weights) of values (T, P, C) from
    probes_u (P, d) to target_u (M, d), unit coordinates, periodic axes wrapped: the fit's start."""
    k = min(k, probes_u.shape[0])
    period = np.asarray(sur.domain.periodic, dtype=bool)
    out = np.empty((values.shape[0], target_u.shape[0], values.shape[2]), dtype=np.float32)
    for a in range(0, target_u.shape[0], 4096):
        d = np.abs(target_u[a : a + 4096, None, :] - probes_u[None])
        d[..., period] = np.minimum(d[..., period], 1.0 - d[..., period])
        r2 = (d**2).sum(-1)
        nn = np.argpartition(r2, k - 1, axis=1)[:, :k]
        w = 1.0 / (np.take_along_axis(r2, nn, 1) + 1e-12)
        w /= w.sum(1, keepdims=True)
        out[:, a : a + 4096] = np.einsum("mk,tmkc->tmc", w, values[:, nn])
    return out


def _fit_latents(sur: Surrogate, z: torch.Tensor, probes: torch.Tensor, target: torch.Tensor, n_real: int,
                 fit_steps: int, lr: float, tick: Callable[[], None]) -> torch.Tensor:
    """Gradient steps on the normalised latent z (1, D, T_l, *S) so that the decoder matches the probe
    values `target` (n_real, P, C) at the probe points (frames past n_real are padding)."""
    z = z.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    shape = sur._lat_shape(z)
    std, mean = sur.latent_std.reshape(shape), sur.latent_mean.reshape(shape)
    with torch.enable_grad():
        for _ in range(fit_steps):
            opt.zero_grad()
            h = sur.ae.decoder.cnn(z * std + mean)[0, :, :n_real].transpose(0, 1)
            loss = ((sur.ae.decoder.to_points(h, probes) - target) ** 2).mean()
            loss.backward()
            opt.step()
            tick()
    return z.detach()


def reconstruct(sur: Surrogate, probe_points: np.ndarray, values: np.ndarray, target_points: np.ndarray, *,
                fit_steps: int = 100, lr: float = 0.05,
                progress: Callable[[float], None] | None = None, should_abort: Callable[[], bool] | None = None,
                memory: MemoryBudget | str | int | None = None) -> RolloutResult:
    """Full fields at `target_points` from values at sparse probes, frame by frame window.

    The latent frames of each window start from the encoding of an inverse-distance interpolation
    of the probes on the target points and are fitted so that the decoder reproduces the probe
    values (see the module docstring for why not the plain encoding of the probes).

    Parameters
    ----------
    sur : Surrogate
        An ECHO model (any generator kind: only its autoencoder is used).
    probe_points : numpy.ndarray, shape (P, dim)
        The probes (a subset of a mesh or free points), physical units.
    values : numpy.ndarray, shape (T, P, C)
        Probe values at T consecutive steps (`sur.dt` apart; a window of several steps fits jointly).
    target_points : numpy.ndarray, shape (M, dim)
        Where to produce the fields.
    fit_steps : int, default 100
        Adam steps on the latent frames per window (0: the interpolation's encoding alone).
    lr : float, default 0.05
        Adam's step size on the normalised latents.
    progress, should_abort, memory
        As in `Surrogate.rollout`.

    Returns
    -------
    RolloutResult
        `mean` (T, M, C) in physical units, `times` = dt * (0, 1, ...).

    Example
    -------
    >>> from echo_model.data.store import TrajectoryStore
    >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
    >>> with TrajectoryStore("sample_cases/ns2d_vorticity/ns2d_64.h5") as store:
    ...     traj = store[0]
    >>> probes = np.arange(0, 4096, 5)
    >>> res = reconstruct(sur, traj.points[probes], traj.fields[:3, probes], traj.points, fit_steps=5)
    >>> res.mean.shape
    (3, 4096, 1)
    """
    t0 = time.perf_counter()
    check_task(sur, "reconstruct")
    obs = _frames_in(sur, probe_points, values, "reconstruct")
    if fit_steps < 0:
        raise EchoUserError(f"reconstruct: fit_steps {fit_steps}: give 0 or more")
    n_t, w_len, f = obs.shape[0], sur.window_frames, sur.time_factor
    m = np.asarray(target_points).shape[0]
    plan = sur.plan(max(m, obs.shape[1]), m, n_t, 1, False, memory)
    chunk = int(plan.chunk_size if sur.device.type != "cuda" else _gpu_chunk(sur.device))
    starts = list(range(0, n_t, w_len))
    tick = progress_ticker(max(1, len(starts) * fit_steps), progress, should_abort)
    probes, target = sur._points(probe_points), sur._points(target_points)
    first = idw(sur, probes.cpu().numpy(), sur.stats.normalize(obs), target.cpu().numpy())
    out = np.empty((n_t, m, sur.n_channels), dtype=np.float32)
    for s in starts:
        n_real = min(w_len, n_t - s)
        n_win = 1 + f * math.ceil((n_real - 1) / f)  # the encoder takes 1 + f k frames: pad with the last
        rows = [min(s + t, s + n_real - 1) for t in range(n_win)]
        z = sur.encode(target, torch.as_tensor(first[rows], device=sur.device)[None], chunk)
        vals = torch.as_tensor(sur.stats.normalize(obs[s : s + n_real]), device=sur.device)
        z = _fit_latents(sur, z, probes, vals, n_real, fit_steps, lr, tick)
        dec = sur.decode_frames(z, target, list(range(n_real)), chunk)
        out[s : s + n_real] = sur.stats.denormalize(dec.float().cpu().numpy())
    if not np.isfinite(out).all():
        raise EchoUserError("task 'reconstruct' produced NaN/Inf values: lower lr or fit_steps")
    return RolloutResult(mean=out, std=None, samples=None, times=sur.dt * np.arange(n_t, dtype=np.float64),
                         field_layout=list(sur.field_layout),
                         info={"task": "reconstruct", "fit_steps": fit_steps, "lr": lr, "windows": len(starts),
                               "n_probes": int(obs.shape[1]), "wall_s": time.perf_counter() - t0, "chunk_size": chunk})


# ------------------------------------------------------------------------------------------
# One entry for the front ends (CLI, pyvista, the filter)
# ------------------------------------------------------------------------------------------
def infer_gap(times: np.ndarray, dt: float) -> int:
    """Model steps between the given frames from their times: one integer for every interval.

    Example
    -------
    >>> infer_gap(np.array([5.0, 7.0, 9.0]), 0.5)
    4
    """
    steps = np.diff(np.asarray(times, dtype=np.float64)) / dt
    k = np.rint(steps)
    if steps.size == 0 or not np.allclose(steps, k, rtol=0, atol=1e-3) or len(set(k.tolist())) != 1:
        raise EchoUserError(f"interpolate: the input's time steps {np.diff(times).tolist()} are not one whole "
                            f"number of model steps (dt = {dt:g}) apart: give evenly saved frames, or the gap")
    return int(k[0])


def run_task(sur, task: str, points: np.ndarray, frames: np.ndarray, times: np.ndarray, *, n_frames: int | None = None,
             gap: int | None = None, query_points: np.ndarray | None = None, probes: np.ndarray | None = None,
             params: dict[str, float] | None = None, **opts) -> tuple[RolloutResult, np.ndarray]:
    """Run any task on input frames as a front end reads them; -> (result, absolute output times).

    Parameters
    ----------
    sur : Surrogate
    task : {"forecast", "interpolate", "reconstruct", "inverse", "sample"}
    points, frames, times : numpy.ndarray
        The input's points (N, dim), frames (T, N, C) and their times (T,).
    n_frames : int, optional
        Forecast / inverse / sample: frames to produce (default one segment: `sur.segment_frames`;
        sample: `sur.window_frames`).
    gap : int, optional
        Interpolate: model steps between input frames (default: from `times`).
    query_points : numpy.ndarray, optional
        Forecast and reconstruct: where to produce the fields (default `points`).
    probes : numpy.ndarray of int, optional
        Reconstruct: which input points are the probes (default all of them).
    params : dict, optional
    **opts
        Passed on: n_samples, seed, steps, sampler, progress, should_abort, memory, keep_samples (and
        refine, fit_steps, lr for the tasks that have them).

    Returns
    -------
    tuple of (RolloutResult, numpy.ndarray)
        The task's result and the absolute time of each output frame, on the input's clock.

    Example
    -------
    >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
    >>> xy = np.stack(np.meshgrid(np.arange(16) / 16, np.arange(16) / 16), -1).reshape(-1, 2)
    >>> res, t = run_task(sur, "sample", xy, np.zeros((1, 256, 1)), np.array([5.0]), n_frames=3, steps=2)
    >>> res.mean.shape, t.tolist()
    ((3, 256, 1), [5.0, 5.5, 6.0])
    """
    check_task(sur, task)
    times = np.asarray(times, dtype=np.float64)
    common = {k: v for k, v in opts.items() if k not in ("refine", "fit_steps", "lr")}
    if query_points is not None and task not in ("forecast", "reconstruct"):
        raise EchoUserError(f"task {task!r} produces its frames on the input points: a query mesh applies to "
                            "forecast and reconstruct only")
    if task == "forecast":
        n_obs = sur.n_observed_frames
        res = sur.rollout(points, frames[:n_obs], n_frames or sur.segment_frames, query_points=query_points,
                          params=params, **common)
        return res, times[n_obs - 1] + res.times
    if task == "reconstruct":
        sel = np.arange(np.asarray(points).shape[0]) if probes is None else np.asarray(probes)
        keep = {k: v for k, v in opts.items() if k in ("fit_steps", "lr", "progress", "should_abort", "memory")}
        res = reconstruct(sur, np.asarray(points)[sel], np.asarray(frames)[:, sel],
                          points if query_points is None else query_points, **keep)
        return res, times[: res.mean.shape[0]]
    refine = {"refine": opts["refine"]} if "refine" in opts else {}
    if task == "interpolate":
        res = interpolate(sur, points, frames, gap or infer_gap(times, sur.dt), params=params, **common, **refine)
    elif task == "inverse":
        res = inverse(sur, points, frames, n_frames or sur.segment_frames, params=params, **common, **refine)
    else:
        res = sample(sur, points, n_frames or sur.window_frames, params=params, **common)
    return res, times[0] + res.times

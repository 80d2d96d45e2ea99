"""DMD + ECHO hybrid: DMD forecasts the coherent part of the flow, ECHO what DMD gets wrong.

Given a state x0, the DMD model (echo_model.dmd) splits it into the part its modes resolve and the
rest, r0 = x0 - resolved(x0), and forecasts the resolved part f_k. ECHO, trained on *residual
windows* (for every training window start s, with a DMD fitted on the frames up to s only:
[x_s - resolved(x_s), x_{s+1} - f_s(1), ...]),
generates the residuals r_1.. from r0; the forecast is f_k + r_k, and ECHO's ensemble members give
the spread. Long forecasts chain segment by segment: each member's last predicted state is split
again, so every segment sees residuals of the kind it was trained on (a residual relative to a DMD
forecast started one segment ago, never ten).

The model file holds both: ECHO's tensors and header as usual (kind "echo-hybrid") and the DMD
tensors under "dmd." with its header under "dmd". `Surrogate.load` returns a `HybridSurrogate`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from .bundle import load_tensors, prefixed, save_tensors, unprefixed
from .data.trajectory import Trajectory
from .dmd import DMDSurrogate, nearest
from .errors import EchoUserError
from .rollout_result import RolloutAborted, RolloutResult

KIND = "echo-hybrid"
DMD_KEY = "dmd"


MIN_FIT_FRAMES = 8  # the first window starts once a DMD can be fitted on this many frames


def residual_windows(dmd: DMDSurrogate, traj: Trajectory, window: int, stride: int = 1) -> Iterator[Trajectory]:
    """ECHO's training data for the hybrid: one short trajectory per window start s of `traj`.

    The residuals are what a forecaster standing at frame s would see: a DMD with the model's rank and
    centring is fitted on frames 0..s only (an expanding window), x_s is split into its resolved part
    and the rest, and the window holds [rest, x_{s+1} - f_s(1), ...]. A DMD fitted on every training
    frame would reproduce them almost exactly, and ECHO would learn residuals of zero."""
    from .dmd import Choice, fit

    stats, n_ch = dmd.stats, dmd.n_channels
    flat = stats.normalize(traj.fields).reshape(traj.n_frames, -1).astype(np.float64)
    choice = Choice(rank=int(dmd.meta.get("rank", dmd.op.rank)), residual_gain=0.0,
                    center=bool(dmd.meta.get("center", True)))
    # early starts have fewer frames than the rank: their DMD keeps the modes those frames support
    for s in range(MIN_FIT_FRAMES - 1, traj.n_frames - window + 1, stride):
        op = fit([flat[:s + 1]], choice, bool(dmd.meta.get("stabilise", True)))
        coherent = np.concatenate([op.resolved(flat[s])[None], op.forecast(flat[s], window - 1)])
        resid = traj.fields[s:s + window] - stats.denormalize(coherent.reshape(window, -1, n_ch))
        yield Trajectory(points=traj.points, fields=resid.astype(np.float32), times=traj.times[s:s + window],
                         field_layout=traj.field_layout, params=traj.params, cells=traj.cells)


class HybridSurrogate:
    """The hybrid behind the rollout contract of `echo_model.rollout.Surrogate`.

    Parameters
    ----------
    dmd : DMDSurrogate
        The coherent part (forecasts on the mesh it was fitted on).
    echo : Surrogate
        ECHO trained on the DMD's residual windows (one observed frame).
    meta : dict
        ECHO's header with kind "echo-hybrid" and the DMD's header under "dmd".
    """

    generator_kind = "hybrid"
    n_observed_frames = 1

    def __init__(self, dmd: DMDSurrogate, echo: Any, meta: dict[str, Any]) -> None:
        if echo.n_observed_frames != 1:
            raise EchoUserError("a hybrid needs an ECHO part conditioned on one frame (known_latent_frames 1)")
        self.dmd, self.echo, self.meta = dmd, echo, dict(meta)
        self.field_layout, self.dim, self.dt = dmd.field_layout, dmd.dim, dmd.dt
        self.stats, self.domain = dmd.stats, dmd.domain
        self.segment_frames = echo.segment_frames
        self.param_names, self.param_mean, self.param_std = [], [], []
        self.default_steps, self.default_sampler = echo.default_steps, echo.default_sampler
        self.device = echo.device

    @property
    def n_channels(self) -> int:
        return self.dmd.n_channels

    # --- I/O -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        meta = {k: v for k, v in self.meta.items() if k not in ("format", "format_version")}
        meta[DMD_KEY] = {k: v for k, v in self.dmd.meta.items() if k not in ("format", "format_version")}
        tensors = {**self.echo.tensors(), **prefixed(self.dmd.tensors(), DMD_KEY)}
        return save_tensors(path, tensors, {**meta, "kind": KIND, "generator_kind": "hybrid"})

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str, echo_from_tensors: Callable) -> "HybridSurrogate":
        """Read a hybrid file; `echo_from_tensors` builds its ECHO part (`Surrogate.from_tensors`, passed in
        by `Surrogate.load` so that this module does not import the one that imports it)."""
        tensors, meta = load_tensors(path)
        dmd_meta = meta.get(DMD_KEY)
        if not isinstance(dmd_meta, dict):
            raise EchoUserError(f"{path}: a hybrid model file without its DMD header; train it again with "
                                "`echopv train hybrid`")
        dmd = DMDSurrogate.from_tensors(unprefixed(tensors, DMD_KEY), dmd_meta, path)
        echo_tensors = {k: v for k, v in tensors.items() if not k.startswith(DMD_KEY + ".")}
        echo = echo_from_tensors(echo_tensors, {**meta, "kind": "echo-surrogate"}, Path(path),
                                      torch.device(device) if isinstance(device, str) else device)
        sur = cls(dmd, echo, meta)
        sur.path = Path(path)
        return sur

    # --- the rollout ---------------------------------------------------------------------
    def state_error(self, points: np.ndarray, observed: np.ndarray) -> float:
        return self.dmd.state_error(points, observed)

    def _segment(self, state: np.ndarray, order: np.ndarray, points: np.ndarray, take: int, seed: int,
                 steps: int | None, sampler: str | None) -> np.ndarray:
        """One member's next `take` frames from `state` (N, C)."""
        _, r0 = self.dmd.split_state(state, order)
        coherent = self.dmd.resolved_forecast(state, take, order)
        res = self.echo.rollout(points, r0[None], n_frames=take, n_samples=1, seed=seed, steps=steps,
                                sampler=sampler, keep_samples=False)
        return coherent + res.mean

    def rollout(self, points: np.ndarray, observed: np.ndarray, n_frames: int, query_points: np.ndarray | None = None,
                params: dict[str, float] | None = None, n_samples: int = 1, seed: int = 0, steps: int | None = None,
                sampler: str | None = None, progress: Callable[[float], None] | None = None,
                should_abort: Callable[[], bool] | None = None, keep_samples: bool = True, **_: Any):
        """Forecast `n_frames` frames after the last observed one (see `Surrogate.rollout`)."""
        t0 = time.perf_counter()
        obs = np.asarray(observed, dtype=np.float32)
        obs = obs[..., None] if obs.ndim == 2 else obs
        if n_frames < 1 or n_samples < 1:
            raise EchoUserError("n_frames and n_samples must be >= 1")
        order = self.dmd._mesh_order(points)
        samples = np.zeros((n_samples, n_frames) + obs.shape[1:], dtype=np.float32)
        n_seg = -(-n_frames // self.segment_frames)
        for m in range(n_samples):
            state, done = obs[-1], 0
            for seg in range(n_seg):
                if should_abort is not None and should_abort():
                    raise RolloutAborted("rollout aborted by the caller")
                take = min(self.segment_frames, n_frames - done)
                frames = self._segment(state, order, points, take, seed + 7919 * seg + 104729 * m, steps, sampler)
                samples[m, done:done + take] = frames
                state, done = frames[-1], done + take
                if progress is not None:
                    progress((m * n_seg + seg + 1) / (n_samples * n_seg))
        if query_points is not None:
            samples = samples[:, :, nearest(np.asarray(query_points, np.float64), np.asarray(points, np.float64))[0]]
        mean = samples.mean(axis=0)
        std = samples.std(axis=0, ddof=1) if n_samples > 1 else None
        return RolloutResult(mean=mean, std=std, samples=samples if keep_samples else None,
                             times=self.dt * np.arange(1, n_frames + 1, dtype=np.float64),
                             field_layout=list(self.field_layout),
                             info={"segments": n_seg, "steps": steps or self.default_steps, "n_samples": n_samples,
                                   "sampler": sampler or self.default_sampler, "generator": "hybrid",
                                   "wall_s": time.perf_counter() - t0})

"""Dynamic mode decomposition (DMD) as a model kind of the project: the classical reduced-order
forecast an analyst already knows, fitted in seconds on the frames of their own run.

A DMD model lives on the mesh it was fitted on (its modes are values at those points). It forecasts
from one observed frame x0:

    a0 = x0 - mean                     (the training-mean field is the fixed point)
    b  = pinv(Phi) a0                  (x0's coordinates on the modes)
    x_k = mean + Re(Phi diag(lambda^k) b) + g (a0 - Re(Phi b))

`g` carries the part of x0 that the modes do not resolve (g = 1: persistence of it, g = 0: drop
it). The rank and g are chosen on held-out training frames (the last `holdout_fraction` of each
training trajectory): the model is fitted on the frames before, forecasts the held-out ones from
the last fitted frame, and the (rank, g) with the lowest mean per-field relative MSE wins; the
model is then refitted on all training frames. Eigenvalues outside the unit circle are pulled onto
it (`stabilise`), so long forecasts neither blow up nor decay faster than the data says.

Fields are normalised per channel (the dataset's statistics) before the SVD, so U and p weigh alike.
The file is the project's model container (one .safetensors with a JSON header, kind "echo-dmd");
`Surrogate.load` opens it and returns a `DMDSurrogate`, which EchoRollout, `echopv rollout` and
`echopv eval` use like an ECHO model (one member: a DMD forecast is deterministic).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .bundle import load_tensors, save_tensors
from .data.normalize import ChannelStats, Domain
from .errors import EchoUserError
from .rollout_result import RolloutResult
from .skill import per_field_rel_mse

KIND = "echo-dmd"
DEFAULT_RANKS = (1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40)
RESIDUAL_GAINS = (0.0, 1.0)


@dataclass
class DMDConfig:
    """How a DMD model is fitted.

    Parameters
    ----------
    rank : int, default 0
        Number of modes; 0 chooses it from `candidate_ranks` on held-out training frames.
    candidate_ranks : tuple of int
        Ranks tried when `rank` is 0 (those above the number of snapshot pairs are skipped).
    holdout_fraction : float, default 0.25
        Trailing fraction of each training trajectory held out to choose the rank and to write the
        skill report.
    stabilise : bool, default True
        Pull eigenvalues with |lambda| > 1 onto the unit circle.
    """

    rank: int = 0
    candidate_ranks: tuple[int, ...] = DEFAULT_RANKS
    holdout_fraction: float = 0.25
    stabilise: bool = True

    def __post_init__(self) -> None:
        if self.rank < 0:
            raise EchoUserError(f"DMD rank {self.rank}: give a positive number of modes, or 0 to choose it")
        if not 0.0 < self.holdout_fraction < 0.9:
            raise EchoUserError(f"DMD holdout fraction {self.holdout_fraction}: use a value in (0, 0.9)")


@dataclass
class DMDOperator:
    """A fitted DMD on flattened normalised snapshots (n = points x channels).

    Parameters
    ----------
    mean : (n,) float64
    modes : (n, r) complex128
    eigs : (r,) complex128
    residual_gain : float
    """

    mean: np.ndarray
    modes: np.ndarray
    eigs: np.ndarray
    residual_gain: float = 1.0
    _pinv: np.ndarray | None = field(default=None, repr=False)

    @property
    def rank(self) -> int:
        return int(self.eigs.shape[0])

    def coordinates(self, a0: np.ndarray) -> np.ndarray:
        if self._pinv is None:
            self._pinv = np.linalg.pinv(self.modes)
        return self._pinv @ a0

    def resolved(self, x0: np.ndarray) -> np.ndarray:
        """The part of the flattened normalised frame `x0` (n,) that the modes (and the mean) represent."""
        return self.mean + (self.modes @ self.coordinates(np.asarray(x0, dtype=np.float64) - self.mean)).real

    def forecast(self, x0: np.ndarray, n_frames: int, residual_gain: float | None = None) -> np.ndarray:
        """(n_frames, n) forecast after the flattened normalised frame `x0` (n,); `residual_gain`
        overrides the fitted gain of the unresolved part (0: the resolved part alone)."""
        a0 = np.asarray(x0, dtype=np.float64) - self.mean
        b = self.coordinates(a0)
        gain = self.residual_gain if residual_gain is None else residual_gain
        residual = gain * (a0 - (self.modes @ b).real)
        powers = self.eigs[None, :] ** np.arange(1, n_frames + 1)[:, None]  # (T, r)
        out = ((powers * b[None, :]) @ self.modes.T).real
        return out + (self.mean + residual)[None, :]


def _snapshot_pairs(trajs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    xs = [t[:-1] for t in trajs if t.shape[0] >= 2]
    ys = [t[1:] for t in trajs if t.shape[0] >= 2]
    if not xs:
        raise EchoUserError("DMD needs at least 2 frames in a training trajectory; import more time steps")
    return np.concatenate(xs).T, np.concatenate(ys).T  # (n, m) each


class _Basis:
    """SVD of the snapshot pairs, computed once and truncated to each candidate rank."""

    def __init__(self, trajs: Sequence[np.ndarray], center: bool = True) -> None:
        n = trajs[0].shape[1]
        self.mean = np.concatenate(trajs).mean(axis=0) if center else np.zeros(n)
        x, y = _snapshot_pairs([t - self.mean for t in trajs])
        self.y = y
        self.u, self.s, vh = np.linalg.svd(x, full_matrices=False)
        self.v = vh.conj().T

    @property
    def max_rank(self) -> int:
        return int(np.sum(self.s > self.s[0] * 1e-10)) if self.s.size else 0

    def operator(self, rank: int, stabilise: bool, gain: float) -> DMDOperator:
        r = min(rank, self.max_rank)
        u, s, v = self.u[:, :r], self.s[:r], self.v[:, :r]
        yv = self.y @ (v / s[None, :])
        eigs, w = np.linalg.eig(u.conj().T @ yv)
        if stabilise:
            eigs = eigs / np.maximum(1.0, np.abs(eigs))
        return DMDOperator(mean=self.mean, modes=yv @ w, eigs=eigs.astype(np.complex128), residual_gain=gain)


def _score(op: DMDOperator, fit_part: Sequence[np.ndarray], held: Sequence[np.ndarray],
           layout: Sequence[tuple[str, int]]) -> float:
    """Mean over trajectories and fields of the held-out per-field relative MSE."""
    scores = []
    for f, h in zip(fit_part, held):
        pred = op.forecast(f[-1], h.shape[0])
        n_ch = sum(c for _, c in layout)
        per = per_field_rel_mse(pred.reshape(h.shape[0], -1, n_ch), h.reshape(h.shape[0], -1, n_ch), layout)
        scores.append(np.mean([v.mean() for v in per.values()]))
    return float(np.mean(scores))


def split_holdout(trajs: Sequence[np.ndarray], fraction: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each trajectory's leading frames and its trailing `fraction` (at least 1 frame each, 3 fitted)."""
    fit, held = [], []
    for t in trajs:
        n_held = max(1, int(round(fraction * t.shape[0])))
        if t.shape[0] - n_held < 3:
            raise EchoUserError(f"a training trajectory has {t.shape[0]} frames: choosing the DMD rank on held-out "
                                "frames needs at least 4; import more time steps or give --rank")
        fit.append(t[:-n_held])
        held.append(t[-n_held:])
    return fit, held


def choose(trajs: Sequence[np.ndarray], layout: Sequence[tuple[str, int]], cfg: DMDConfig
           ) -> tuple["Choice", list[dict[str, float]]]:
    """The (rank, residual gain, centring) with the lowest error on the held-out tail of each
    trajectory, and the score table of every candidate."""
    fit, held = split_holdout(trajs, cfg.holdout_fraction)
    table = []
    for center in (True, False):
        basis = _Basis(fit, center)
        ranks = [cfg.rank] if cfg.rank else [r for r in cfg.candidate_ranks if r <= basis.max_rank] or [basis.max_rank]
        table += [{"rank": r, "residual_gain": g, "center": center,
                   "score": _score(basis.operator(r, cfg.stabilise, g), fit, held, layout)}
                  for r in ranks for g in RESIDUAL_GAINS]
    low = min(row["score"] for row in table)
    # the fewest modes among the (near-)best: a forecast that is exact at rank 2 does not need 20
    best = min((row for row in table if row["score"] <= low * (1 + 1e-3) + 1e-12), key=lambda row: row["rank"])
    return Choice(int(best["rank"]), float(best["residual_gain"]), bool(best["center"])), table


@dataclass(frozen=True)
class Choice:
    """What held-out frames chose: modes, the unresolved part's gain, subtracting the mean field."""

    rank: int
    residual_gain: float = 1.0
    center: bool = True


def fit(trajs: Sequence[np.ndarray], choice: Choice, stabilise: bool = True) -> DMDOperator:
    """Fit on flattened normalised trajectories [(T_i, n)] with the chosen rank, gain and centring."""
    return _Basis(trajs, choice.center).operator(choice.rank, stabilise, choice.residual_gain)


# ------------------------------------------------------------------------------------------
# The model kind: the Surrogate contract of echo_model.rollout on a DMD operator
# ------------------------------------------------------------------------------------------
class DMDSurrogate:
    """A DMD model behind the rollout contract of `echo_model.rollout.Surrogate`.

    Parameters
    ----------
    op : DMDOperator
        The fitted operator (normalised, flattened snapshots).
    points : (N, dim) array
        The mesh it was fitted on (forecasts are made there; other query points take the nearest).
    meta : dict
        The header (field_layout, dim, dt, stats, domain, rank, skill, ...).

    Example
    -------
    >>> t = np.linspace(0, 6, 40)
    >>> pts = np.linspace(0, 1, 50)[:, None]
    >>> frames = np.sin(2 * np.pi * (pts[None, :, 0] - 0.3 * t[:, None]))[..., None].astype(np.float32)
    >>> sur = DMDSurrogate.fit_trajectories([frames], pts, [("u", 1)], dt=float(t[1] - t[0]),
    ...                                     cfg=DMDConfig(rank=2))
    >>> res = sur.rollout(pts, frames[:1], n_frames=5)
    >>> bool(np.abs(res.mean - frames[1:6]).max() < 1e-3)
    True
    """

    generator_kind = "dmd"
    n_observed_frames = 1
    default_steps = 1
    default_sampler = "none"

    def __init__(self, op: DMDOperator, points: np.ndarray, meta: dict[str, Any]) -> None:
        self.op = op
        self.points = np.asarray(points, dtype=np.float64)
        self.meta = dict(meta)
        self.field_layout = [(str(n), int(c)) for n, c in meta["field_layout"]]
        self.dim = int(meta["dim"])
        self.dt = float(meta.get("dt", 1.0))
        self.stats = ChannelStats.from_dict(meta["stats"])
        self.domain = Domain.from_dict(meta["domain"])
        self.segment_frames = int(meta.get("default_frames", 10))
        self.param_names: list[str] = []
        self.param_mean: list[float] = []
        self.param_std: list[float] = []
        self.device = torch.device("cpu")

    @property
    def n_channels(self) -> int:
        return sum(c for _, c in self.field_layout)

    # --- fitting -------------------------------------------------------------------------
    @classmethod
    def fit_trajectories(cls, frames: Sequence[np.ndarray], points: np.ndarray, field_layout: Sequence[tuple[str, int]],
                         dt: float, cfg: DMDConfig | None = None, stats: ChannelStats | None = None,
                         provenance: dict | None = None) -> "DMDSurrogate":
        """Choose the rank on held-out frames, then fit on all of `frames` [(T_i, N, C)] on `points`."""
        cfg = cfg or DMDConfig()
        t0 = time.process_time()
        frames = [np.asarray(f, dtype=np.float32) for f in frames]
        if stats is None:
            allf = np.concatenate(frames)
            stats = ChannelStats(allf.mean(axis=(0, 1)), allf.std(axis=(0, 1)))
        flat = [stats.normalize(f).reshape(f.shape[0], -1).astype(np.float64) for f in frames]
        choice, table = choose(flat, field_layout, cfg) if not cfg.rank or len(flat[0]) >= 4 else (Choice(cfg.rank), [])
        op = fit(flat, choice, cfg.stabilise)
        meta = {"kind": KIND, "generator_kind": "dmd", "field_layout": [[n, int(c)] for n, c in field_layout],
                "dim": int(np.asarray(points).shape[1]), "dt": float(dt), "stats": stats.to_dict(),
                "domain": Domain.around(np.asarray(points)).to_dict(), "rank": op.rank, "residual_gain": choice.residual_gain, "center": choice.center,
                "stabilise": bool(cfg.stabilise), "config": asdict(cfg), "rank_scores": table,
                "train_horizon_frames": int(max(f.shape[0] for f in frames) - 1),
                "n_train_frames": int(sum(f.shape[0] for f in frames)),
                "default_frames": int(max(1, round(cfg.holdout_fraction * frames[0].shape[0]))),
                "fit_cpu_s": round(time.process_time() - t0, 3), "provenance": provenance or {}}
        return cls(op, points, meta)

    # --- I/O -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        meta = {k: v for k, v in self.meta.items() if k not in ("format", "format_version")}
        meta["residual_gain"] = float(self.op.residual_gain)
        return save_tensors(path, self.tensors(), {**meta, "kind": KIND})

    def _flat(self, frame: np.ndarray, order: np.ndarray | None) -> np.ndarray:
        """One physical frame (N, C) in the input's point order -> normalised (n,) in the model's."""
        frame = np.asarray(frame, dtype=np.float32)
        return self.stats.normalize(frame if order is None else frame[order]).reshape(-1).astype(np.float64)

    def _physical(self, flat: np.ndarray, order: np.ndarray | None) -> np.ndarray:
        """Normalised (..., n) in the model's point order -> physical (..., N, C) in the input's."""
        values = self.stats.denormalize(flat.reshape(flat.shape[:-1] + (-1, self.n_channels)))
        if order is None:
            return values
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return values[..., inverse, :]

    def split_state(self, frame: np.ndarray, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(resolved part, unresolved part) of one physical frame (N, C) in the input's point order."""
        resolved = self._physical(self.op.resolved(self._flat(frame, order)), order)
        return resolved, np.asarray(frame, dtype=np.float32) - resolved

    def resolved_forecast(self, frame: np.ndarray, n_frames: int, order: np.ndarray | None = None) -> np.ndarray:
        """(n_frames, N, C) forecast of the resolved part only (no unresolved part carried), input order."""
        return self._physical(self.op.forecast(self._flat(frame, order), int(n_frames), residual_gain=0.0), order)

    def tensors(self) -> dict[str, torch.Tensor]:
        op = self.op
        return {"mean": torch.from_numpy(op.mean), "modes_re": torch.from_numpy(op.modes.real.copy()),
                "modes_im": torch.from_numpy(op.modes.imag.copy()), "eigs_re": torch.from_numpy(op.eigs.real.copy()),
                "eigs_im": torch.from_numpy(op.eigs.imag.copy()), "points": torch.from_numpy(self.points)}

    @classmethod
    def load(cls, path: str | Path) -> "DMDSurrogate":
        tensors, meta = load_tensors(path)
        return cls.from_tensors(tensors, meta, path)

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict, path: str | Path) -> "DMDSurrogate":
        """The model from a file's tensors and header (`path` names it in messages)."""
        try:
            arr = {k: tensors[k].double().numpy() for k in ("mean", "modes_re", "modes_im", "eigs_re", "eigs_im", "points")}
            op = DMDOperator(mean=arr["mean"], modes=arr["modes_re"] + 1j * arr["modes_im"],
                             eigs=arr["eigs_re"] + 1j * arr["eigs_im"], residual_gain=float(meta["residual_gain"]))
            n_ch = sum(int(c) for _, c in meta["field_layout"])
            if op.modes.shape[0] != op.mean.shape[0] or op.mean.shape[0] != arr["points"].shape[0] * n_ch:
                raise ValueError("tensor sizes disagree")
            sur = cls(op, arr["points"], meta)
        except (KeyError, TypeError, ValueError, EchoUserError) as exc:
            raise EchoUserError(f"{path}: a damaged DMD model file ({exc}); fit it again with `echopv train dmd`") from None
        sur.path = Path(path)
        return sur

    # --- the rollout -----------------------------------------------------------------------
    def _mesh_order(self, points: np.ndarray) -> np.ndarray:
        """Index into the input points of each training point; refuses another mesh."""
        pts = np.asarray(points, dtype=np.float64)
        n = self.points.shape[0]
        if pts.shape != self.points.shape:
            raise EchoUserError(
                f"this DMD model forecasts on the mesh it was fitted on ({n} points in {self.dim}D); the input has "
                f"{pts.shape[0]} points in {pts.shape[1] if pts.ndim == 2 else '?'}D: give it that mesh "
                "(the same case), or use an ECHO model, which is mesh-free")
        scale = float(np.ptp(self.points, axis=0).max()) or 1.0
        if np.abs(pts - self.points).max() <= 1e-6 * scale:
            return np.arange(n)
        idx, dist = nearest(self.points, pts)
        if dist.max() > 1e-6 * scale or np.unique(idx).size != n:
            raise EchoUserError(f"the input mesh has {n} points like the DMD model's, but not the same ones (largest "
                                f"offset {dist.max():.3g}): give it the mesh it was fitted on")
        return idx

    def state_error(self, points: np.ndarray, observed: np.ndarray) -> float:
        """Mean square (z-scored units) of the part of the last observed frame that the modes do not
        resolve: small for states like the training frames, large for others."""
        x0 = self._flat(np.asarray(observed, dtype=np.float32)[-1], self._mesh_order(points))
        return float(np.mean((x0 - self.op.resolved(x0)) ** 2))

    def rollout(self, points: np.ndarray, observed: np.ndarray, n_frames: int, query_points: np.ndarray | None = None,
                params: dict[str, float] | None = None, n_samples: int = 1, seed: int = 0,
                progress: Callable[[float], None] | None = None, **_: Any) -> RolloutResult:
        """Forecast `n_frames` frames after the last observed one (see `Surrogate.rollout`; one member)."""
        t0 = time.perf_counter()
        obs = np.asarray(observed, dtype=np.float32)
        obs = obs[..., None] if obs.ndim == 2 else obs
        if obs.ndim != 3 or obs.shape[0] < 1 or obs.shape[2] != self.n_channels:
            raise EchoUserError(f"observed values of shape {obs.shape}: the DMD model needs (frames, points, "
                                f"{self.n_channels}) in the order {self.field_layout}")
        if n_frames < 1:
            raise EchoUserError("n_frames must be >= 1")
        if not np.isfinite(obs[-1]).all():
            raise EchoUserError("the observed frame contains NaN or Inf: clean the input fields first")
        order = self._mesh_order(points)
        mean = self._physical(self.op.forecast(self._flat(obs[-1], order), int(n_frames)), order)
        if query_points is not None:
            mean = mean[:, nearest(np.asarray(query_points, dtype=np.float64), np.asarray(points, dtype=np.float64))[0]]
        if progress is not None:
            progress(1.0)
        return RolloutResult(mean=mean.astype(np.float32), std=None, samples=None,
                       times=self.dt * np.arange(1, n_frames + 1, dtype=np.float64),
                       field_layout=list(self.field_layout),
                       info={"segments": 1, "steps": 0, "sampler": "dmd", "n_samples": 1, "generator": "dmd",
                             "rank": self.op.rank, "wall_s": time.perf_counter() - t0})


def nearest(query: np.ndarray, points: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest of `points` for each query point (brute force, chunked)."""
    idx = np.empty(query.shape[0], dtype=np.int64)
    dist = np.empty(query.shape[0])
    p2 = (points ** 2).sum(axis=1)
    for s in range(0, query.shape[0], chunk):
        q = query[s:s + chunk]
        d2 = (q ** 2).sum(axis=1)[:, None] - 2.0 * q @ points.T + p2[None, :]
        idx[s:s + chunk] = np.argmin(d2, axis=1)
        dist[s:s + chunk] = np.sqrt(np.maximum(d2[np.arange(q.shape[0]), idx[s:s + chunk]], 0.0))
    return idx, dist

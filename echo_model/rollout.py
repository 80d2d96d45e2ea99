"""Surrogate: a loaded model bundle and the one `rollout` every consumer calls.

The CLI (`echopv rollout`), the ParaView filter, the benchmarks and the demo all call
`Surrogate.rollout`, so a fix here fixes them all.

CONTRACT (other modules rely on it; keep it stable):

    sur = Surrogate.load(path, device="auto")      # cached per (path, mtime, device): see load_cached
    sur.field_layout    -> list[(name, n_components)]  fields the model predicts (and needs as input)
    sur.dim             -> 2 or 3
    sur.dt              -> float, time between two frames of the training data
    sur.n_observed_frames -> int, physical frames the forecast needs as input (>= 1)
    sur.segment_frames  -> int, physical frames produced per generated segment
    res = sur.rollout(points (N,d) float, observed (T_obs,N,C) float32 physical units,
                      n_frames=int (frames to predict after the last observed one),
                      query_points=None (defaults to points), params=None (dict name->float),
                      n_samples=1, seed=0, steps=None, sampler=None,
                      progress=None (callable(fraction in [0,1])),
                      should_abort=None (callable() -> bool))
    res.mean  (n_frames, M, C) float32 physical units at query points
    res.std   (n_frames, M, C) float32 or None when n_samples == 1
    res.samples (n_samples, n_frames, M, C) float32 or None
    res.times (n_frames,) offsets after the last observed frame: dt, 2 dt, ...
    res.field_layout

Extra observed frames beyond n_observed_frames are allowed (the last ones are used); fewer
raise EchoUserError naming how many are needed.

Memory (echo_model/memory.py): rollout(..., keep_samples=True, memory=None | "2GB" | MemoryBudget,
output_copies=1, chunk_size=None). The rollout is estimated first and refused (EchoUserError with the
estimate and the fix) when it cannot fit the budget (default: the memory available now); the
continuous convolutions run in chunks sized from the budget, only the asked frames are decoded,
member by member, and the ensemble is reduced on the fly (running mean / variance).
keep_samples=False also drops the members (res.samples is None): the filter and the CLI do that.
sur.plan(n_points, n_query, n_frames, n_samples, keep_samples, memory) -> RolloutPlan (the estimate).

Additions (also stable):
    should_abort() returning True makes rollout raise `RolloutAborted` (between sampler steps).
    clear_cache()                          empty the load cache (e.g. after retraining in place)
    sur.save(path)                         write the model file (one .safetensors, see below)
    create_untrained(field_layout, dim, preset="tiny", ...) -> Surrogate
        random weights, built in well under a second: for tests (unit, VTK, ParaView) that need a
        real model file without training. `create_untrained(...).save("m.safetensors")`.
    export_bundle(ae_path, generator_ckpt, out_path) assemble a model file from an autoencoder
        model file and a DiT / baseline checkpoint (`echopv train dit|baseline` call it at the end).
    sur.generator_kind   "flow" (ECHO) or "baseline" (deterministic regression)
    sur.param_names      PDE parameters the model is conditioned on (missing ones default to the
                         training mean)

MODEL FILE (echo_model.bundle container): tensors "autoencoder.*" and "generator.*" (DiT);
JSON meta keys: kind="echo-surrogate", generator_kind ("flow" | "baseline"), autoencoder (its
AutoencoderConfig, so nn.autoencoder.load_autoencoder reads this file too), dit (DiTConfig),
latent_mean / latent_std (per latent channel: the generator works on normalised latents),
field_layout, dim, stats (ChannelStats), domain (Domain), dt, train_horizon_frames (frames of dt the
longest training trajectory spans, when the trainer recorded it), task_probs (the training task-mask
probabilities, flow.TaskProbs.to_dict(), when the generator checkpoint recorded them), latent_frames (T_l of a segment),
known_latent_frames (k, latent frames the forecast conditions on), time_factor (f, physical
frames per latent frame after frame 0), param_names, param_mean, param_std, sampler, steps,
provenance.

ROLLOUT ALGORITHM: one segment = T_l latent frames = 1 + f (T_l - 1) physical frames. The
observed n_observed_frames = 1 + f (k - 1) frames are encoded (the encoder is causal, so these
latent frames equal those of the full window), the remaining T_l - k latent frames are generated
(flow sampler or deterministic baseline), decoded at the query points, and for longer horizons
the last n_observed_frames decoded frames are re-encoded as the next segment's condition (its
clean latent frame 0 thanks to causality).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import flow
from .bundle import build_from_file, load_tensors, prefixed, read_meta, save_tensors, unprefixed
from .errors import EchoUserError
from .header_check import MAX_SAMPLER_STEPS
from .data.normalize import ChannelStats, Domain
from .device import resolve_device
from .memory import MemoryBudget, RolloutPlan, RolloutShape, auto_chunk_size, plan_rollout
from .nn.dit import DiT, DiTConfig, dit_config
from .rollout_result import RolloutAborted, RolloutResult  # noqa: F401 (re-exported: the contract's names)
# the model file's header and assembly (model_file.py), re-exported for the callers of this module
from .model_file import (AE_KEY, GEN_KEY, KIND, ModelMeta, ae_file_info, ae_time_factor,  # noqa: F401
                         build_autoencoder, export_bundle, surrogate_meta)

SEGMENT_SEED_STRIDE = 7919


# ------------------------------------------------------------------------------------------
# Load cache
# ------------------------------------------------------------------------------------------
_CACHE: dict[tuple[str, int, str], "Surrogate"] = {}


def clear_cache() -> None:
    _CACHE.clear()


def load_cached(path: str | os.PathLike, device: str | torch.device = "auto") -> "Surrogate":
    p = Path(path).resolve()
    if not p.exists():
        raise FileNotFoundError(f"no model file at {p} (train one with `echopv train dit`)")
    dev = resolve_device(device)
    key = (str(p), p.stat().st_mtime_ns, str(dev))
    if key not in _CACHE:
        # drop stale entries of the same file (older mtime) so memory does not grow
        for k in [k for k in _CACHE if k[0] == key[0] and k[2] == key[2]]:
            del _CACHE[k]
        _CACHE[key] = Surrogate._load_uncached(p, dev)
    return _CACHE[key]


# ------------------------------------------------------------------------------------------
# Surrogate
# ------------------------------------------------------------------------------------------
class Surrogate:
    def __init__(self, ae: torch.nn.Module, gen: DiT, meta: dict[str, Any], device: str | torch.device = "cpu") -> None:
        self.device = resolve_device(device)
        self.ae = ae.to(self.device).eval()
        self.gen = gen.to(self.device).eval()
        for p in list(self.ae.parameters()) + list(self.gen.parameters()):
            p.requires_grad_(False)
        self.meta = dict(meta)
        m = ModelMeta.from_dict(meta, latent_dim=int(self.ae.latent_dim), ae_time_factor=ae_time_factor(self.ae))
        self.field_layout: list[tuple[str, int]] = m.field_layout
        self.dim, self.dt, self.stats, self.domain = m.dim, m.dt, m.stats, m.domain
        self.latent_frames, self.known_latent_frames, self.time_factor = m.latent_frames, m.known_latent_frames, m.time_factor
        self.generator_kind = m.generator_kind
        self.latent_mean = torch.as_tensor(m.latent_mean, dtype=torch.float32, device=self.device)
        self.latent_std = torch.as_tensor(m.latent_std, dtype=torch.float32, device=self.device)
        self.param_names: list[str] = m.param_names
        self.param_mean, self.param_std = m.param_mean, m.param_std
        self.default_sampler, self.default_steps = m.sampler, m.steps

    # --- contract properties -------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        return sum(c for _, c in self.field_layout)

    @property
    def window_frames(self) -> int:
        """Physical frames of one whole segment window (observed + generated)."""
        return 1 + self.time_factor * (self.latent_frames - 1)

    @property
    def n_observed_frames(self) -> int:
        return 1 + self.time_factor * (self.known_latent_frames - 1)

    @property
    def segment_frames(self) -> int:
        return self.time_factor * (self.latent_frames - self.known_latent_frames)

    # --- I/O -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto", cache: bool = True) -> "Surrogate":
        """Load a complete model file: ECHO (autoencoder + generator in one .safetensors) or DMD.

        A DMD file (kind "echo-dmd", `echopv train dmd`) gives an `echo_model.dmd.DMDSurrogate`,
        which keeps this class's rollout contract, so every consumer takes either kind.

        Parameters
        ----------
        path : str or os.PathLike
            The model file: `RUN/model.safetensors` of `echopv train all`, or what `echopv train dit`
            writes. Never unpickled: weights plus a JSON header.
        device : str or torch.device, default "auto"
            "auto" (the GPU when torch sees one, else the CPU), "cpu", "cuda" or "cuda:N"; cuda
            without a GPU is an EchoUserError that says so.
        cache : bool, default True
            Return the instance already loaded from this file (same modification time and device)
            instead of reading it again; a rewritten file is read afresh.

        Returns
        -------
        Surrogate
            Ready for `rollout`. `field_layout`, `dim`, `n_observed_frames`, `segment_frames`, `dt`
            and `param_names` say what it observes and predicts.

        Example
        -------
        >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
        >>> sur.field_layout, sur.dim, sur.n_observed_frames, sur.param_names
        ([('vorticity', 1)], 2, 1, ['nu'])
        """
        if cache:
            return load_cached(path, device)
        return cls._load_uncached(Path(path), resolve_device(device))

    @classmethod
    def _load_uncached(cls, path: Path, device: torch.device) -> "Surrogate":
        meta = read_meta(path)
        if meta.get("kind") == "echo-dmd":  # the other model kinds: same contract (echo_model.dmd, .hybrid)
            from .dmd import DMDSurrogate

            return DMDSurrogate.load(path)
        if meta.get("kind") == "echo-hybrid":
            from .hybrid import HybridSurrogate

            return HybridSurrogate.load(path, device, echo_from_tensors=cls.from_tensors)
        if meta.get("kind") != KIND:
            raise EchoUserError(
                f"{path} is an ECHO file of kind {meta.get('kind')!r}, not a complete surrogate; "
                "assemble one with `echopv train dit` (it writes the bundle) or echo_model.model_file.export_bundle"
            )
        tensors, meta = load_tensors(path)
        return cls.from_tensors(tensors, meta, path, device)

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict, path: Path, device: torch.device) -> "Surrogate":
        """The surrogate from a model file's tensors and header (`path` names it in messages)."""
        ae = build_from_file(lambda: build_autoencoder(meta[AE_KEY]), unprefixed(tensors, AE_KEY), path,
                             "autoencoder", meta.get(AE_KEY))
        gen = build_from_file(lambda: DiT(DiTConfig.from_dict(meta["dit"])), unprefixed(tensors, GEN_KEY), path,
                              "generator", meta.get("dit"))
        try:
            sur = cls(ae, gen, meta, device)
        except (KeyError, TypeError, ValueError) as exc:
            raise EchoUserError(f"{path}: its header lacks or mangles {exc}: re-export the model file") from None
        sur.path = path
        return sur

    def tensors(self) -> dict[str, torch.Tensor]:
        return {**prefixed(self.ae.state_dict(), AE_KEY), **prefixed(self.gen.state_dict(), GEN_KEY)}

    def save(self, path: str | os.PathLike) -> Path:
        meta = {k: v for k, v in self.meta.items() if k not in ("format", "format_version")}
        meta["kind"] = KIND
        return save_tensors(path, self.tensors(), meta)

    # --- helpers -------------------------------------------------------------------------
    def _param_vector(self, params: dict[str, float] | None, batch: int) -> torch.Tensor | None:
        if not self.param_names or self.gen.cfg.param_dim == 0:
            return None
        params = params or {}
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise EchoUserError(f"unknown parameters {unknown}; this model is conditioned on {self.param_names}: "
                                "leave the others out, or use a model trained with them")
        vec = np.array([_param_value(params, n, self.param_mean[i]) for i, n in enumerate(self.param_names)],
                       dtype=np.float64)
        vec = (vec - self.param_mean) / np.where(self.param_std > 0, self.param_std, 1.0)
        return torch.as_tensor(vec, dtype=torch.float32, device=self.device)[None].expand(batch, -1)

    def _points(self, points: np.ndarray) -> torch.Tensor:
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != self.dim:
            raise EchoUserError(f"points must be (N, {self.dim}) for this {self.dim}-D model, got {pts.shape}: give "
                                f"{self.dim}-D points")
        return torch.as_tensor(self.domain.to_unit(pts), device=self.device)

    def _lat_shape(self, z: torch.Tensor) -> tuple[int, ...]:
        return (1, z.shape[1]) + (1,) * (z.dim() - 2)

    @torch.no_grad()
    def encode(self, points_u: torch.Tensor, values_n: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """points (N, d) unit coords, values (B, T, N, C) z-scored -> normalised z (B, D, T_l, *S)."""
        b = values_n.shape[0]
        pts = points_u[None].expand(b, -1, -1)
        z = self.ae.encode(pts, values_n, chunk_size=chunk_size)
        return (z - self.latent_mean.reshape(self._lat_shape(z))) / self.latent_std.reshape(self._lat_shape(z))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, points_u: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """normalised z (B, D, T_l, *S) -> (B, T, M, C) z-scored values at points_u (M, d)."""
        z = z * self.latent_std.reshape(self._lat_shape(z)) + self.latent_mean.reshape(self._lat_shape(z))
        pts = points_u[None].expand(z.shape[0], -1, -1)
        return self.ae.decode(z, pts, chunk_size=chunk_size)

    @torch.no_grad()
    def reconstruct(self, points: np.ndarray, frames: np.ndarray, query_points: np.ndarray | None = None,
                    chunk_size: int | None = None) -> np.ndarray:
        """The autoencoder's round trip, no generation: what the model can represent of these frames.

        Parameters
        ----------
        points : (N, dim) physical coordinates the frames are given at.
        frames : (T, N, C) physical values; T frames of one window (at most `window_frames`).
        query_points : (M, dim), optional
            Where to decode (default: `points`). Encoding at a few probes and decoding everywhere is
            the autoencoder's share of Reconstruct; encoding a subset of a mesh asks "is it the mesh or the flow?".
        chunk_size : points per continuous-convolution chunk (default: from the memory available).

        Returns
        -------
        (T, M, C) physical values: the floor of any forecast that this autoencoder decodes.

        Example
        -------
        >>> from echo_model.data.store import TrajectoryStore
        >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
        >>> with TrajectoryStore("sample_cases/ns2d_vorticity/ns2d_64.h5") as store:
        ...     traj = store[0]
        >>> rec = sur.reconstruct(traj.points, traj.fields[: sur.window_frames])
        >>> rec.shape == traj.fields[: sur.window_frames].shape
        True
        """
        obs = np.asarray(frames, dtype=np.float32)
        vals = torch.as_tensor(self.stats.normalize(obs), device=self.device)
        pts = self._points(points)
        qpts = pts if query_points is None else self._points(query_points)
        rec = self._round_trip(pts, vals, qpts, chunk_size or auto_chunk_size())
        return self.stats.denormalize(rec.float().cpu().numpy())

    def _round_trip(self, pts: torch.Tensor, vals: torch.Tensor, qpts: torch.Tensor, chunk: int) -> torch.Tensor:
        """(T, N, C) z-scored values at unit points -> (T, M, C) z-scored at unit query points."""
        z = self.encode(pts, vals[None], chunk_size=chunk)
        return self.decode_frames(z, qpts, list(range(vals.shape[0])), chunk_size=chunk)

    @torch.no_grad()
    def state_error(self, points: np.ndarray, observed: np.ndarray, chunk_size: int | None = None) -> float:
        """Mean squared reconstruction error (z-scored units) of the last observed frames: how well the
        autoencoder knows this state. Frames like the training ones reconstruct at the level recorded in
        the header ("state_reference"); a state unlike them (a flow at rest, another regime) does not.
        Chunked like a rollout (default: from the memory available), so a 128^3 mesh does not hold every
        point's continuous-convolution terms at once."""
        obs = np.asarray(observed, dtype=np.float32)[-self.n_observed_frames:]
        pts = self._points(points)
        vals = torch.as_tensor(self.stats.normalize(obs), device=self.device)
        rec = self._round_trip(pts, vals, pts, chunk_size or auto_chunk_size())
        return float(((rec - vals) ** 2).mean())

    @torch.no_grad()
    def decode_frames(self, z: torch.Tensor, points_u: torch.Tensor, frames: Sequence[int],
                      chunk_size: int | None = None) -> torch.Tensor:
        """One member's normalised z (1, D, T_l, *S) -> (len(frames), M, C) z-scored values of the
        chosen window frames only: the grid CNN runs on the whole window (it is causal in time and
        small), the continuous convolution to the points only on the frames asked for."""
        z = z * self.latent_std.reshape(self._lat_shape(z)) + self.latent_mean.reshape(self._lat_shape(z))
        h = self.ae.decoder.cnn(z)  # (1, C0, T, *S)
        h = h[0, :, list(frames)].transpose(0, 1)  # (F, C0, *S)
        return self.ae.decoder.to_points(h, points_u, chunk_size=chunk_size)

    def generate(
        self,
        z_known: torch.Tensor,
        mask: torch.Tensor,
        params: torch.Tensor | None,
        steps: int,
        sampler: str,
        generator: torch.Generator,
        cfg_scale: float = 1.0,
        on_step: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Fill the unobserved latent frames of z_known (B, D, T_l, *S) given mask (B, T_l)."""
        if self.generator_kind == "baseline":
            return flow.predict_deterministic(self.gen, z_known, mask, params)
        return flow.sample(
            self.gen, z_known, mask, steps=steps, sampler=sampler, generator=generator,
            cfg_scale=cfg_scale, params=params, on_step=on_step,
        )

    # --- the rollout ---------------------------------------------------------------------
    def rollout_shape(self, n_points: int, n_query: int, n_frames: int, n_samples: int = 1,
                      keep_samples: bool = True, output_copies: int = 1) -> RolloutShape:
        """What decides the memory of a rollout of this model (for `memory.plan_rollout`)."""
        cfg = self.ae.config
        n_samples = 1 if self.generator_kind == "baseline" else max(1, int(n_samples))
        return RolloutShape(
            n_points=int(n_points), n_query=int(n_query), n_channels=self.n_channels,
            n_observed=self.n_observed_frames, n_frames=int(n_frames), window_frames=self.window_frames,
            n_samples=n_samples, keep_samples=bool(keep_samples), dim=self.dim,
            enc_radius=float(cfg.enc_radius), dec_radius=float(cfg.dec_radius),
            n_nodes=int(math.prod(cfg.grid)), output_copies=int(output_copies),
        )

    def plan(self, n_points: int, n_query: int, n_frames: int, n_samples: int = 1, keep_samples: bool = True,
             memory: MemoryBudget | str | int | None = None, output_copies: int = 1) -> RolloutPlan:
        """Memory estimate + chunk size of a rollout; raises EchoUserError when it cannot fit."""
        budget = memory if isinstance(memory, MemoryBudget) else MemoryBudget.parse(memory)
        return plan_rollout(self.rollout_shape(n_points, n_query, n_frames, n_samples, keep_samples, output_copies),
                            budget)

    def _check_rollout_inputs(self, points: np.ndarray, obs: np.ndarray, n_frames: int) -> np.ndarray:
        if obs.ndim == 2:
            obs = obs[..., None]
        n_obs = self.n_observed_frames
        if obs.ndim != 3:
            raise ValueError(f"observed must be (T_obs, N, C), got shape {obs.shape}")
        if obs.shape[0] < n_obs:
            raise EchoUserError(
                f"this model needs {n_obs} observed frame(s) (got {obs.shape[0]}): give at least {n_obs} input time steps"
            )
        if obs.shape[2] != self.n_channels:
            raise EchoUserError(
                f"observed values have {obs.shape[2]} channels but the model expects {self.n_channels} "
                f"({self.field_layout}): give the model's fields, in that order"
            )
        if obs.shape[1] != np.asarray(points).shape[0]:
            raise ValueError(f"observed has {obs.shape[1]} points but points has {np.asarray(points).shape[0]}")
        if not np.all(np.isfinite(obs[-n_obs:])):
            raise EchoUserError("observed frames contain NaN or Inf: clean the input fields first")
        if n_frames < 1:
            raise EchoUserError(f"n_frames {n_frames}: give the number of frames to predict (>= 1)")
        return obs

    @torch.no_grad()
    def rollout(
        self,
        points: np.ndarray,
        observed: np.ndarray,
        n_frames: int,
        query_points: np.ndarray | None = None,
        params: dict[str, float] | None = None,
        n_samples: int = 1,
        seed: int = 0,
        steps: int | None = None,
        sampler: str | None = None,
        progress: Callable[[float], None] | None = None,
        should_abort: Callable[[], bool] | None = None,
        cfg_scale: float = 1.0,
        keep_samples: bool = True,
        memory: MemoryBudget | str | int | None = None,
        output_copies: int = 1,
        chunk_size: int | None = None,
        anchor: bool | np.ndarray | None = None,
    ) -> RolloutResult:
        """Predict `n_frames` frames after the observed ones, at the input points or at other points.

        The forecast runs segment by segment (see the module docstring); the ensemble is reduced
        on the fly (running mean and variance), and the memory it needs is estimated up front.

        Parameters
        ----------
        points : numpy.ndarray, shape (N, dim)
            Coordinates of the observed values, in the model's physical units (any point set:
            the model is mesh-free).
        observed : numpy.ndarray, shape (T_obs, N, C) or (T_obs, N) for one channel
            The last frames before the forecast; at least `n_observed_frames` (the last ones are
            used), channels in `field_layout` order, finite.
        n_frames : int
            Frames to predict (>= 1), `dt` apart; longer than one segment (`segment_frames`) rolls
            out segment after segment.
        query_points : numpy.ndarray, shape (M, dim), optional
            Where to evaluate the prediction (another mesh, a finer grid); default the input points.
        params : dict of str to float, optional
            PDE parameters the model is conditioned on (`param_names`); a missing one takes its
            training mean.
        n_samples : int, default 1
            Ensemble members (a deterministic baseline model always gives one).
        seed : int, default 0
            Seed of the sampler's noise: the same seed gives the same prediction.
        steps : int, optional
            Sampler steps per segment (default: the model's); each costs
            `flow.SAMPLER_EVALS[sampler]` network evaluations.
        sampler : {"euler", "heun", "midpoint"}, optional
            Flow-matching integrator (default: the model's).
        progress : callable(float), optional
            Called with the completed fraction in [0, 1].
        should_abort : callable() -> bool, optional
            Polled between network evaluations; True raises RolloutAborted.
        cfg_scale : float, default 1.0
            Classifier-free guidance scale (1 = none; other values double the evaluations).
        keep_samples : bool, default True
            Keep every ensemble member in `samples` (False: only mean and spread, less memory).
        memory : MemoryBudget, str, int or None
            Memory bound ("2GB", bytes, a MemoryBudget; None: what is available): the rollout is
            estimated first and refused with an EchoUserError naming the estimate if it cannot fit.
        output_copies : int, default 1
            Copies of the outputs the caller will make (counted in the memory estimate).
        chunk_size : int, optional
            Override of the planned continuous-convolution chunk (tests, benchmarks).
        anchor : bool or numpy.ndarray, optional
            Apply the decoder error feedback stored in the model file (`echopv anchor-gains`);
            default: when the file has gains. An array (segment_frames, C) applies these gains
            instead (what `anchor.fit_anchor_gains` probes with).

        Returns
        -------
        RolloutResult
            `mean` (n_frames, M, C) and, for n_samples > 1, `std` (same shape) and `samples`
            (n_samples, n_frames, M, C), in physical units; `times` (n_frames,) relative to the
            last observed frame; `field_layout`; `info` (segments, steps, sampler, wall_s, ...).

        Example
        -------
        >>> from echo_model.data.store import TrajectoryStore
        >>> sur = Surrogate.load("sample_cases/ns2d_vorticity/model_tiny.safetensors", device="cpu")
        >>> with TrajectoryStore("sample_cases/ns2d_vorticity/ns2d_64.h5") as store:
        ...     traj = store[0]
        >>> res = sur.rollout(traj.points, traj.fields[: sur.n_observed_frames], n_frames=4,
        ...                   params=traj.params, n_samples=2, steps=2)
        >>> res.mean.shape, res.std.shape, res.times.tolist()
        ((4, 4096, 1), (4, 4096, 1), [0.5, 1.0, 1.5, 2.0])
        """
        t0 = time.perf_counter()
        obs = self._check_rollout_inputs(points, np.asarray(observed, dtype=np.float32), n_frames)
        if self.generator_kind == "baseline":
            n_samples = 1  # deterministic: an ensemble would be K copies of one prediction
        if n_samples < 1:
            raise EchoUserError(f"n_samples {n_samples}: the ensemble needs at least 1 member")
        n_query = obs.shape[1] if query_points is None else np.asarray(query_points).shape[0]
        plan = self.plan(obs.shape[1], n_query, n_frames, n_samples, keep_samples, memory, output_copies)
        chunk = int(chunk_size or (plan.chunk_size if self.device.type != "cuda" else _gpu_chunk(self.device)))
        steps = int(self.default_steps if steps is None else steps)
        sampler = sampler or self.default_sampler
        n_seg = math.ceil(n_frames / self.segment_frames)
        check_sampler(steps, sampler, n_seg, n_samples)
        pts = self._points(points)
        qpts = pts if query_points is None else self._points(query_points)
        vals = torch.as_tensor(self.stats.normalize(obs[-self.n_observed_frames:]), device=self.device)
        tick = progress_ticker(n_seg * flow.sampler_evaluations(sampler, steps), progress, should_abort)
        acc = _EnsembleAccumulator(n_samples, (n_frames, n_query, self.n_channels), keep_samples)
        gains = self._anchor_gains(anchor) if query_points is None else None
        self._roll_segments(pts, qpts, vals, query_points is None, n_frames, acc, chunk, gains, seed=seed,
                            params=params, steps=steps, sampler=sampler,
                            cfg_scale=cfg_scale, tick=tick, should_abort=should_abort)
        mean, std, samples = self._finite_result(acc)
        if progress is not None:
            progress(1.0)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return RolloutResult(
            mean=mean, std=std, samples=samples,
            times=self.dt * np.arange(1, n_frames + 1, dtype=np.float64),
            field_layout=list(self.field_layout),
            info={"segments": n_seg, "steps": steps, "sampler": sampler, "n_samples": n_samples,
                  "wall_s": time.perf_counter() - t0, "generator": self.generator_kind,
                  "chunk_size": chunk, "memory_estimate_bytes": plan.total},
        )

    def _roll_segments(self, pts: torch.Tensor, qpts: torch.Tensor, vals: torch.Tensor, same_query: bool,
                       n_frames: int, acc: "_EnsembleAccumulator", chunk: int, gains: torch.Tensor | None, *,
                       seed: int, params: dict[str, float] | None, steps: int, sampler: str, cfg_scale: float, tick: Callable[[], None],
                       should_abort: Callable[[], bool] | None) -> None:
        """Encode the observed frames (vals, normalised), then generate and decode segment after segment
        into `acc` until n_frames frames are produced, each segment conditioned on the previous one's end."""
        n_samples = acc.n
        # per member: the last frame known exactly (normalised), for the decoder error feedback
        last_known = vals[-1][None].expand(n_samples, -1, -1) if gains is not None else None
        z_cond = self.encode(pts, vals[None], chunk)
        z_cond = z_cond.expand(n_samples, *z_cond.shape[1:])
        n_seg = math.ceil(n_frames / self.segment_frames)
        produced = 0
        for seg in range(n_seg):
            if should_abort is not None and should_abort():
                raise RolloutAborted("rollout aborted by the caller")
            take = min(self.segment_frames, n_frames - produced)
            z = self._generate_segment(z_cond, seg, seed, p_vec=self._param_vector(params, n_samples),
                                       steps=steps, sampler=sampler, cfg_scale=cfg_scale, tick=tick)
            z_cond, last_known = self._decode_segment(z, pts, qpts, same_query, take, produced,
                                                      seg + 1 < n_seg, acc, chunk, gains, last_known)
            produced += take

    def _finite_result(self, acc: "_EnsembleAccumulator") -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(mean, std, samples) of the ensemble; NaN/Inf never leaves as a result."""
        mean, std, samples = acc.result()
        if not (np.isfinite(mean).all() and (std is None or np.isfinite(std).all())):
            raise EchoUserError(f"the rollout of {getattr(self, 'path', 'this model')} produced NaN/Inf values: "
                                "the input lies far outside the training data or the model is damaged")
        return mean, std, samples

    def _generate_segment(self, z_cond: torch.Tensor, seg: int, seed: int, *, p_vec, steps: int, sampler: str,
                          cfg_scale: float, tick: Callable[[], None]) -> torch.Tensor:
        """One segment's latent window for every ensemble member, conditioned on z_cond's first k frames."""
        k, tl, n_samples = self.known_latent_frames, self.latent_frames, z_cond.shape[0]
        z_known = torch.zeros(n_samples, z_cond.shape[1], tl, *z_cond.shape[3:], device=self.device)
        z_known[:, :, :k] = z_cond[:, :, :k]
        mask = flow.forward_mask(n_samples, tl, k, device=self.device)
        # segment s draws its noise from seed + SEGMENT_SEED_STRIDE * s: a rollout restarted
        # from the end of segment s with that seed reproduces segment s + 1 (tests rely on it)
        gen = torch.Generator().manual_seed(int(seed) + SEGMENT_SEED_STRIDE * seg)
        z = self.generate(z_known, mask, p_vec, steps, sampler, gen, cfg_scale, on_step=tick)
        if self.generator_kind == "baseline":
            for _ in range(flow.sampler_evaluations(sampler, steps)):
                tick()
        return z

    def _decode_segment(self, z: torch.Tensor, pts: torch.Tensor, qpts: torch.Tensor, same_query: bool, take: int,
                        produced: int, more: bool, acc: "_EnsembleAccumulator", chunk: int,
                        gains: torch.Tensor | None, last_known: torch.Tensor | None
                        ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Decode only the frames asked for, member by member, into the accumulator; re-encode the
        last n_obs frames as the next segment's condition when `more`. With anchor gains, the
        decoder error feedback is applied to the new frames (see _anchor_gains)."""
        n_obs, t_win = self.n_observed_frames, self.window_frames
        new = list(range(n_obs, n_obs + (self.segment_frames if gains is not None and more else take)))
        last = list(range(t_win - n_obs, t_win)) if more else []
        ref = [n_obs - 1] if gains is not None else []
        sel = sorted(set(new) | set(last) | set(ref)) if same_query else new
        nxt, known = [], []
        for i in range(z.shape[0]):
            dec = self.decode_frames(z[i : i + 1], qpts, sel, chunk)  # (len(sel), M, C) normalised
            pos = {f: j for j, f in enumerate(sel)}
            if gains is not None:  # decoder error feedback, in place on the new frames
                ids = [pos[f] for f in new]
                dec[ids] += gains[: len(new)] * (last_known[i] - dec[pos[n_obs - 1]])[None]
                known.append(dec[pos[new[-1]]].clone())
            for j, f in enumerate(new[:take]):
                acc.add(i, produced + j, self.stats.denormalize(dec[pos[f]].float().cpu().numpy()))
            if more:
                dec_p = dec[[pos[f] for f in last]] if same_query else self.decode_frames(z[i : i + 1], pts, last, chunk)
                del dec
                nxt.append(self.encode(pts, dec_p[None], chunk))
        z_next = torch.cat(nxt, 0) if more else None
        return z_next, (torch.stack(known, 0) if known else None)

    def _anchor_gains(self, anchor: bool | np.ndarray | None) -> torch.Tensor | None:
        """Per-lead-time gains (T_seg, 1, C) of the decoder error feedback, or None when off.

        The autoencoder's error on a predicted frame is largely the error it makes on the last
        known frame (same scales lost, same grid aliasing). Adding gain_t x (known - decoded) of the
        last known frame to frame t removes that shared part: with gain 1 this is decoding the
        change from the last known frame, so the error scales with the increment, not the field.
        Gains were fitted on training windows (`fit_anchor_gains`) and live in the model file;
        `anchor=None` uses them when present, True requires them, False turns the feedback off.
        """
        if anchor is not None and not isinstance(anchor, bool):  # explicit gains
            anchor, stored = True, anchor
        else:
            stored = self.meta.get("anchor_gains")
        if anchor is False or (anchor is None and not stored):
            return None
        if stored is None or not len(stored):
            raise EchoUserError("this model file has no anchor gains: add them with `echopv anchor-gains` "
                                "or roll out with anchor=False")
        g = torch.as_tensor(np.asarray(stored, dtype=np.float32), device=self.device)
        if g.ndim == 1:
            g = g[:, None]
        return g[: self.segment_frames, None, :]


def _param_value(params: dict, name: str, default: float) -> float:
    """A PDE parameter as a finite number; anything else is refused naming it (a NaN parameter used to
    surface as "the model is damaged" after the whole rollout)."""
    value = params.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise EchoUserError(f"parameter {name!r} = {value!r}: the model is conditioned on {name} and needs a finite "
                            f"number; fix the value in the input (the dataset's or the series' parameters) or leave "
                            f"it out to use the training mean")
    return number


def progress_ticker(total: int, progress: Callable[[float], None] | None,
                    should_abort: Callable[[], bool] | None) -> Callable[[], None]:
    """A callback for each network evaluation: reports the fraction done of `total` and raises
    RolloutAborted as soon as `should_abort()` says so."""
    done = [0]

    def tick() -> None:
        done[0] += 1
        if should_abort is not None and should_abort():
            raise RolloutAborted("rollout aborted by the caller")
        if progress is not None:
            progress(min(1.0, done[0] / max(1, total)))

    return tick


def check_sampler(steps: int, sampler: str, n_segments: int, n_samples: int) -> None:
    """Refuse sampler settings that cannot finish (steps of 1e9) or mean nothing, before any work.

    Raises
    ------
    EchoUserError
        Naming the option (--steps / SamplingSteps, --sampler), the work it asks for and the fix.
    """
    if sampler not in flow.SAMPLER_EVALS:
        raise EchoUserError(f"--sampler {sampler!r} is not a sampler: use one of {', '.join(flow.SAMPLER_EVALS)}")
    if not 1 <= steps <= MAX_SAMPLER_STEPS:
        evals = n_segments * max(1, n_samples) * flow.SAMPLER_EVALS[sampler] * max(steps, 0)
        raise EchoUserError(
            f"--steps (SamplingSteps) {steps}: sampler steps per segment must be 1 to {MAX_SAMPLER_STEPS} "
            f"(10 to 50 are usual); {steps} would take {evals:.3g} network evaluations for {n_segments} segment(s) "
            f"x {max(1, n_samples)} member(s). Pass fewer steps, or leave it out to use the model's default")


def _gpu_chunk(device: torch.device) -> int:
    """GPUs want big chunks (few kernel launches): a quarter of the free device memory, at most 2^22 terms."""
    from .memory import BYTES_PER_TERM

    free, _ = torch.cuda.mem_get_info(device)
    return int(max(1 << 15, min(1 << 22, free // 4 // BYTES_PER_TERM)))


class _EnsembleAccumulator:
    """Ensemble mean and variance reduced on the fly (Welford, float32, in preallocated arrays);
    members are kept only when asked. Member i must be added frame by frame before member i + 1
    for a given frame (any frame order)."""

    def __init__(self, n_samples: int, shape: tuple[int, int, int], keep: bool) -> None:
        self.n = n_samples
        self.mean = np.zeros(shape, dtype=np.float32)
        self.m2 = np.zeros(shape, dtype=np.float32) if n_samples > 1 else None
        self.samples = np.empty((n_samples, *shape), dtype=np.float32) if keep and n_samples > 1 else None

    def add(self, member: int, frame: int, x: np.ndarray) -> None:
        if self.samples is not None:
            self.samples[member, frame] = x
        mean = self.mean[frame]
        if member == 0:
            mean[...] = x
            return
        d = x - mean
        mean += d / np.float32(member + 1)
        d *= x - mean
        self.m2[frame] += d

    def result(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        std = None
        if self.m2 is not None:
            std = self.m2
            std /= np.float32(self.n)
            np.sqrt(std, out=std)
            self.m2 = None
        return self.mean, std, self.samples


# ------------------------------------------------------------------------------------------
# Building model files
# ------------------------------------------------------------------------------------------
def create_untrained(
    field_layout: Sequence[tuple[str, int]],
    dim: int,
    preset: str = "tiny",
    *,
    dt: float = 1.0,
    domain: Domain | None = None,
    stats: ChannelStats | None = None,
    param_names: Sequence[str] = (),
    latent_frames: int | None = None,
    known_latent_frames: int = 1,
    generator_kind: str = "flow",
    steps: int = 2,
    sampler: str = "euler",
    seed: int = 0,
    device: str = "cpu",
) -> Surrogate:
    """A random-weight surrogate with the real architecture, built in about a second.

    For tests: outputs are meaningless but finite and have the right shapes. Defaults to a
    2-step Euler sampler so a test rollout is fast. Save it with `.save(path)`.
    """
    from .presets import DEFAULT_FRAMES, autoencoder_config

    torch.manual_seed(seed)
    layout = [(str(n), int(c)) for n, c in field_layout]
    n_ch = sum(c for _, c in layout)
    domain = domain or Domain(np.zeros(dim), np.ones(dim))
    ae_cfg = autoencoder_config(preset, dim=dim, in_channels=n_ch, periodic=domain.periodic)
    ae = build_autoencoder(ae_cfg.to_dict())
    f = ae_time_factor(ae)
    tl = latent_frames or (1 + (DEFAULT_FRAMES.get(preset, 1 + 2 * f) - 1) // f)
    dcfg = dit_config(preset, latent_dim=int(ae.latent_dim), spatial_dims=dim, param_dim=len(param_names))
    gen = DiT(dcfg)
    meta = surrogate_meta(
        ae_config=ae_cfg.to_dict(),
        dit_cfg=dcfg,
        field_layout=layout,
        dim=dim,
        stats=stats or ChannelStats(np.zeros(n_ch), np.ones(n_ch)),
        domain=domain,
        dt=dt,
        latent_frames=tl,
        known_latent_frames=known_latent_frames,
        time_factor=f,
        latent_mean=[0.0] * ae.latent_dim,
        latent_std=[1.0] * ae.latent_dim,
        generator_kind=generator_kind,
        param_names=param_names,
        sampler=sampler,
        steps=steps,
        provenance={"created_by": "create_untrained", "trained": False, "preset": preset, "seed": seed},
    )
    return Surrogate(ae, gen, meta, device)



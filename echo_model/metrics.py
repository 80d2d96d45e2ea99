"""Error metrics for trajectories; numpy only, used by tests, `echopv eval` and benchmarks.

Shapes: a trajectory batch is (B, T, N, C) (prediction and truth in the same units, usually
physical). A single trajectory (T, N, C) is treated as B = 1.

Reductions (stated because peers differ in how they average):
  rel_mse  = mean over trajectories b of  sum_{t,n,c} (p - u)^2 / sum_{t,n,c} u^2
             (per trajectory over points, frames and channels; then the plain mean over b)
  rel_l2   = mean over trajectories b of  sqrt( sum (p - u)^2 / sum u^2 )   (Zebra's RelativeL2)
  curves   = the same two quantities per frame t (sums over n, c only), then mean over b.
Energy spectra: on a regular periodic (H, W) or (D, H, W) grid of P points, E(k) = 1/2 sum over
|k'| in [k-0.5, k+0.5) of |FFT(u)|^2 / P^2, summed over channels; the spectrum error is the mean over
1 <= k <= k_max of |log10 E_pred(k) - log10 E_true(k)| (k_max: all, or N // 3 for dealiased data).
Per field (`per_field_scores`): the same reductions over one field's channels only, so a field
with large values (p) does not hide one with small values (U); correlations are per field too.
Correlation time: the lead time (in frames, the first predicted frame = 1) up to which the
prediction/truth correlation stays >= CORRELATION_THRESHOLD.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

_EPS = 1e-30
CORRELATION_THRESHOLD = 0.8


def _batch(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"expected (B, T, N, C) or (T, N, C), got shape {a.shape}")
    return a


def rel_mse(pred: np.ndarray, true: np.ndarray) -> float:
    p, u = _batch(pred), _batch(true)
    if p.shape != u.shape:
        raise ValueError(f"prediction {p.shape} and truth {u.shape} differ in shape")
    num = ((p - u) ** 2).sum(axis=(1, 2, 3))
    den = (u**2).sum(axis=(1, 2, 3)) + _EPS
    return float((num / den).mean())


def rel_l2(pred: np.ndarray, true: np.ndarray) -> float:
    p, u = _batch(pred), _batch(true)
    if p.shape != u.shape:
        raise ValueError(f"prediction {p.shape} and truth {u.shape} differ in shape")
    num = ((p - u) ** 2).sum(axis=(1, 2, 3))
    den = (u**2).sum(axis=(1, 2, 3)) + _EPS
    return float(np.sqrt(num / den).mean())


def rel_mse_per_step(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(T,) relative MSE of each frame (over points and channels), mean over trajectories."""
    p, u = _batch(pred), _batch(true)
    num = ((p - u) ** 2).sum(axis=(2, 3))
    den = (u**2).sum(axis=(2, 3)) + _EPS
    return (num / den).mean(axis=0)


def rel_l2_per_step(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    p, u = _batch(pred), _batch(true)
    num = ((p - u) ** 2).sum(axis=(2, 3))
    den = (u**2).sum(axis=(2, 3)) + _EPS
    return np.sqrt(num / den).mean(axis=0)


def correlation_per_step(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(T,) Pearson correlation between prediction and truth per frame (over points and channels;
    pass one field's channels, several fields of different units are not comparable), mean over
    trajectories. A frame whose truth is uniform (a flow at rest) has no correlation: NaN."""
    p, u = _batch(pred), _batch(true)
    b, t = p.shape[:2]
    p = p.reshape(b, t, -1)
    u = u.reshape(b, t, -1)
    p = p - p.mean(axis=2, keepdims=True)
    u = u - u.mean(axis=2, keepdims=True)
    uu, pp = (u**2).sum(axis=2), (p**2).sum(axis=2)
    corr = (p * u).sum(axis=2) / (np.sqrt(pp * uu) + _EPS)
    flat = uu <= 1e-20 * np.maximum((_batch(true).reshape(b, t, -1) ** 2).sum(axis=2), _EPS)
    n_ok = (~flat).sum(axis=0)  # the mean over the trajectories that have a correlation
    return np.where(n_ok > 0, np.where(flat, 0.0, corr).sum(axis=0) / np.maximum(n_ok, 1), np.nan)


def correlation_time(pred: np.ndarray, true: np.ndarray, threshold: float = CORRELATION_THRESHOLD,
                     dt: float = 1.0) -> float:
    """Lead time (in units of dt; the first predicted frame is at 1 dt) up to which the
    correlation stays >= `threshold`: 0 when the first frame is already below it, the full
    horizon when no frame is. Frames without a correlation (uniform truth) do not end it.

    >>> u = np.arange(12.0).reshape(3, 4, 1)          # 3 frames, 4 points, 1 channel
    >>> correlation_time(np.stack([u[0], u[1], -u[2]]), u)
    2.0
    """
    corr = correlation_per_step(pred, true)
    below = np.nonzero(corr < threshold)[0]  # NaN compares False: never "below"
    n = int(below[0]) if below.size else corr.shape[0]
    return float(n * dt)


def field_slices(field_layout: Sequence[tuple[str, int]]) -> dict[str, slice]:
    """Channel slice of each field, e.g. [("U", 2), ("p", 1)] -> {"U": slice(0, 2), "p": slice(2, 3)}."""
    out, c = {}, 0
    for name, n in field_layout:
        out[str(name)] = slice(c, c + int(n))
        c += int(n)
    return out


def per_field_scores(pred: np.ndarray, true: np.ndarray, field_layout: Sequence[tuple[str, int]],
                     threshold: float = CORRELATION_THRESHOLD) -> dict[str, dict]:
    """Rel-MSE (all frames, first frame, per frame) and correlation time of each field on its own.

    Parameters
    ----------
    pred, true : numpy.ndarray, shape (B, T, N, C) or (T, N, C)
        Prediction and truth, channels in `field_layout` order.
    field_layout : sequence of (name, n_channels)
    threshold : float
        Correlation below which a forecast counts as decorrelated.

    Returns
    -------
    dict
        {field: {"rel_mse", "rel_mse_first_frame", "rel_mse_per_step", "correlation_per_step",
        "correlation_time_steps"}}, JSON-ready (an undefined correlation is None).

    Example
    -------
    >>> u = np.ones((2, 3, 3)); u[..., 2] = 100.0            # U = (1, 1), p = 100
    >>> p = u.copy(); p[..., 2] *= 1.1                        # p 10 % off, U exact
    >>> s = per_field_scores(p, u, [("U", 2), ("p", 1)])
    >>> s["U"]["rel_mse"], round(s["p"]["rel_mse"], 6)
    (0.0, 0.01)
    """
    out = {}
    for name, sl in field_slices(field_layout).items():
        p, u = _batch(pred)[..., sl], _batch(true)[..., sl]
        curve = rel_mse_per_step(p, u)
        corr = correlation_per_step(p, u)
        out[name] = {
            "rel_mse": rel_mse(p, u),
            "rel_mse_first_frame": float(curve[0]),
            "rel_mse_per_step": curve.tolist(),
            "correlation_per_step": [None if np.isnan(c) else float(c) for c in corr],
            "correlation_time_steps": correlation_time(p, u, threshold),
        }
    return out


def energy_spectrum(field: np.ndarray, dim: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic (shell-summed) spectrum of a field on a regular periodic grid -> (k, E(k)), k = 0..kmax.

    `field` is (n_1, ..., n_dim) or (n_1, ..., n_dim, C): `dim` spatial axes first (2: an (H, W)
    image, 3: a [z, y, x] volume), channels last and summed. E(k) = 1/2 sum of |FFT(u)|^2 / (prod n)^2
    over the wavevectors whose |k| rounds to k, kmax = min(n_i) // 2: one definition for the 2D and
    3D benchmarks, so their spectra compare. `dim` is needed because (H, W, C) and (D, H, W) look alike.
    """
    f = np.asarray(field, dtype=np.float64)
    if f.ndim == dim:
        f = f[..., None]
    if dim < 1 or f.ndim != dim + 1:
        raise ValueError(f"energy_spectrum(dim={dim}) wants {dim} spatial axes and an optional channel axis, "
                         f"got {f.shape}")
    shape = f.shape[:dim]
    fh = np.fft.fftn(f, axes=tuple(range(dim))) / np.prod(shape)
    power = 0.5 * (np.abs(fh) ** 2).sum(axis=dim)
    axes = [np.fft.fftfreq(n) * n for n in shape]
    k2 = sum(k.reshape((-1,) + (1,) * (dim - 1 - i)) ** 2 for i, k in enumerate(axes))
    kmax = int(min(shape) // 2)
    bins = np.rint(np.sqrt(k2)).astype(int)
    e = np.bincount(bins.ravel(), weights=power.ravel(), minlength=kmax + 1)[: kmax + 1]
    return np.arange(kmax + 1), e


def grid_shape(points: np.ndarray) -> tuple[int, int, np.ndarray] | None:
    """If 2D points form a full regular grid, return (H, W, order) so values[order] reshape to
    (H, W) (rows = y, columns = x); else None."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        return None
    xs = np.unique(np.round(pts[:, 0], 9))
    ys = np.unique(np.round(pts[:, 1], 9))
    if xs.size * ys.size != pts.shape[0]:
        return None
    order = np.lexsort((np.round(pts[:, 0], 9), np.round(pts[:, 1], 9)))
    return int(ys.size), int(xs.size), order


def spectrum_error(pred_frame: np.ndarray, true_frame: np.ndarray, k_max: int | None = None) -> float:
    """Mean |log10 E_pred - log10 E_true| over 1 <= k <= k_max (default: all k) for regular
    (H, W[, C]) frames. Pass k_max = N // 3 for dealiased spectral data: beyond it the truth has
    ~1e-16 energy and any prediction noise floor dominates the log-error."""
    _, ep = energy_spectrum(pred_frame)
    _, et = energy_spectrum(true_frame)
    hi = len(et) if k_max is None else min(len(et), int(k_max) + 1)
    return float(np.mean(np.abs(np.log10(ep[1:hi] + _EPS) - np.log10(et[1:hi] + _EPS))))


def spread_skill_ratio(samples: np.ndarray, true: np.ndarray) -> float:
    """Ensemble calibration: mean ensemble std / RMSE of the ensemble mean (1 = calibrated,
    < 1 over-confident). samples (K, T, N, C) or (B, K, T, N, C); uses the unbiased spread
    correction sqrt((K + 1) / K) (Fortin et al. 2014)."""
    s = np.asarray(samples, dtype=np.float64)
    u = np.asarray(true, dtype=np.float64)
    if s.ndim == u.ndim + 1:
        k = s.shape[-4]
        mean = s.mean(axis=-4)
        spread = np.sqrt(s.var(axis=-4, ddof=1).mean()) if k > 1 else 0.0
    else:
        raise ValueError(f"samples {s.shape} must have one more (ensemble) axis than truth {u.shape}")
    rmse = np.sqrt(((mean - u) ** 2).mean())
    return float(np.sqrt((k + 1) / k) * spread / (rmse + _EPS))


def summarize(pred: np.ndarray, true: np.ndarray, samples: np.ndarray | None = None,
              field_layout: Sequence[tuple[str, int]] | None = None) -> dict:
    """All scalar metrics + curves as a JSON-ready dict. With `field_layout`, "per_field" holds
    `per_field_scores` and "correlation_time_steps" is the shortest field's (each field is
    correlated on its own: pooled, the field with the largest values decides alone)."""
    layout = list(field_layout) if field_layout else [("all", _batch(true).shape[-1])]
    fields = per_field_scores(pred, true, layout)
    out = {
        "rel_mse": rel_mse(pred, true),
        "rel_l2": rel_l2(pred, true),
        "rel_mse_per_step": rel_mse_per_step(pred, true).tolist(),
        "rel_l2_per_step": rel_l2_per_step(pred, true).tolist(),
        "correlation_threshold": CORRELATION_THRESHOLD,
        "correlation_time_steps": min(f["correlation_time_steps"] for f in fields.values()),
        "correlation_time_steps_per_field": {k: f["correlation_time_steps"] for k, f in fields.items()},
        "reduction": "per trajectory over points, frames and channels, then mean over trajectories",
    }
    if field_layout:
        out["per_field"] = fields
    else:
        out["correlation_per_step"] = fields["all"]["correlation_per_step"]
    if samples is not None and samples.shape[-4] > 1:
        out["spread_skill_ratio"] = spread_skill_ratio(samples, true)
    return out

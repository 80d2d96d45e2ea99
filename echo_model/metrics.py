"""Error metrics for trajectories; numpy only, used by tests, `echopv eval` and benchmarks.

Shapes: a trajectory batch is (B, T, N, C) (prediction and truth in the same units, usually
physical). A single trajectory (T, N, C) is treated as B = 1.

Reductions (stated because peers differ, see shared/reference/peers-and-benchmarks.md):
  rel_mse  = mean over trajectories b of  sum_{t,n,c} (p - u)^2 / sum_{t,n,c} u^2
             (per trajectory over points, frames and channels; then the plain mean over b)
  rel_l2   = mean over trajectories b of  sqrt( sum (p - u)^2 / sum u^2 )   (Zebra's RelativeL2)
  curves   = the same two quantities per frame t (sums over n, c only), then mean over b.
Energy spectra: on a regular (H, W) periodic grid, E(k) = 1/2 sum over |k'| in [k-0.5, k+0.5)
of |FFT(u)|^2 / (H W)^2, summed over channels; the spectrum error is the mean over
1 <= k <= k_max of |log10 E_pred(k) - log10 E_true(k)| (k_max: all, or N // 3 for dealiased data).
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-30


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
    """(T,) Pearson correlation between prediction and truth per frame (over points, channels)."""
    p, u = _batch(pred), _batch(true)
    b, t = p.shape[:2]
    p = p.reshape(b, t, -1)
    u = u.reshape(b, t, -1)
    p = p - p.mean(axis=2, keepdims=True)
    u = u - u.mean(axis=2, keepdims=True)
    corr = (p * u).sum(axis=2) / (np.sqrt((p**2).sum(axis=2) * (u**2).sum(axis=2)) + _EPS)
    return corr.mean(axis=0)


def correlation_time(pred: np.ndarray, true: np.ndarray, threshold: float = 0.8, dt: float = 1.0) -> float:
    """Time (in units of dt, counted from the first predicted frame = 1 dt) until the
    correlation first drops below `threshold`; the full horizon if it never does."""
    corr = correlation_per_step(pred, true)
    below = np.nonzero(corr < threshold)[0]
    n = int(below[0]) if below.size else corr.shape[0]
    return float(n * dt)


def energy_spectrum(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic spectrum of a regular 2D field (H, W) or (H, W, C) -> (k, E(k)), k = 0..kmax."""
    f = np.asarray(field, dtype=np.float64)
    if f.ndim == 2:
        f = f[..., None]
    if f.ndim != 3:
        raise ValueError(f"energy_spectrum wants (H, W) or (H, W, C), got {f.shape}")
    h, w, _ = f.shape
    fh = np.fft.fft2(f, axes=(0, 1)) / (h * w)
    power = 0.5 * (np.abs(fh) ** 2).sum(axis=2)
    ky = np.fft.fftfreq(h) * h
    kx = np.fft.fftfreq(w) * w
    kk = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    kmax = int(min(h, w) // 2)
    bins = np.rint(kk).astype(int)
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


def summarize(pred: np.ndarray, true: np.ndarray, samples: np.ndarray | None = None) -> dict:
    """All scalar metrics + curves as a JSON-ready dict."""
    out = {
        "rel_mse": rel_mse(pred, true),
        "rel_l2": rel_l2(pred, true),
        "rel_mse_per_step": rel_mse_per_step(pred, true).tolist(),
        "rel_l2_per_step": rel_l2_per_step(pred, true).tolist(),
        "correlation_per_step": correlation_per_step(pred, true).tolist(),
        "correlation_time_steps": correlation_time(pred, true),
        "reduction": "per trajectory over points, frames and channels, then mean over trajectories",
    }
    if samples is not None and samples.shape[-4] > 1:
        out["spread_skill_ratio"] = spread_skill_ratio(samples, true)
    return out

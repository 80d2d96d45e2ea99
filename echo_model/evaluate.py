"""Evaluate a model file on a dataset split: forecast metrics (JSON) and plots (PNG).

For every trajectory of the split the model observes `n_observed_frames` frames from --start
and forecasts --frames frames (default: everything the trajectory still has, at most
--max-frames). Metrics (echo_model.metrics; reduction per trajectory over points, frames and
channels, then the mean over trajectories): rel-MSE, rel-L2, per-step curves, on regular 2D grids
the energy spectrum of the last frame and its log-error, and with --samples K > 1 the
spread-skill ratio. Per field (a field with large values, p, does not hide one with small
values, U): rel-MSE over all frames and at the first frame, and the correlation time (lead time
in frames up to which the field's correlation with the truth stays >= 0.8), beside two free
baselines scored the same way: persistence (the last observed frame, repeated) and the mean
field (the mean of the training split's frames on the same mesh, without any frame from the
forecast on; else the trajectory's own frames before the forecast).

Writes DIR/metrics.json, DIR/error_curve.png, DIR/spectrum.png (regular 2D grids),
DIR/last_frame.png (regular 2D grids). matplotlib is imported only for the plots.

Example:  echopv eval model.safetensors data.h5 --split test --out eval/
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from . import metrics
from .disk_space import disk_full_error, is_disk_full, remove_tree, require_space
from .errors import EchoUserError


def frame_stride(model_dt: float, data_dt: float, source: str = "the dataset") -> int:
    """How many dataset frames make one model step: 1 when the spacings agree, k when the dataset is
    k times finer (every k-th frame is compared); anything else is refused, never compared silently.

    >>> frame_stride(0.5, 0.5), frame_stride(0.5, 0.125)
    (1, 4)
    """
    ratio = model_dt / data_dt
    k = int(round(ratio))
    if k >= 1 and abs(ratio - k) < 1e-3 * max(1.0, ratio):
        return k
    raise EchoUserError(f"{source} has frames {data_dt:g} s apart but the model steps {model_dt:g} s: the "
                        f"spacing must equal the model's dt or divide it (a finer dataset is subsampled); "
                        "re-export the data at the model's dt")


def forecast_split(
    sur,
    store,
    indices: Sequence[int],
    n_frames: int,
    *,
    start: int = 0,
    n_samples: int = 1,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    progress: bool = True,
    stride: int = 1,
    anchor: bool | None = None,
    cfg_scale: float = 1.0,
) -> dict:
    """Run the surrogate on each trajectory; returns arrays pred/true (B, T, N, C), samples, wall.
    `anchor`: the decoder error feedback (default: when the model file has gains)."""
    preds, trues, samples, walls = [], [], [], []
    n_obs = sur.n_observed_frames
    it = list(indices)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="forecast", unit="traj")
    for i in it:
        i = int(i)
        avail = (store.n_frames(i) - 1 - start) // stride + 1 - n_obs
        if avail < n_frames:
            raise EchoUserError(
                f"trajectory {i} has {store.n_frames(i)} frames: not enough for {n_obs} observed + {n_frames} "
                f"predicted from --start {start}; lower --frames"
            )
        fields = store.read_fields(i, list(range(start, start + (n_obs + n_frames - 1) * stride + 1, stride)))
        t0 = time.perf_counter()
        res = sur.rollout(store.points(i), fields[:n_obs], n_frames, params=store.params(i) or None,
                          n_samples=n_samples, steps=steps, sampler=sampler, seed=seed + i, anchor=anchor,
                          cfg_scale=cfg_scale)
        walls.append(time.perf_counter() - t0)
        preds.append(res.mean)
        trues.append(fields[n_obs:])
        if res.samples is not None:
            samples.append(res.samples)
    return {
        "pred": np.stack(preds),
        "true": np.stack(trues),
        "samples": np.stack(samples) if samples else None,
        "wall_s_per_traj": float(np.mean(walls)),
        "points": store.points(int(indices[0])),
    }


MEAN_FIELD_MAX_TRAJ = 64  # training trajectories averaged into the mean-field baseline


def _mesh_key(points: np.ndarray) -> tuple:
    return points.shape, hash(np.ascontiguousarray(points).tobytes())


def _training_sums(store, train: Sequence[int]) -> dict[tuple, list]:
    """Per mesh: [sum over every frame (N, C), frame count, member trajectories] of the training split."""
    sums: dict[tuple, list] = {}
    for j in list(train)[:MEAN_FIELD_MAX_TRAJ]:
        j = int(j)
        f = store.read_fields(j).astype(np.float64)
        entry = sums.setdefault(_mesh_key(store.points(j)), [0.0, 0, []])
        entry[0] = entry[0] + f.sum(axis=0)
        entry[1] += f.shape[0]
        entry[2].append(j)
    return sums


def mean_field(store, i: int, first_predicted: int, sums: dict[tuple, list]) -> tuple[np.ndarray, str]:
    """The mean-field baseline of trajectory i: the mean of the training frames on its mesh, less
    i's own frames from `first_predicted` on (never a frame of the forecast); without training
    frames on that mesh, the mean of i's frames before the forecast. Returns (N, C) and its source."""
    entry = sums.get(_mesh_key(store.points(i)))
    if entry is not None:
        total, count = entry[0], entry[1]
        if i in entry[2]:  # the evaluated trajectory trained the model: drop its forecast frames
            later = store.read_fields(i, slice(first_predicted, None)).astype(np.float64)
            total, count = total - later.sum(axis=0), count - later.shape[0]
        if count > 0:
            return (total / count).astype(np.float32), f"training frames on the same mesh ({len(entry[2])} traj)"
    known = store.read_fields(i, slice(0, first_predicted))
    return known.mean(axis=0), f"the trajectory's own {known.shape[0]} frame(s) before the forecast"


def baseline_forecasts(store, indices: Sequence[int], n_frames: int, *, n_obs: int, start: int = 0,
                       stride: int = 1, train: Sequence[int] = ()) -> dict:
    """Persistence and mean-field forecasts (B, T, N, C) of the frames `forecast_split` predicts.

    Parameters
    ----------
    store : TrajectoryStore
    indices : sequence of int
        The evaluated trajectories.
    n_frames, n_obs, start, stride : int
        As in `forecast_split`: frames start, start + stride, ...; the first n_obs are observed.
    train : sequence of int
        The training split (for the mean field).

    Returns
    -------
    dict
        "persistence", "mean_field" (B, n_frames, N, C) and "mean_field_source" (str).
    """
    sums = _training_sums(store, train)
    first_pred = start + n_obs * stride
    persist, means, sources = [], [], set()
    for i in indices:
        i = int(i)
        last = store.read_fields(i, [first_pred - stride])[0]
        persist.append(np.broadcast_to(last, (n_frames, *last.shape)))
        m, src = mean_field(store, i, first_pred, sums)
        means.append(np.broadcast_to(m, (n_frames, *m.shape)))
        sources.add(src)
    return {"persistence": np.stack(persist), "mean_field": np.stack(means),
            "mean_field_source": "; ".join(sorted(sources))}


def score(out: dict, field_layout: Sequence[tuple[str, int]] | None = None) -> dict:
    """Metrics of `forecast_split`'s output; with `field_layout`, per field, and the baselines of
    `baseline_forecasts` (when `out` has them) scored the same way under "baselines"."""
    pred, true = out["pred"], out["true"]
    res = metrics.summarize(pred, true, out["samples"], field_layout)
    layout = field_layout or [("all", true.shape[-1])]
    res["baselines"] = {
        name: {"rel_mse": metrics.rel_mse(out[name], true),
               "per_field": metrics.per_field_scores(out[name], true, layout)}
        for name in ("persistence", "mean_field") if name in out
    }
    if "mean_field" in res["baselines"]:
        res["baselines"]["mean_field"]["source"] = out["mean_field_source"]
    grid = metrics.grid_shape(out["points"])
    if grid is not None:
        h, w, order = grid
        errs, errs_res, spec_p, spec_t = [], [], [], []
        for b in range(pred.shape[0]):
            fp = pred[b, -1][order].reshape(h, w, -1)
            ft = true[b, -1][order].reshape(h, w, -1)
            errs.append(metrics.spectrum_error(fp, ft))
            errs_res.append(metrics.spectrum_error(fp, ft, k_max=min(h, w) // 3))
            spec_p.append(metrics.energy_spectrum(fp)[1])
            spec_t.append(metrics.energy_spectrum(ft)[1])
        res["spectrum_log_error_last_frame"] = float(np.mean(errs))
        res["spectrum_log_error_last_frame_k_le_N_over_3"] = float(np.mean(errs_res))
        res["spectrum_pred_last_frame"] = np.mean(spec_p, axis=0).tolist()
        res["spectrum_true_last_frame"] = np.mean(spec_t, axis=0).tolist()
    res["wall_s_per_traj"] = out["wall_s_per_traj"]
    return res


def plot(out: dict, res: dict, outdir: Path, title: str = "") -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps = np.arange(1, len(res["rel_mse_per_step"]) + 1)
    per_field = res.get("per_field") or {"all": {"rel_mse_per_step": res["rel_mse_per_step"]}}
    base = res.get("baselines", {})
    for k, (name, f) in enumerate(per_field.items()):
        color = f"C{k}"
        ax.semilogy(steps, f["rel_mse_per_step"], "o-", ms=3, color=color, label=f"{name}: model")
        for kind, style in (("persistence", "--"), ("mean_field", ":")):
            if name in base.get(kind, {}).get("per_field", {}):
                ax.semilogy(steps, base[kind]["per_field"][name]["rel_mse_per_step"], style, color=color,
                            label=f"{name}: {kind.replace('_', ' ')}")
    ax.legend(fontsize=7)
    ax.set_xlabel("predicted frame")
    ax.set_ylabel("relative MSE")
    ax.set_title(title or "forecast error per frame")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p = outdir / "error_curve.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    written.append(p)
    grid = metrics.grid_shape(out["points"])
    if grid is not None and "spectrum_true_last_frame" in res:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        k = np.arange(len(res["spectrum_true_last_frame"]))
        ax.loglog(k[1:], res["spectrum_true_last_frame"][1:], label="truth")
        ax.loglog(k[1:], res["spectrum_pred_last_frame"][1:], "--", label="prediction")
        ax.set_xlabel("wavenumber k")
        ax.set_ylabel("E(k)")
        ax.legend()
        ax.set_title("energy spectrum, last frame")
        fig.tight_layout()
        p = outdir / "spectrum.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
        h, w, order = grid
        ft = out["true"][0, -1][order].reshape(h, w, -1)[..., 0]
        fp = out["pred"][0, -1][order].reshape(h, w, -1)[..., 0]
        fig, axs = plt.subplots(1, 3, figsize=(10, 3.3))
        vmax = float(np.abs(ft).max())
        for a, img, t in zip(axs, (ft, fp, fp - ft), ("truth", "prediction", "error")):
            im = a.imshow(img, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            a.set_title(t)
            a.set_xticks([])
            a.set_yticks([])
        fig.colorbar(im, ax=axs, shrink=0.8)
        p = outdir / "last_frame.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .flow import SAMPLERS

    parser.add_argument("model", type=Path, help="ECHO model file (.safetensors)")
    parser.add_argument("dataset", type=Path, help="ECHO dataset (.h5)")
    parser.add_argument("--split", default="test", help="train | val | test (default test)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for metrics.json and PNGs")
    parser.add_argument("--frames", type=int, default=None, help="frames to forecast (default: all available)")
    parser.add_argument("--max-frames", type=int, default=64)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--max-traj", type=int, default=None, help="evaluate at most this many trajectories")
    parser.add_argument("--samples", type=int, default=1, help="ensemble size (spread-skill needs > 1)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sampler", choices=SAMPLERS, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--no-plots", action="store_true")


def _check_options(args: argparse.Namespace) -> None:
    """Counts and frame numbers the user gave, checked before anything is loaded."""
    if args.frames is not None and args.frames < 0:
        raise EchoUserError(f"--frames {args.frames}: give the number of frames to forecast (>= 1), or leave it out "
                            "for all available")
    for option, value in (("--samples", args.samples), ("--max-frames", args.max_frames)):
        if value < 1:
            raise EchoUserError(f"{option} {value}: give 1 or more")
    if args.start < 0:
        raise EchoUserError(f"--start {args.start}: give the first observed frame, 0 or more")


def run(args: argparse.Namespace) -> int:
    from .data.store import TrajectoryStore
    from .rollout import Surrogate
    from .threads import set_threads

    _check_options(args)
    set_threads(args.threads)
    require_space(args.out, 4 * _PNG_BYTES, f"writing the evaluation into --out {args.out}")  # before the forecasts
    sur = Surrogate.load(args.model, device=args.device)
    with TrajectoryStore(args.dataset) as store:
        if store.info.field_layout != sur.field_layout:
            raise EchoUserError(f"{args.dataset} has fields {store.info.field_layout}, the model {sur.field_layout}: "
                                "evaluate on a dataset with the model's fields")
        idx = store.split_indices(args.split)
        if len(idx) == 0:
            raise EchoUserError(f"split {args.split!r} of {args.dataset} is empty; choose another with --split")
        idx = idx[: args.max_traj] if args.max_traj else idx
        data_dt = float(np.median(np.diff(store.times(int(idx[0]))))) if store.n_frames(int(idx[0])) > 1 else sur.dt
        stride = frame_stride(sur.dt, data_dt, str(args.dataset))
        if stride > 1:
            print(f"{args.dataset}: frames {data_dt:g} s apart, the model steps {sur.dt:g} s: every {stride}th frame "
                  "is compared")
        avail = (min(store.n_frames(int(i)) for i in idx) - 1 - args.start) // stride + 1 - sur.n_observed_frames
        n_frames = args.frames or min(avail, args.max_frames)
        if n_frames < 1:
            raise EchoUserError(f"the {args.split!r} trajectories of {args.dataset} leave no frame to forecast after the "
                                f"model's {sur.n_observed_frames} observed frame(s) from --start {args.start}: lower --start")
        out = forecast_split(sur, store, idx, n_frames, start=args.start, n_samples=args.samples,
                             steps=args.steps, sampler=args.sampler, seed=args.seed, stride=stride)
        out.update(baseline_forecasts(store, idx, n_frames, n_obs=sur.n_observed_frames, start=args.start,
                                      stride=stride, train=store.split_indices("train")))
    res = score(out, sur.field_layout)
    res.update({"model": str(args.model), "dataset": str(args.dataset), "split": args.split,
                "n_trajectories": int(len(idx)), "n_frames": int(n_frames), "n_samples": args.samples,
                "sampler": args.sampler or sur.default_sampler, "steps": args.steps or sur.default_steps,
                "generator": sur.generator_kind})
    _write_outputs(args, out, res)
    print(format_report(res))
    print(f"({len(idx)} traj, {n_frames} frames) -> {args.out / 'metrics.json'}")
    return 0


def _write_outputs(args: argparse.Namespace, out: dict, res: dict) -> None:
    """metrics.json and the PNGs into --out, all or none: written into a temporary folder there, then moved.

    A full disk (checked first, or met while writing) leaves no partial output and ends in one message."""
    args.out.mkdir(parents=True, exist_ok=True)
    require_space(args.out, 4 * _PNG_BYTES, f"writing the evaluation into --out {args.out}")
    tmp = args.out / f".eval.tmp-{os.getpid()}"
    remove_tree(tmp)
    try:
        tmp.mkdir()
        (tmp / "metrics.json").write_text(json.dumps(res, indent=2))
        if not args.no_plots:
            plot(out, res, tmp, f"{Path(args.model).name} on {args.split}")
        for f in sorted(tmp.iterdir()):
            os.replace(f, args.out / f.name)  # a rename in one folder: needs no space
    except BaseException as exc:
        if is_disk_full(exc):
            remove_tree(tmp)
            raise disk_full_error(args.out, f"writing the evaluation into --out {args.out}") from None
        raise
    finally:
        remove_tree(tmp)


_PNG_BYTES = 500_000  # a plot at 110 dpi is 30-150 KB


def format_report(res: dict) -> str:
    """The per-field table `echopv eval` prints: model beside persistence and the mean field.

    Example
    -------
    >>> f = {"rel_mse": 0.1, "rel_mse_first_frame": 0.01, "correlation_time_steps": 4.0}
    >>> res = {"rel_mse": 0.1, "rel_l2": 0.3, "correlation_threshold": 0.8, "per_field": {"U": f},
    ...        "baselines": {"persistence": {"rel_mse": 0.2, "per_field": {"U": f}},
    ...                      "mean_field": {"rel_mse": 0.3, "per_field": {"U": f}}}}
    >>> print(format_report(res).splitlines()[2])
    U           1.000e-01    1.000e-01    1.000e-01    1.000e-02    1.000e-02            4
    """
    base = res.get("baselines", {})
    cols = ["model", "persistence", "mean field", "1st: model", "1st: persist."]
    lines = [f"rel-MSE per field (correlation time: frames with correlation >= {res['correlation_threshold']:g})",
             f"{'field':<8} " + " ".join(f"{c:>12}" for c in cols) + f" {'corr. time':>12}"]

    def cell(kind: str, name: str, key: str = "rel_mse") -> str:
        src = res["per_field"] if kind == "model" else base.get(kind, {}).get("per_field")
        return f"{src[name][key]:>12.3e}" if src and name in src else f"{'-':>12}"

    for name, f in res.get("per_field", {}).items():
        row = [cell("model", name), cell("persistence", name), cell("mean_field", name),
               cell("model", name, "rel_mse_first_frame"), cell("persistence", name, "rel_mse_first_frame")]
        lines.append(f"{name:<8} " + " ".join(row) + f" {f['correlation_time_steps']:>12g}")
    joint = [f"{res['rel_mse']:>12.3e}"] + [f"{base[k]['rel_mse']:>12.3e}" if k in base else f"{'-':>12}"
                                             for k in ("persistence", "mean_field")]
    lines.append(f"{'joint':<8} " + " ".join(joint) + f"   (rel-L2 {res['rel_l2']:.3e})")
    if "source" in base.get("mean_field", {}):
        lines.append(f"mean field: {base['mean_field']['source']}")
    return "\n".join(lines)

"""Forecast benchmark on the vorticity sample case: all three stages on the CPU (tiny preset),
then ECHO (flow matching; Euler / Heun / midpoint at 5 / 10 / 25 steps) against the
deterministic baseline (same autoencoder and transformer, regression) and persistence, at the
training horizon (one segment) and at twice the horizon (two chained segments).

    nice -n 10 .venv/bin/python benchmarks/forecast.py --work /tmp/fc

Stages (each an `echopv` command run in-process and timed; reruns skip finished stages, so
the script can be resumed; --force retrains):
  1  echopv train ae       --preset tiny (9-frame windows, 50-100 % input points, 1024 loss points)
  2  echopv train refine   single full-resolution frames
  3  echopv cache-latents  + echopv train dit  (+ echopv train baseline)

Metrics (echo_model.metrics): rel-MSE = mean over test trajectories of
sum (pred - true)^2 / sum true^2 over points, frames and channels, on the frames 1..H
("window") or on frame H only ("at H"); one sample per trajectory (seed fixed) unless stated.
Writes benchmarks/results/forecast.{md,json,png} and forecast_curves.png, and copies the ECHO
model file to sample_cases/ns2d_vorticity/model_tiny.safetensors (--model-out).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _echopv(argv: list[str]) -> float:
    from echo_paraview.cli import main

    print("$ echopv " + " ".join(argv), flush=True)
    t0 = time.perf_counter()
    rc = main(argv)
    if rc:
        raise SystemExit(f"echopv {' '.join(argv[:2])} failed with exit code {rc}")
    return time.perf_counter() - t0


def _with_overrides(argv: list[str], extra: str) -> list[str]:
    """argv with `--flag value` pairs of `extra` replacing the same flags (so the logged command has each once)."""
    add = extra.split()
    flags = {a for a in add if a.startswith("--")}
    out, i = [], 0
    while i < len(argv):
        if argv[i] in flags:
            i += 1 if i + 1 >= len(argv) or argv[i + 1].startswith("--") else 2
            continue
        out.append(argv[i])
        i += 1
    return out + add


def _stage(name: str, done_file: Path, argv: list[str], walls: dict, force: bool) -> None:
    record = done_file.parent / "bench_wall.json"
    if done_file.exists() and record.exists() and not force:
        walls[name] = json.loads(record.read_text())["wall_s"]
        print(f"[{name}] reusing {done_file} (trained in {walls[name]:.0f} s)")
        return
    walls[name] = _echopv(argv)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"wall_s": walls[name], "argv": argv}))


def _parallel_stages(stages: list, walls: dict, cmds: dict, force: bool) -> None:
    """Run independent stages as concurrent processes (each keeps its own thread count)."""
    import subprocess

    procs = {}
    for name, done, argv in stages:
        cmds[name] = "echopv " + " ".join(argv)
        record = done.parent / "bench_wall.json"
        if done.exists() and record.exists() and not force:
            walls[name] = json.loads(record.read_text())["wall_s"]
            print(f"[{name}] reusing {done} (trained in {walls[name]:.0f} s)")
            continue
        print("$ echopv " + " ".join(argv) + "   (concurrently)", flush=True)
        procs[name] = (subprocess.Popen([sys.executable, "-m", "echo_paraview.cli", *argv], cwd=ROOT),
                       time.perf_counter(), record, argv)
    while procs:
        for name in list(procs):
            proc, t0, record, argv = procs[name]
            if proc.poll() is None:
                continue
            if proc.returncode:
                raise SystemExit(f"{name} failed with exit code {proc.returncode}")
            walls[name] = time.perf_counter() - t0
            record.write_text(json.dumps({"wall_s": walls[name], "argv": argv, "concurrent": True}))
            del procs[name]
        time.sleep(2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT / "sample_cases/ns2d_vorticity/ns2d_64.h5"))
    ap.add_argument("--work", default="/tmp/echo_forecast_bench", help="run directories")
    ap.add_argument("--ae-steps", type=int, default=1500)
    ap.add_argument("--refine-steps", type=int, default=100)
    ap.add_argument("--dit-steps", type=int, default=3000)
    ap.add_argument("--baseline-steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared 2-core machine")
    ap.add_argument("--samplers", default="euler,heun,midpoint")
    ap.add_argument("--steps", default="5,10,25")
    ap.add_argument("--ensemble", type=int, default=4, help="ensemble size for the spread-skill row")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--parallel", action="store_true", help="train the DiT and the baseline concurrently")
    ap.add_argument("--cfg-scales", default="1.5,3", help="classifier-free guidance scales to try (heun 10)")
    ap.add_argument("--ae-extra", default="",
                    help="`echopv train ae` arguments that replace or extend the defaults, e.g. '--batch-size 4 --n-query 2048'")
    ap.add_argument("--refine-extra", default="",
                    help="`echopv train refine` arguments that replace or extend the defaults, e.g. "
                         "'--data sample_cases/ns2d_vorticity/ns2d_128_superres.h5 --split train --lr 2e-4'")
    ap.add_argument("--dit-extra", default="", help="extra `echopv train dit` arguments (ablations)")
    ap.add_argument("--results", default=str(ROOT / "benchmarks/results"))
    ap.add_argument("--model-out", default=str(ROOT / "sample_cases/ns2d_vorticity/model_tiny.safetensors"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    th = ["--threads", str(args.threads)]
    walls: dict[str, float] = {}
    cmds: dict[str, str] = {}

    def stage(name, done, argv):
        cmds[name] = "echopv " + " ".join(argv)
        _stage(name, done, argv, walls, args.force)

    stage("1 autoencoder", work / "ae/autoencoder.safetensors", _with_overrides(
          ["train", "ae", "--data", args.data, "--run", str(work / "ae"), "--preset", "tiny", "--steps",
           str(args.ae_steps), "--batch-size", "2", "--n-query", "1024", "--ckpt-every", "250", "--lr", "2e-3",
           "--no-progress", *th], args.ae_extra))
    stage("2 refine", work / "refine/autoencoder.safetensors", _with_overrides(
          ["train", "refine", "--init", str(work / "ae/autoencoder.safetensors"), "--data", args.data, "--run",
           str(work / "refine"), "--steps", str(args.refine_steps), "--batch-size", "2", "--n-query", "2048",
           "--replay", args.data, "--no-progress", *th], args.refine_extra))
    ae_file = work / "refine/autoencoder.safetensors"
    stage("3a cache latents", work / "latents/latents.h5",
          ["cache-latents", "--ae", str(ae_file), "--data", args.data, "--out", str(work / "latents/latents.h5"),
           "--window-stride", "1", *th])
    gen_stages = [
        ("3b DiT (flow)", work / "dit/model.safetensors",
         ["train", "dit", "--cache", str(work / "latents/latents.h5"), "--run", str(work / "dit"), "--steps",
          str(args.dit_steps), "--batch-size", "16", "--lr", "1e-3", "--ckpt-every", "500", "--no-progress", *th,
          *args.dit_extra.split()]),
        ("3c baseline (regression)", work / "baseline/model.safetensors",
         ["train", "baseline", "--cache", str(work / "latents/latents.h5"), "--run", str(work / "baseline"),
          "--steps", str(args.baseline_steps), "--batch-size", "16", "--lr", "1e-3", "--ckpt-every", "500",
          "--no-progress", *th]),
    ]
    if args.parallel:
        _parallel_stages(gen_stages, walls, cmds, args.force)
    else:
        for name, done, argv in gen_stages:
            stage(name, done, argv)

    from echo_model import metrics as M
    from echo_model.data.store import TrajectoryStore
    from echo_model.nn.autoencoder import load_autoencoder
    from echo_model.rollout import Surrogate

    echo = Surrogate.load(work / "dit/model.safetensors", device="cpu", cache=False)
    base = Surrogate.load(work / "baseline/model.safetensors", device="cpu", cache=False)
    seg = echo.segment_frames
    horizon2 = 2 * seg
    store = TrajectoryStore(args.data)
    test = [int(i) for i in store.split_indices("test")]
    n_obs = echo.n_observed_frames
    truth = np.stack([store.read_fields(i, slice(0, n_obs + horizon2)) for i in test])  # (B, T, N, C)
    points = store.points(test[0])
    obs, true = truth[:, :n_obs], truth[:, n_obs:]

    def score(pred: np.ndarray) -> dict:
        return {
            "rel_mse_window_H": M.rel_mse(pred[:, :seg], true[:, :seg]),
            "rel_mse_at_H": M.rel_mse(pred[:, seg - 1 : seg], true[:, seg - 1 : seg]),
            "rel_mse_window_2H": M.rel_mse(pred, true),
            "rel_mse_at_2H": M.rel_mse(pred[:, -1:], true[:, -1:]),
            "rel_l2_window_2H": M.rel_l2(pred, true),
            "curve": M.rel_mse_per_step(pred, true).tolist(),
        }

    def forecast(sur, **kw) -> tuple[np.ndarray, float, np.ndarray | None]:
        preds, samples, t0 = [], [], time.perf_counter()
        for b, i in enumerate(test):
            r = sur.rollout(points, obs[b], horizon2, params=store.params(i), seed=100 + i, **kw)
            preds.append(r.mean)
            if r.samples is not None:
                samples.append(r.samples)
        wall = (time.perf_counter() - t0) / len(test)
        return np.stack(preds), wall, (np.stack(samples) if samples else None)

    rows, curves, preds = [], {}, {}
    # reconstruction ceiling: the autoencoder alone on the 2H window (two 9-frame windows)
    ae, _ = load_autoencoder(ae_file)
    import torch as _t

    rec = []
    with _t.no_grad():
        pu = _t.as_tensor(echo.domain.to_unit(points))[None]
        for b in range(len(test)):
            v = echo.stats.normalize(truth[b])
            outs = [ae.decode(ae.encode(pu, _t.as_tensor(v[None, s : s + echo.window_frames])), pu)[0].numpy()
                    for s in (0, seg)]
            rec.append(echo.stats.denormalize(np.concatenate([outs[0][1:], outs[1][1:]])))
    preds["reconstruction"] = np.stack(rec)
    rows.append({"model": "autoencoder reconstruction (ceiling)", **score(preds["reconstruction"]), "wall_s_per_traj": None})
    persistence = np.repeat(obs[:, -1:], horizon2, axis=1)
    rows.append({"model": "persistence (last observed frame)", **score(persistence), "wall_s_per_traj": 0.0})
    p, w, _ = forecast(base)
    rows.append({"model": "baseline (deterministic regression)", **score(p), "wall_s_per_traj": w})
    preds["baseline"] = p
    for sampler in args.samplers.split(","):
        for steps in [int(s) for s in args.steps.split(",")]:
            p, w, _ = forecast(echo, sampler=sampler, steps=steps)
            rows.append({"model": f"ECHO {sampler} {steps} steps", "sampler": sampler, "steps": steps,
                         **score(p), "wall_s_per_traj": w})
            preds[f"{sampler}{steps}"] = p
    for cfg_scale in [float(c) for c in args.cfg_scales.split(",") if c]:
        p, w, _ = forecast(echo, sampler="heun", steps=10, cfg_scale=cfg_scale)
        rows.append({"model": f"ECHO heun 10 steps, CFG scale {cfg_scale:g}", **score(p), "wall_s_per_traj": w})
    if "heun10" not in preds:  # the reference configuration of the figures
        preds["heun10"] = forecast(echo, sampler="heun", steps=10)[0]
    p, w, samples = forecast(echo, sampler="heun", steps=10, n_samples=args.ensemble)
    ens = {"model": f"ECHO heun 10 steps, ensemble mean of {args.ensemble}", **score(p), "wall_s_per_traj": w,
           "spread_skill_2H": M.spread_skill_ratio(samples, true)}
    rows.append(ens)
    # seam continuity: jump between the last frame of segment 1 and the first of segment 2,
    # relative to the mean frame-to-frame change inside segments (1 = as smooth as elsewhere)
    def seam_ratio(pred: np.ndarray) -> float:
        d = np.sqrt(((pred[:, 1:] - pred[:, :-1]) ** 2).mean(axis=(0, 2, 3)))
        return float(d[seg - 1] / np.mean(np.delete(d, seg - 1)))

    seam = {"ECHO heun 10": seam_ratio(preds["heun10"]), "baseline": seam_ratio(preds["baseline"]),
            "truth": seam_ratio(true)}
    spec = {}
    grid = M.grid_shape(points)
    if grid is not None:
        h, wd, order = grid
        for name, arr in (("ECHO heun 10", preds["heun10"]), ("baseline", preds["baseline"]),
                          ("autoencoder reconstruction", preds["reconstruction"])):
            for label, kmax in (("k<=N/3", min(h, wd) // 3), ("all k", None)):
                spec[f"{name} ({label})"] = float(np.mean([
                    M.spectrum_error(arr[b, -1][order].reshape(h, wd, -1), true[b, -1][order].reshape(h, wd, -1), kmax)
                    for b in range(len(test))]))

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    out = {"data": args.data, "test_trajectories": test, "segment_frames": seg, "horizon_2H": horizon2,
           "n_observed_frames": n_obs, "dt": echo.dt, "threads": args.threads, "stage_wall_s": walls,
           "commands": cmds, "rows": rows, "seam_ratio": seam, "spectrum_log_error_at_2H": spec}
    (results / "forecast.json").write_text(json.dumps(out, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if grid is not None:
        h, wd, order = grid
        img = lambda a: a[0, -1][order].reshape(h, wd, -1)[..., 0]  # noqa: E731
        panels = [("truth", img(true)), ("ECHO (heun, 10 steps)", img(preds["heun10"])),
                  ("baseline (regression)", img(preds["baseline"]))]
        vmax = float(np.abs(panels[0][1]).max())
        fig, axs = plt.subplots(1, 3, figsize=(11, 3.6))
        for ax, (t, a) in zip(axs, panels):
            im = ax.imshow(a, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_title(t)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axs, shrink=0.85, label=store.info.field_layout[0][0])
        fig.suptitle(f"test trajectory {test[0]}, frame {horizon2} after the initial frame (2x training horizon)")
        fig.savefig(results / "forecast.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    t = np.arange(1, horizon2 + 1)
    for r in rows:
        if r["model"].startswith(("ECHO heun 10", "ECHO euler 10", "baseline", "persistence", "autoencoder")):
            ax.semilogy(t, r["curve"], "o-", ms=3, label=r["model"])
    ax.axvline(seg + 0.5, color="k", lw=0.8, ls=":")
    ax.set_xlabel("predicted frame (dotted: segment seam = training horizon)")
    ax.set_ylabel("relative MSE")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(results / "forecast_curves.png", dpi=110)
    plt.close(fig)

    lines = [
        "# Forecast benchmark: ECHO vs deterministic baseline on the 2D vorticity sample case", "",
        f"Data `{Path(args.data).relative_to(ROOT) if Path(args.data).is_relative_to(ROOT) else args.data}`: "
        f"{store.info.name}, {points.shape[0]} points, {store.n_frames(test[0])} frames per trajectory, fields "
        f"{store.info.field_layout}, {len(store.split_indices('train'))} training trajectories, test split {test}. Tiny presets, CPU, torch threads = {args.threads} "
        "(shared 2-core machine, so wall times are upper bounds).",
        f"One segment = {seg} frames after {n_obs} observed frame(s) (training horizon H); 2H = {horizon2} frames = "
        "two chained segments (the last generated frame re-encoded as the next condition).",
        "rel-MSE: per trajectory sum (pred - true)^2 / sum true^2 over points, frames, channels; then mean over "
        "trajectories. `window` = frames 1..H, `at` = that single frame. One sample per trajectory unless stated.",
        "", "Command: `nice -n 10 .venv/bin/python benchmarks/forecast.py " + " ".join(
            f"'{a}'" if (" " in a or not a) else a for a in sys.argv[1:]) + "`"
        + (" (DiT and baseline trained concurrently, so their wall times overlap)" if args.parallel else ""), "",
        "## Training stages (wall time)", "", "| stage | wall [s] | command |", "|---|---|---|",
    ]
    for k, v in walls.items():
        lines.append(f"| {k} | {v:.0f} | `{cmds[k]}` |")
    lines += ["", "## Forecast error (test split)", "",
              "| model | rel-MSE window H | rel-MSE at H | rel-MSE window 2H | rel-MSE at 2H | rel-L2 window 2H | s / traj (2H) |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        ws = "" if r["wall_s_per_traj"] is None else f"{r['wall_s_per_traj']:.2f}"
        lines.append(f"| {r['model']} | {r['rel_mse_window_H']:.3e} | {r['rel_mse_at_H']:.3e} | "
                     f"{r['rel_mse_window_2H']:.3e} | {r['rel_mse_at_2H']:.3e} | {r['rel_l2_window_2H']:.3e} | {ws} |")
    lines += ["", f"Ensemble (heun 10, {args.ensemble} members) spread-skill ratio over 2H: "
              f"{ens['spread_skill_2H']:.2f} (1 = calibrated, < 1 over-confident).",
              "", "Seam continuity (RMS change from the last frame of segment 1 to the first of segment 2, divided "
              "by the mean RMS frame-to-frame change elsewhere; truth for reference): "
              + ", ".join(f"{k} {v:.2f}" for k, v in seam.items()) + ".",
              "", "Energy-spectrum log-error at 2H (mean |log10 E_pred(k) - log10 E_true(k)| over 1 <= k <= N/3, the "
              "dealiased band of the spectral solver, and over all k, where the truth's ~1e-16 tail dominates): "
              + ", ".join(f"{k} {v:.3f}" for k, v in spec.items()) + ".",
              "", "![truth / ECHO / baseline](forecast.png)", "", "![error curves](forecast_curves.png)", ""]
    (results / "forecast.md").write_text("\n".join(lines))
    print("\n".join(lines))
    if args.model_out:
        dst = Path(args.model_out)
        shutil.copyfile(work / "dit/model.safetensors", dst)
        print(f"copied the ECHO model to {dst} ({dst.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

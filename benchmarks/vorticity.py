"""Vorticity forecast benchmark at training scale: ECHO, FNO-2d (neuraloperator), the deterministic
latent baseline and persistence, side by side on one held-out set, in one run.

    pip install -e '.[benchmark]' && pip install --no-deps neuraloperator==2.0.0   # the FNO peer
    nice -n 5 .venv/bin/python benchmarks/vorticity.py --work runs/vorticity

Data: `echopv generate cached ns2d-64` (1,000 trajectories of 2D Navier-Stokes vorticity at 64^2,
21 frames 0.5 s apart, viscosity in [2e-4, 2e-3]; made once into the cache), its own split; the
first --n-test trajectories of its test split are scored. Protocol: 1 observed frame, H = 8 frames
(one ECHO segment), 2H = 16 (two chained segments) and 20 frames (the longest these trajectories
hold; 4H = 32 needs 33-frame trajectories).

Models (trained once per --seeds entry and cached under --work; training cost is this process's
CPU time, stated in the table):
  persistence      the observed frame copied forward
  ECHO shipped     sample_cases/ns2d_vorticity/model_tiny.safetensors (autoencoder + DiT trained on the
                   20 sample trajectories), Heun 10 steps, one sample
  ECHO 1k          the shipped autoencoder, DiT retrained on the 1k set's training windows
  baseline 1k      the same latents, the same transformer trained by regression (deterministic)
  FNO-2d           neuraloperator FNO, one-step autoregressive (benchmarks/fno_peer.py), trained to the
                   same CPU budget as ECHO 1k (autoencoder share included)
  "+ anchor"       the decoder error feedback (echo_model/anchor.py) with gains fitted on training data

Metrics (echo_model.metrics): rel-MSE = sum (pred - true)^2 / sum true^2 per trajectory and frame
set, then mean and std over test trajectories; rel-L2 = its square root's mean; energy spectra at 2H.
Writes benchmarks/results/vorticity.{md,json}, vorticity_curves.png, vorticity_spectra.png.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_common import cpu_s, echopv, portable  # noqa: E402
SHIPPED = ROOT / "sample_cases/ns2d_vorticity/model_tiny.safetensors"
AE_CPU_S = 631.0  # stages 1+2 of the shipped autoencoder (benchmarks/results/autoencoder.md)
H = 8
N_FRAMES = 20


def train_echo(data: Path, work: Path, seed: int, args) -> dict:
    """Latents of the 1k training split with the shipped autoencoder, then DiT and baseline."""
    costs_file = work / "costs.json"
    if costs_file.exists():
        return json.loads(costs_file.read_text())
    cache = work / "latents.h5"
    costs = {"cache": echopv(["cache-latents", "--ae", str(SHIPPED), "--data", str(data), "--out", str(cache),
                              "--window-stride", str(args.window_stride), "--threads", "1"])}
    common = ["--cache", str(cache), "--ae", str(SHIPPED), "--batch-size", "16", "--lr", "1e-3", "--threads", "1",
              "--seed", str(seed), "--no-progress", "--ckpt-every", "1000"]
    costs["dit"] = echopv(["train", "dit", *common, "--run", str(work / "dit"), "--steps", str(args.dit_steps)])
    if args.baseline_steps:
        costs["baseline"] = echopv(["train", "baseline", *common, "--run", str(work / "baseline"),
                                    "--steps", str(args.baseline_steps)])
    costs_file.write_text(json.dumps(costs))
    return costs


def with_gains(model: Path, data: Path, out: Path) -> Path:
    if not out.exists():
        echopv(["anchor-gains", str(model), "--data", str(data), "--out", str(out), "--max-traj", "64",
                "--threads", "1"])
    return out


def evaluate_surrogate(path: Path, store, idx, anchor: bool, n_samples: int = 1) -> np.ndarray:
    from echo_model.evaluate import forecast_split
    from echo_model.rollout import Surrogate

    sur = Surrogate.load(path, device="cpu", cache=False)
    if not anchor:
        sur.meta["anchor_gains"] = None
    out = forecast_split(sur, store, idx, N_FRAMES, progress=True, n_samples=n_samples)
    return out["pred"], out["true"]


def evaluate_fno(peer, store, idx) -> np.ndarray:
    preds = []
    for i in idx:
        f = store.read_fields(int(i), slice(0, 1))[0, :, 0]
        preds.append(peer.rollout(f, store.params(int(i))["nu"], N_FRAMES)[..., None])
    return np.stack(preds)


def scores(pred: np.ndarray, true: np.ndarray) -> dict:
    """Per-trajectory rel-MSE over frames 1..H, at 2H and at the last frame; per-frame curve."""
    def rel(p, t):  # (B, ..., N, C) -> (B,)
        ax = tuple(range(1, p.ndim))
        return ((p - t) ** 2).sum(ax) / (t ** 2).sum(ax)

    per_frame = np.stack([rel(pred[:, k], true[:, k]) for k in range(pred.shape[1])], 1)  # (B, T)
    out = {"curve": per_frame.mean(0).tolist()}
    for name, p, t in (("window", pred[:, :H], true[:, :H]), ("2H", pred[:, 2 * H - 1], true[:, 2 * H - 1]),
                       ("last", pred[:, -1], true[:, -1])):
        r = rel(p, t)
        out[name] = {"rel_mse": float(r.mean()), "rel_mse_std": float(r.std()), "rel_l2": float(np.sqrt(r).mean())}
    return out


def spectra(pred: np.ndarray, true: np.ndarray, points: np.ndarray, frame: int) -> dict:
    from echo_model.metrics import energy_spectrum, grid_shape

    h, w, order = grid_shape(points)
    ep = np.mean([energy_spectrum(p[frame, order, 0].reshape(h, w))[1] for p in pred], 0)
    et = np.mean([energy_spectrum(t[frame, order, 0].reshape(h, w))[1] for t in true], 0)
    return {"pred": ep.tolist(), "true": et.tolist()}


def run_echo(data: Path, store, idx, args) -> tuple[dict, dict]:
    preds, cost = {}, {}  # the shipped model's own training cost: benchmarks/results/forecast.md
    if not args.no_shipped:
        preds["ECHO shipped"] = evaluate_surrogate(SHIPPED, store, idx, anchor=False)[0]
        shipped_anchor = with_gains(SHIPPED, data, args.work / "shipped_anchor.safetensors")
        preds["ECHO shipped + anchor"] = evaluate_surrogate(shipped_anchor, store, idx, anchor=True)[0]
    for seed in args.seeds:
        work = args.work / f"seed{seed}"
        costs = train_echo(data, work, seed, args)
        tag = f" (seed {seed})" if len(args.seeds) > 1 else ""
        model = work / "dit" / "model.safetensors"
        preds["ECHO 1k" + tag] = evaluate_surrogate(model, store, idx, anchor=False)[0]
        anchored = with_gains(model, data, work / "dit_anchor.safetensors")
        preds["ECHO 1k + anchor" + tag] = evaluate_surrogate(anchored, store, idx, anchor=True)[0]
        cost["ECHO 1k" + tag] = cost["ECHO 1k + anchor" + tag] = AE_CPU_S + costs["cache"] + costs["dit"]
        if "baseline" in costs:
            base = work / "baseline" / "model.safetensors"
            preds["baseline 1k" + tag] = evaluate_surrogate(base, store, idx, anchor=False)[0]
            cost["baseline 1k" + tag] = AE_CPU_S + costs["cache"] + costs["baseline"]
    return preds, cost


def run_echo_extras(data: Path, store, idx, args) -> tuple[dict, dict]:
    """The deterministic baseline with the feedback, and ECHO's ensemble mean (seed 0's models)."""
    work = args.work / f"seed{args.seeds[0]}"
    costs = json.loads((work / "costs.json").read_text())
    preds, cost = {}, {}
    if "baseline" in costs:
        anchored = with_gains(work / "baseline" / "model.safetensors", data, work / "baseline_anchor.safetensors")
        preds["baseline 1k + anchor"] = evaluate_surrogate(anchored, store, idx, anchor=True)[0]
        cost["baseline 1k + anchor"] = AE_CPU_S + costs["cache"] + costs["baseline"]
    name = f"ECHO 1k + anchor, mean of {args.ensemble}"
    preds[name] = evaluate_surrogate(work / "dit_anchor.safetensors", store, idx, anchor=True,
                                     n_samples=args.ensemble)[0]
    cost[name] = AE_CPU_S + costs["cache"] + costs["dit"]
    return preds, cost


def run_fno(store, idx, args) -> tuple[dict, dict]:
    from fno_peer import train_fno

    preds, cost = {}, {}
    for seed in args.seeds:
        tag = f" (seed {seed})" if len(args.seeds) > 1 else ""
        peer = train_fno(store, store.split_indices("train"), args.fno_budget, seed=seed)
        preds["FNO-2d" + tag] = evaluate_fno(peer, store, idx)
        cost["FNO-2d" + tag] = peer.cpu_s
    return preds, cost


def save_part(path: Path, preds: dict, cost: dict) -> None:
    np.savez_compressed(path, **{f"pred::{k}": v.astype(np.float32) for k, v in preds.items()})
    path.with_suffix(".json").write_text(json.dumps(cost))


def load_parts(work: Path) -> tuple[dict, dict]:
    preds, cost = {}, {}
    for part in ("persistence", "echo", "echo_extras", "fno"):
        f = work / f"{part}.npz"
        if f.exists():
            with np.load(f) as z:
                preds.update({k.split("::", 1)[1]: z[k] for k in z.files})
            cost.update(json.loads(f.with_suffix(".json").read_text()))
    return preds, cost


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("runs/vorticity"))
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--dit-steps", type=int, default=4000)
    ap.add_argument("--baseline-steps", type=int, default=2000)
    ap.add_argument("--window-stride", type=int, default=4, help="frames between cached training windows")
    ap.add_argument("--fno-budget", type=float, default=1500.0, help="FNO training CPU-s per seed")
    ap.add_argument("--no-shipped", action="store_true", help="leave out the sample model's rows (more seeds)")
    ap.add_argument("--ensemble", type=int, default=4, help="members of ECHO's ensemble-mean row")
    ap.add_argument("--only", choices=("echo", "echo_extras", "fno", "report"), default=None,
                    help="one part (run 'echo' and 'fno' as two processes to use two cores, then 'report'); "
                         "default: everything in this process")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument("--data", type=Path, default=None, help="dataset (default: the cached ns2d-64 set)")
    args = ap.parse_args()

    import torch

    from echo_model.cases.cached import ensure_dataset
    from echo_model.data.store import TrajectoryStore

    torch.set_num_threads(1)
    data = args.data or ensure_dataset("ns2d-64")
    store = TrajectoryStore(data)
    idx = [int(i) for i in store.split_indices("test")[: args.n_test]]
    args.work.mkdir(parents=True, exist_ok=True)
    true = np.stack([store.read_fields(i, slice(1, 1 + N_FRAMES)) for i in idx])
    first = store_first(store, idx)
    save_part(args.work / "persistence.npz", {"persistence": np.repeat(first[:, None], N_FRAMES, 1)}, {})
    if args.only in (None, "echo"):
        save_part(args.work / "echo.npz", *run_echo(data, store, idx, args))
    if args.only in (None, "echo_extras"):
        save_part(args.work / "echo_extras.npz", *run_echo_extras(data, store, idx, args))
    if args.only in (None, "fno"):
        save_part(args.work / "fno.npz", *run_fno(store, idx, args))
    if args.only in (None, "report"):
        preds, cost = load_parts(args.work)
        results: dict = {"n_test": len(idx), "n_train": int(len(store.split_indices("train"))),
                         "dataset": data.name, "models": {},
                         "command": "benchmarks/vorticity.py " + portable(sys.argv[1:])}
        points = store.points(idx[0])
        for name, p in preds.items():
            results["models"][name] = {**scores(p, true), "train_cpu_s": cost.get(name),
                                       "spectrum_2H": spectra(p, true, points, 2 * H - 1)}
        results["models"]["truth"] = {"spectrum_2H": spectra(true, true, points, 2 * H - 1)}
        write_report(results, args.out)
    return 0


def store_first(store, idx) -> np.ndarray:
    return np.stack([store.read_fields(int(i), slice(0, 1))[0] for i in idx])


def write_report(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "vorticity.json").write_text(json.dumps(res, indent=1))
    rows = ["| model | train CPU s | rel-MSE 1..H (± std over trajectories) | rel-L2 1..H | rel-MSE at 2H (± std) "
            "| rel-MSE at frame 20 |", "|---|---|---|---|---|---|"]
    for name, m in res["models"].items():
        if name == "truth":
            continue
        c = m["train_cpu_s"]
        rows.append(f"| {name} | {'' if c is None else f'{c:.0f}'} | {m['window']['rel_mse']:.2e} ± "
                    f"{m['window']['rel_mse_std']:.1e} | {m['window']['rel_l2']:.3f} | {m['2H']['rel_mse']:.2e} ± "
                    f"{m['2H']['rel_mse_std']:.1e} | {m['last']['rel_mse']:.2e} |")
    text = [f"# Vorticity forecast at training scale ({res['dataset']})", "",
            f"`{res['command']}` — {res['n_train']} training trajectories, {res['n_test']} test trajectories, "
            f"1 observed frame, H = {H}, one sample per model.", "", *rows, "",
            "![per-frame rel-MSE](vorticity_curves.png)", "![energy spectra at 2H](vorticity_spectra.png)", ""]
    (out / "vorticity.md").write_text("\n".join(text))
    print("\n".join(rows))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in res["models"].items():
        if "curve" in m:
            ax.semilogy(np.arange(1, len(m["curve"]) + 1), m["curve"], label=name)
    ax.set_xlabel("predicted frame (0.5 s each)")
    ax.set_ylabel("rel-MSE (mean over test trajectories)")
    ax.axvline(H + 0.5, color="grey", lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "vorticity_curves.png", dpi=120)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, m in res["models"].items():
        e = np.asarray(m["spectrum_2H"]["pred"])
        ax.loglog(np.arange(1, len(e)), e[1:], label=name, lw=2.5 if name == "truth" else 1)
    ax.set_xlabel("wavenumber k")
    ax.set_ylabel("E(k) at frame 2H")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "vorticity_spectra.png", dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())

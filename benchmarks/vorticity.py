"""Vorticity forecast benchmark at training scale: ECHO, FNO-2d (neuraloperator), the deterministic
latent baseline and persistence, side by side on one held-out set, in one run.

    pip install -e '.[benchmark]' && pip install --no-deps neuraloperator==2.0.0   # the FNO peer
    nice -n 5 .venv/bin/python benchmarks/vorticity.py --work runs/vorticity

Data: `echopv generate cached ns2d-64` (1,000 trajectories of 2D Navier-Stokes vorticity at 64^2,
21 frames 0.5 s apart, viscosity in [2e-4, 2e-3]; made once into the cache), its own split; the
first --n-test trajectories of its test split are scored. Protocol: 1 observed frame, H = 8 frames
(one ECHO segment), 2H = 16 (two chained segments) and 20 frames (the longest these trajectories
hold). 4H = 32 frames (part `long`): `echopv generate cached ns2d-64-long`, 100 fresh trajectories
of 33 frames from the same generator with another seed.

Models (trained once per --seeds entry and cached under --work; training cost is this process's
CPU time, stated in the table):
  persistence      the observed frame copied forward
  ECHO shipped     sample_cases/ns2d_vorticity/model_tiny.safetensors as it is now, Heun 10 steps, one
                   sample ("ECHO, 20 sample trajectories" in the results: the sample model before the 1k
                   set, autoencoder + DiT trained on the 20 training trajectories of the sample case)
  ECHO 1k          the sample autoencoder (autoencoder_sample20.safetensors: 20 sample trajectories),
                   DiT trained on the 1k set's training windows
  ECHO 1k, AE 1k   --ae-steps N: the autoencoder trained on the 1k set too (fine-tuned from the sample
                   one, its 631 CPU-s counted; --latent-dim D trains one with D latent channels from scratch)
  baseline 1k      the same latents, the same transformer trained by regression (deterministic)
  FNO-2d           neuraloperator FNO, one-step autoregressive (benchmarks/fno_peer.py), trained to
                   --fno-budget CPU-s (set it to at least ECHO's cost, autoencoder share included)
  "+ anchor"       the decoder error feedback (echo_model/anchor.py) with gains fitted on training data

Parts (`--only`; run 'echo' and 'fno' as two processes to use two cores): echo, echo_extras (ensemble
mean, baseline + anchor, CFG, residual decoding), fno, ceiling (the autoencoder alone over the window),
long (4H forecasts of the models this --work trained), restart (the same models restarted from the
true frames 0, H, 2H, 3H of the 4H set, and their autoencoder alone there: why the error grows towards
4H), report (merges the parts of --work and of every --include directory: other seeds, recipes, budgets;
--include-long adds only the 4H parts of models trained on other data).

Other training data: `--data D.h5 --data-tag NAME` trains the same recipes on another set (e.g.
`echopv generate cached ns2d-64-41f`: 500 trajectories of 41 frames, t = 5..25 s, covering the 4H
states) under names tagged NAME; such --work directories join a report through --include-long only
(their own test split is another one).

Metrics (echo_model.metrics): rel-MSE = sum (pred - true)^2 / sum true^2 per trajectory and frame
set, then mean and std over test trajectories; rel-L2 = its square root's mean; energy spectra at 2H
and 4H. Writes benchmarks/results/vorticity.{md,json}, vorticity_curves.png, vorticity_spectra.png,
vorticity_long_curves.png, vorticity_spectra_4H.png.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_common import cpu_s, echopv, group_by_seed, portable, seed_cells  # noqa: E402
SHIPPED = ROOT / "sample_cases/ns2d_vorticity/model_tiny.safetensors"
SAMPLE_AE = ROOT / "sample_cases/ns2d_vorticity/autoencoder_sample20.safetensors"  # trained on the 20 sample trajectories
AE_CPU_S = 631.0  # its stages 1+2 (benchmarks/results/autoencoder.md)
H = 8
N_FRAMES = 20


def train_echo(data: Path, work: Path, seed: int, args) -> dict:
    """The autoencoder (the sample one, or trained on the 1k set), latents of the training windows, the DiT and
    the baseline: each stage once, its CPU cost recorded in work/costs.json (a rerun adds missing stages)."""
    costs_file = work / "costs.json"
    costs = json.loads(costs_file.read_text()) if costs_file.exists() else {}

    def stage(name: str, run) -> None:
        if name not in costs:
            costs[name] = run()
            costs_file.write_text(json.dumps(costs))

    work.mkdir(parents=True, exist_ok=True)
    ae = autoencoder_path(work, args)
    stage("ae", lambda: train_autoencoder(data, work, seed, args))
    stage("cache", lambda: cache_latents(ae, data, work, args))
    common = ["--cache", str(work / "latents.h5"), "--ae", str(ae), "--batch-size", "16", "--lr", "1e-3",
              "--threads", "1", "--seed", str(seed), "--no-progress", "--ckpt-every", "1000"]
    stage("dit", lambda: echopv(["train", "dit", *common, "--run", str(work / "dit"), "--steps", str(args.dit_steps)]))
    if args.baseline_steps:
        stage("baseline", lambda: echopv(["train", "baseline", *common, "--run", str(work / "baseline"),
                                          "--steps", str(args.baseline_steps)]))
    return costs


def autoencoder_path(work: Path, args) -> Path:
    return work / "ae" / "autoencoder.safetensors" if args.ae_steps else SAMPLE_AE


def train_autoencoder(data: Path, work: Path, seed: int, args) -> float:
    """CPU cost of the autoencoder: the sample one's (--ae-steps 0: trained on the 20 sample trajectories),
    or of training one on the 1k set's training windows, fine-tuned from the sample one (--ae-init
    sample, its 631 CPU-s counted) or from scratch."""
    if not args.ae_steps:
        return AE_CPU_S
    opts = ["--data", str(data), "--run", str(work / "ae"), "--steps", str(args.ae_steps), "--batch-size", "4",
            "--n-query", "2048", "--threads", "1", "--seed", str(seed), "--no-progress", "--ckpt-every", "500"]
    if args.ae_init == "sample":
        opts += ["--init", str(SAMPLE_AE), "--lr", "1e-3"]
    if args.latent_dim:
        opts += ["--latent-dim", str(args.latent_dim)]
    return echopv(["train", "ae", *opts]) + (AE_CPU_S if args.ae_init == "sample" else 0.0)


def cache_latents(ae: Path, data: Path, work: Path, args) -> float:
    """Latents of the training windows; an existing cache with its recorded cost is reused (seeds that
    share the sample autoencoder share its latents: copy latents.h5 and latents_cost.json over)."""
    cache, cost_file = work / "latents.h5", work / "latents_cost.json"
    if not (cache.exists() and cost_file.exists()):
        cost = echopv(["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(cache),
                       "--window-stride", str(args.window_stride), "--threads", "1"])
        cost_file.write_text(json.dumps({"cpu_s": cost}))
    return json.loads(cost_file.read_text())["cpu_s"]


def with_gains(model: Path, data: Path, out: Path) -> Path:
    if not out.exists():
        echopv(["anchor-gains", str(model), "--data", str(data), "--out", str(out), "--max-traj", "64",
                "--threads", "1"])
    return out


def evaluate_surrogate(path: Path, store, idx, anchor: bool | np.ndarray, n_samples: int = 1, n_frames: int = N_FRAMES,
                       cfg_scale: float = 1.0, start: int = 0) -> np.ndarray:
    from echo_model.evaluate import forecast_split
    from echo_model.rollout import Surrogate

    sur = Surrogate.load(path, device="cpu", cache=False)
    out = forecast_split(sur, store, idx, n_frames, progress=True, n_samples=n_samples, anchor=anchor,
                         cfg_scale=cfg_scale, start=start)
    return out["pred"], out["true"]


def evaluate_fno(peer, store, idx, n_frames: int, start: int = 0) -> np.ndarray:
    preds = []
    for i in idx:
        f = store.read_fields(int(i), slice(start, start + 1))[0, :, 0]
        preds.append(peer.rollout(f, store.params(int(i))["nu"], n_frames)[..., None])
    return np.stack(preds)


def scores(pred: np.ndarray, true: np.ndarray) -> dict:
    """Per-trajectory rel-MSE over frames 1..H, at 2H and at the last frame; per-frame curve."""
    per_frame = np.stack([rel_mse(pred[:, k], true[:, k]) for k in range(pred.shape[1])], 1)  # (B, T)
    out = {"curve": per_frame.mean(0).tolist()}
    for name, p, t in (("window", pred[:, :H], true[:, :H]), ("2H", pred[:, 2 * H - 1], true[:, 2 * H - 1]),
                       ("last", pred[:, -1], true[:, -1])):
        r = rel_mse(p, t)
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
        model = work / "dit" / "model.safetensors"
        preds[echo_name(args, seed)] = evaluate_surrogate(model, store, idx, anchor=False)[0]
        anchored = with_gains(model, data, work / "dit_anchor.safetensors")
        preds[echo_name(args, seed, " + anchor")] = evaluate_surrogate(anchored, store, idx, anchor=True)[0]
        cost[echo_name(args, seed)] = cost[echo_name(args, seed, " + anchor")] = (
            costs["ae"] + costs["cache"] + costs["dit"])
        if "baseline" in costs:
            base = work / "baseline" / "model.safetensors"
            preds[baseline_name(args, seed)] = evaluate_surrogate(base, store, idx, anchor=False)[0]
            cost[baseline_name(args, seed)] = costs["ae"] + costs["cache"] + costs["baseline"]
    return preds, cost


def run_echo_extras(data: Path, store, idx, args) -> tuple[dict, dict]:
    """--extras of seed 0's models: the deterministic baseline with the feedback, ECHO's ensemble mean,
    ECHO with classifier-free guidance (--cfg), ECHO decoding the change from the observed frame."""
    work = args.work / f"seed{args.seeds[0]}"
    costs = json.loads((work / "costs.json").read_text())
    preds, cost = {}, {}
    echo_cost = costs["ae"] + costs["cache"] + costs["dit"]
    if "baseline" in args.extras and "baseline" in costs:
        anchored = with_gains(work / "baseline" / "model.safetensors", data, work / "baseline_anchor.safetensors")
        preds[baseline_name(args, args.seeds[0], " + anchor")] = evaluate_surrogate(anchored, store, idx, anchor=True)[0]
        cost[baseline_name(args, args.seeds[0], " + anchor")] = costs["ae"] + costs["cache"] + costs["baseline"]
    if "ensemble" in args.extras:
        name = echo_name(args, args.seeds[0], f" + anchor, mean of {args.ensemble}")
        preds[name] = evaluate_surrogate(work / "dit_anchor.safetensors", store, idx, anchor=True,
                                         n_samples=args.ensemble)[0]
        cost[name] = echo_cost
    if "residual" in args.extras:  # decode the change from the observed frame: the feedback with every gain 1
        name = echo_name(args, args.seeds[0], " + residual decoding (gains 1)")
        preds[name] = evaluate_surrogate(work / "dit" / "model.safetensors", store, idx,
                                         anchor=np.ones((H, 1)))[0]
        cost[name] = echo_cost
    if "cfg" in args.extras:
        name = echo_name(args, args.seeds[0], f" + anchor, CFG {args.cfg:g}")
        preds[name] = evaluate_surrogate(work / "dit_anchor.safetensors", store, idx, anchor=True,
                                         cfg_scale=args.cfg)[0]
        cost[name] = echo_cost
    return preds, cost


def run_ceiling(store, idx, args) -> dict:
    """The autoencoder alone: encode frames 0..H of each test trajectory, decode, rel-MSE over 1..H.
    No latent model can do better over the window without the feedback."""
    rec = reconstruct_frames(autoencoder_path(args.work / f"seed{args.seeds[0]}", args), store, idx, 0)
    true = np.stack([store.read_fields(i, slice(1, H + 1)) for i in idx])
    errs = rel_mse(rec, true)
    label = "autoencoder" + (ae_tag(args) or " (sample, 20 trajectories)")
    return {label: {"rel_mse": float(np.mean(errs)), "rel_mse_std": float(np.std(errs))}}


def seed_tag(seed: int) -> str:
    return f" (seed {seed})" if seed else ""


def ae_tag(args) -> str:
    """', AE 1k' when the autoencoder was trained on the 1k set ('D=16', '(1000 AE steps)' when not the
    shipped recipe's 8 channels and 3,000 steps); '' for the sample autoencoder."""
    if not args.ae_steps:
        return ""
    tag = f", AE {args.data_tag}" + (f" D={args.latent_dim}" if args.latent_dim else "")
    return tag + (f" ({args.ae_steps} AE steps)" if args.ae_steps != 3000 else "")


def echo_name(args, seed: int, suffix: str = "") -> str:
    """'ECHO 1k' (DiT trained on the 1k set; --data-tag names other data), the autoencoder's tag, the DiT's
    steps when not 4,000."""
    dit = "" if args.dit_steps == 4000 else f", {args.dit_steps // 1000}k steps"
    return f"ECHO {args.data_tag}{ae_tag(args)}{dit}{suffix}{seed_tag(seed)}"


def baseline_name(args, seed: int, suffix: str = "") -> str:
    return "baseline" + echo_name(args, seed, suffix)[len("ECHO"):]


def fno_name(args, seed: int) -> str:
    data = "" if args.data_tag == "1k" else f" {args.data_tag}"
    return f"FNO-2d{data}, {args.fno_budget:.0f} CPU-s budget" + seed_tag(seed)


def run_fno(store, idx, args) -> tuple[dict, dict]:
    from fno_peer import save_fno, train_fno

    preds, cost = {}, {}
    for seed in args.seeds:
        name = fno_name(args, seed)
        peer = train_fno(store, store.split_indices("train"), args.fno_budget, seed=seed)
        save_fno(peer, args.work / f"fno_seed{seed}")
        preds[name] = evaluate_fno(peer, store, idx, N_FRAMES)
        cost[name] = peer.cpu_s
    return preds, cost


def long_models(args) -> dict:
    """The models this --work trained, by report name: a callable (store, idx, start, n_frames) -> forecasts
    (B, n_frames, N, C) from the true frame `start` of each trajectory (chained beyond one segment)."""
    def surrogate(path: Path, anchor: bool):
        return lambda store, idx, start, n: evaluate_surrogate(path, store, idx, anchor=anchor, n_frames=n,
                                                               start=start)[0]

    models = {}
    for seed in args.seeds:
        work = args.work / f"seed{seed}"
        if (work / "dit_anchor.safetensors").exists():
            models[echo_name(args, seed, " + anchor")] = surrogate(work / "dit_anchor.safetensors", True)
        if (work / "baseline_anchor.safetensors").exists():
            models[baseline_name(args, seed, " + anchor")] = surrogate(work / "baseline_anchor.safetensors", True)
        elif (work / "baseline" / "model.safetensors").exists():
            models[baseline_name(args, seed)] = surrogate(work / "baseline" / "model.safetensors", False)
        if (args.work / f"fno_seed{seed}.safetensors").exists():
            from fno_peer import load_fno

            peer = load_fno(args.work / f"fno_seed{seed}")
            models[fno_name(args, seed)] = lambda store, idx, start, n, peer=peer: evaluate_fno(peer, store, idx, n,
                                                                                               start)
    return models


def long_store(args):
    from echo_model.cases.cached import ensure_dataset
    from echo_model.data.store import TrajectoryStore

    store = TrajectoryStore(args.long_data or ensure_dataset("ns2d-64-long"))
    return store, list(range(len(store)))


def run_long(args) -> tuple[dict, dict]:
    """4H = 32 frames, chained, on 100 fresh 33-frame trajectories (`ns2d-64-long`, another seed of the
    same generator): the models this --work trained, persistence."""
    store, idx = long_store(args)
    preds = {"persistence": np.repeat(store_first(store, idx)[:, None], 4 * H, 1)}
    for name, forecast in long_models(args).items():
        preds[name] = forecast(store, idx, 0, 4 * H)
    return preds, {}


RESTARTS = (0, H, 2 * H, 3 * H)  # start frames of the restarted segments on the 4H set


def run_restart(args) -> tuple[dict, dict]:
    """Why the error grows towards 4H: each model started afresh from the true frame s of the 4H set
    (s = 0, H, 2H, 3H), H frames each, and the autoencoder alone on frames s..s+H. Against the chained
    forecast at the same frames this separates what starting from a predicted frame costs (chained /
    restarted) from what the later states cost by themselves (restarted at 3H / at 0: the training
    windows of the 21-frame set start at frames 0..12, so no latent model conditioned on a later state)."""
    store, idx = long_store(args)
    preds = {}
    for name, forecast in long_models(args).items():
        for s in RESTARTS:
            preds[f"{name} @ {s}"] = forecast(store, idx, s, H)
    if (args.work / f"seed{args.seeds[0]}").exists():  # a latent model trained here: its autoencoder too
        ae = autoencoder_path(args.work / f"seed{args.seeds[0]}", args)
        for s in RESTARTS:
            preds[f"autoencoder{ae_tag(args)} @ {s}"] = reconstruct_frames(ae, store, idx, s)
    return preds, {}


def reconstruct_frames(ae: Path, store, idx, start: int) -> np.ndarray:
    """Frames start+1..start+H of each trajectory through the autoencoder (encoded with frame `start`)."""
    from ae_reconstruction import reconstruct

    from echo_model.data.normalize import ChannelStats, Domain
    from echo_model.nn.autoencoder import load_autoencoder

    model, meta = load_autoencoder(ae)
    stats, domain = ChannelStats.from_dict(meta["stats"]), Domain.from_dict(meta["domain"])
    out = []
    for i in idx:
        w = store.read_fields(i, slice(start, start + H + 1))
        out.append(stats.denormalize(reconstruct(model, domain.to_unit(store.points(i)), stats.normalize(w), 1.0, 0))[1:])
    return np.stack(out)


def save_part(path: Path, preds: dict, cost: dict) -> None:
    np.savez_compressed(path, **{f"pred::{k}": v.astype(np.float32) for k, v in preds.items()})
    path.with_suffix(".json").write_text(json.dumps(cost))


def load_parts(dirs: list[Path], parts: tuple[str, ...]) -> tuple[dict, dict]:
    preds, cost = {}, {}
    for work in dirs:
        for part in parts:
            for f in sorted(work.glob(f"{part}*.npz")):  # echo_extras, echo_extras_cfg, ...
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
    ap.add_argument("--ae-steps", type=int, default=0,
                    help="train the autoencoder on the 1k set for this many steps (0: the sample one)")
    ap.add_argument("--ae-init", choices=("sample", "scratch"), default="sample",
                    help="start the autoencoder from the sample one (20 trajectories) or from random weights")
    ap.add_argument("--latent-dim", type=int, default=None, help="latent channels (implies --ae-init scratch)")
    ap.add_argument("--window-stride", type=int, default=4, help="frames between cached training windows")
    ap.add_argument("--fno-budget", type=float, default=1500.0, help="FNO training CPU-s per seed")
    ap.add_argument("--no-shipped", action="store_true", help="leave out the sample model's rows (more seeds)")
    ap.add_argument("--ensemble", type=int, default=4, help="members of ECHO's ensemble-mean row")
    ap.add_argument("--extras", nargs="+", choices=("baseline", "ensemble", "cfg", "residual"), default=["baseline", "ensemble"],
                    help="rows of the echo_extras part")
    ap.add_argument("--cfg", type=float, default=3.0, help="classifier-free guidance scale of the 'cfg' extra")
    ap.add_argument("--only", choices=("echo", "echo_extras", "fno", "ceiling", "long", "restart", "report"),
                    default=None,
                    help="one part (run 'echo' and 'fno' as two processes to use two cores, then 'long' for the "
                         "4H forecasts, then 'report'); default: everything in this process")
    ap.add_argument("--include", type=Path, nargs="*", default=[],
                    help="report: also the parts of these --work directories (other seeds, recipes, budgets)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument("--data", type=Path, default=None, help="dataset (default: the cached ns2d-64 set)")
    ap.add_argument("--data-tag", default="1k", help="the training data in model names ('1k': ns2d-64; e.g. "
                    "'500x41' for ns2d-64-41f: keep such runs out of --include, their test split differs)")
    ap.add_argument("--include-long", type=Path, nargs="*", default=[],
                    help="report: only the 4H parts (long, restart) of these --work directories: models trained "
                         "on other data (--data-tag), scored on the same 4H set")
    ap.add_argument("--long-data", type=Path, default=None,
                    help="33-frame set for 4H (default: the cached ns2d-64-long set)")
    args = ap.parse_args()
    if args.latent_dim:
        args.ae_init = "scratch"

    import torch

    from echo_model.cases.cached import ensure_dataset
    from echo_model.data.store import TrajectoryStore

    torch.set_num_threads(1)
    data = args.data or ensure_dataset("ns2d-64")
    store = TrajectoryStore(data)
    idx = [int(i) for i in store.split_indices("test")[: args.n_test]]
    args.work.mkdir(parents=True, exist_ok=True)
    first = store_first(store, idx)
    save_part(args.work / "persistence.npz", {"persistence": np.repeat(first[:, None], N_FRAMES, 1)}, {})
    if args.only in (None, "echo"):
        save_part(args.work / "echo.npz", *run_echo(data, store, idx, args))
    if args.only in (None, "echo_extras"):
        part = "echo_extras" + ("" if set(args.extras) == {"baseline", "ensemble"} else "_" + "_".join(args.extras))
        save_part(args.work / f"{part}.npz", *run_echo_extras(data, store, idx, args))
    if args.only in (None, "fno"):
        save_part(args.work / "fno.npz", *run_fno(store, idx, args))
    if args.only in (None, "ceiling"):
        (args.work / "ceiling.json").write_text(json.dumps(run_ceiling(store, idx, args)))
    if args.only in (None, "long"):
        save_part(args.work / "long.npz", *run_long(args))
    if args.only in (None, "restart"):
        save_part(args.work / "restart.npz", *run_restart(args))
    if args.only in (None, "report"):
        write_report(collect(args, data, store, idx), args.out)
    return 0


def collect(args, data: Path, store, idx) -> dict:
    """Scores of every part under --work and --include: the 1k test split (20 frames) and the 4H set."""
    from echo_model.cases.cached import ensure_dataset
    from echo_model.data.store import TrajectoryStore

    dirs = [args.work, *args.include]
    preds, cost = load_parts(dirs, ("persistence", "echo", "echo_extras", "fno"))
    true = np.stack([store.read_fields(i, slice(1, 1 + N_FRAMES)) for i in idx])
    res: dict = {"n_test": len(idx), "n_train": int(len(store.split_indices("train"))), "dataset": data.name,
                 "models": {}, "long": {}, "command": "benchmarks/vorticity.py " + portable(sys.argv[1:])}
    points = store.points(idx[0])
    for name, p in preds.items():
        res["models"][name] = {**scores(p, true), "train_cpu_s": cost.get(name),
                               "spectrum_2H": spectra(p, true, points, 2 * H - 1)}
    res["models"]["truth"] = {"spectrum_2H": spectra(true, true, points, 2 * H - 1)}
    res["ceiling"] = {k: v for d in dirs if (d / "ceiling.json").exists()
                      for k, v in json.loads((d / "ceiling.json").read_text()).items()}
    long_dirs = dirs + list(args.include_long)
    long_preds, _ = load_parts(long_dirs, ("long",))
    cost.update(load_parts(args.include_long, ("echo", "fno"))[1])  # their training costs only
    if long_preds:
        lstore = TrajectoryStore(args.long_data or ensure_dataset("ns2d-64-long"))
        lidx = list(range(len(lstore)))
        ltrue = np.stack([lstore.read_fields(i, slice(1, 1 + 4 * H)) for i in lidx])
        res["long_dataset"], res["n_long"] = lstore.path.name, len(lidx)
        for name, p in long_preds.items():
            res["long"][name] = {**scores(p, ltrue), "train_cpu_s": cost.get(name),
                                 "spectrum_4H": spectra(p, ltrue, points, 4 * H - 1)}
        res["long"]["truth"] = {"spectrum_4H": spectra(ltrue, ltrue, points, 4 * H - 1)}
        restart, _ = load_parts(long_dirs, ("restart",))
        res["restart"] = restart_scores(restart, long_preds, ltrue)
    return res


def rel_mse(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(B, ..., N, C) -> (B,): sum (pred - true)^2 / sum true^2 per trajectory."""
    ax = tuple(range(1, pred.ndim))
    return ((pred - true) ** 2).sum(ax) / (true ** 2).sum(ax)


def restart_scores(restart: dict, chained: dict, true: np.ndarray) -> dict:
    """Per model and start frame s: rel-MSE over frames s+1..s+H restarted from the true frame s, and over
    the same frames of the chained 4H forecast (where this model has one); per-frame curves for the plot.
    `restart` keys are 'model @ s'; `true` holds frames 1..4H of the 4H set."""
    out: dict = {}
    for key, pred in restart.items():
        name, s = key.rsplit(" @ ", 1)
        s = int(s)
        t = true[:, s : s + H]
        entry = {"restarted": float(rel_mse(pred, t).mean()),
                 "restarted_curve": [float(rel_mse(pred[:, k], t[:, k]).mean()) for k in range(H)]}
        if name in chained:
            entry["chained"] = float(rel_mse(chained[name][:, s : s + H], t).mean())
        out.setdefault(name, {})[str(s)] = entry
    return out


def store_first(store, idx) -> np.ndarray:
    return np.stack([store.read_fields(int(i), slice(0, 1))[0] for i in idx])


SEED = re.compile(r" \(seed (\d+)\)$")


def cpu_cell(c) -> str:
    return "" if c is None else f"{c:.0f}"


def _mse(key: str, spread: bool = True):
    return lambda m: f"{m[key]['rel_mse']:.2e}" + (f" ± {m[key]['rel_mse_std']:.1e}" if spread else "")


def _l2(key: str):
    return lambda m: f"{m[key]['rel_l2']:.3f}"


# (header, cell) columns of the two score tables, after "model" and "train CPU s"
MAIN_COLUMNS = [("rel-MSE 1..H (± std over trajectories)", _mse("window")), ("rel-L2 1..H", _l2("window")),
                ("rel-MSE at 2H (± std)", _mse("2H")), ("rel-MSE at frame 20", _mse("last", spread=False))]
LONG_COLUMNS = [("rel-MSE 1..H (± std)", _mse("window")), ("rel-MSE at 2H (± std)", _mse("2H")),
                ("rel-MSE at 4H (± std)", _mse("last")), ("rel-L2 at 4H", _l2("last"))]


def score_table(models: dict, columns: list) -> list[str]:
    rows = ["| model | train CPU s | " + " | ".join(h for h, _ in columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for name, m in models.items():
        if name != "truth":
            rows.append(f"| {name} | {cpu_cell(m['train_cpu_s'])} | " + " | ".join(cell(m) for _, cell in columns) + " |")
    return rows


def seed_table(models: dict, key: str = "2H", label: str | None = None) -> list[str]:
    """Models trained with several seeds: each seed's window and `key` errors and their means."""
    label = label or key
    rows = [f"| model | seeds | rel-MSE 1..H per seed | mean 1..H | rel-MSE at {label} per seed | mean at {label} |",
            "|---|---|---|---|---|---|"]
    for name, by_seed in group_by_seed({k: m for k, m in models.items() if k != "truth"}, SEED).items():
        cells = [c for k in ("window", key) for c in seed_cells([m[k]["rel_mse"] for m in by_seed.values()], "{:.2e}")]
        rows.append(f"| {name} | {', '.join(map(str, by_seed))} | " + " | ".join(cells) + " |")
    return rows if len(rows) > 2 else []


# (from row, to row, what changed): the report's ablation table, where both rows exist
ABLATIONS = [
    ("ECHO, 20 sample trajectories", "ECHO 1k", "DiT trained on 800 trajectories instead of 20 (data scale)"),
    ("ECHO 1k", "ECHO 1k + anchor", "decoder error feedback, gains fitted on training windows"),
    ("ECHO 1k", "ECHO 1k + residual decoding (gains 1)", "decoding the change from the observed frame (every gain 1)"),
    ("ECHO 1k + anchor", "ECHO 1k + anchor, mean of 4", "ensemble mean of 4 samples"),
    ("ECHO 1k + anchor", "ECHO 1k + anchor, CFG 3", "classifier-free guidance, scale 3"),
    ("ECHO 1k + anchor", "ECHO 1k, AE 1k + anchor", "autoencoder fine-tuned on the 800 trajectories (3000 steps)"),
    ("ECHO 1k + anchor", "ECHO 1k, AE 1k D=16 + anchor",
     "autoencoder with 16 latent channels (compression x7.2, not x14.4), trained on the 800 trajectories"),
    ("ECHO 1k, AE 1k + anchor", "ECHO 1k, AE 1k, 12k steps + anchor", "DiT 12,000 steps instead of 4,000 (training budget)"),
    ("ECHO 1k, AE 1k, 12k steps + anchor", "ECHO 1k, AE 1k, 36k steps + anchor",
     "DiT 36,000 steps instead of 12,000 (training budget)"),
    ("ECHO 1k, AE 1k, 12k steps + anchor", "ECHO 1k, AE 1k (1000 AE steps), 18k steps + anchor",
     "at FNO's 2,500 CPU-s: autoencoder fine-tuned 1,000 steps instead of 3,000, DiT 18,000 steps"),
    ("ECHO 1k + anchor", "baseline 1k + anchor", "same latents, deterministic regression instead of flow matching"),
    ("baseline 1k", "baseline 1k, AE 1k", "deterministic model: autoencoder fine-tuned on the 800 trajectories"),
    ("baseline 1k", "baseline 1k, AE 1k D=16", "deterministic model: 16-channel autoencoder trained on the 800 trajectories"),
    ("FNO-2d, 1500 CPU-s budget", "FNO-2d, 2500 CPU-s budget", "FNO training budget 1500 -> 2500 CPU-s"),
]


# the same, for models trained on other data (--include-long): compared on the 4H set only
LONG_ABLATIONS = [
    ("ECHO 1k, AE 1k (1000 AE steps), 18k steps + anchor",
     "ECHO 500x41, AE 500x41 (1000 AE steps), 18k steps + anchor",
     "ECHO at FNO's budget, trained on 500 trajectories of 41 frames (t = 5..25 s) instead of 800 of 21 "
     "(t = 5..15 s): as many training frames, covering the 4H states"),
    ("FNO-2d, 2500 CPU-s budget", "FNO-2d 500x41, 2500 CPU-s budget", "FNO, the same change of training data"),
]


def long_ablation_table(long: dict) -> list[str]:
    rows = ["| change | from | to | 1..H | 2H | 4H |", "|---|---|---|---|---|---|"]
    for a, b, what in LONG_ABLATIONS:
        if a in long and b in long:
            ratios = [f"{long[b][k]['rel_mse'] / long[a][k]['rel_mse']:.2f}x" for k in ("window", "2H", "last")]
            rows.append(f"| {what} | {a} | {b} | " + " | ".join(ratios) + " |")
    return rows if len(rows) > 2 else []


def ablation_table(models: dict, long: dict) -> list[str]:
    rows = ["| change | from | to | 1..H | 2H | 4H (fresh set) |", "|---|---|---|---|---|---|"]
    for a, b, what in ABLATIONS:
        if a in models and b in models:
            def ratio(m, key):
                return f"{m[b][key]['rel_mse'] / m[a][key]['rel_mse']:.2f}x" if a in m and b in m else ""
            rows.append(f"| {what} | {a} | {b} | {ratio(models, 'window')} | {ratio(models, '2H')} | "
                        f"{ratio(long, 'last')} |")
    return rows if len(rows) > 2 else []


def write_report(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "vorticity.json").write_text(json.dumps(res, indent=1))
    rows = score_table(res["models"], MAIN_COLUMNS)
    text = [f"# Vorticity forecast at training scale ({res['dataset']})", "",
            f"`{res['command']}` — {res['n_train']} training trajectories, {res['n_test']} test trajectories, "
            f"1 observed frame, H = {H}, one sample per model.", "", *rows, "",
            "![per-frame rel-MSE](vorticity_curves.png)", "![energy spectra at 2H](vorticity_spectra.png)", ""]
    if res.get("ceiling"):
        text += ["## The autoencoder alone", "", "Encode frames 0..H of each test trajectory, decode, rel-MSE over "
                 "frames 1..H: the error every latent model carries without the feedback.", "",
                 "| autoencoder | rel-MSE 1..H (± std) |", "|---|---|",
                 *[f"| {k} | {v['rel_mse']:.2e} ± {v['rel_mse_std']:.1e} |" for k, v in res["ceiling"].items()], ""]
    ablations = ablation_table(res["models"], res["long"])
    if ablations:
        text += ["## What each change bought", "", "Ratio of rel-MSE after / before the change (below 1: better), "
                 "same test trajectories:", "", *ablations, ""]
    seeds = seed_table(res["models"])
    if seeds:
        text += ["## Seeds", "", "The same recipe trained with other seeds (rows tagged `(seed N)` above); rel-MSE "
                 "over the same test trajectories:", "", *seeds, ""]
    if res["long"]:
        text += ["## 4H: 32 frames, chained", "",
                 f"{res['n_long']} fresh trajectories of 33 frames ({res['long_dataset']}: the same generator with "
                 f"another seed, never seen in training), 1 observed frame, forecasts of 4H = {4 * H} frames "
                 f"(ECHO: {4} chained segments), one sample per model.", "", *score_table(res["long"], LONG_COLUMNS), ""]
        long_seeds = seed_table(res["long"], "last", "4H")
        if long_seeds:
            text += [*long_seeds, ""]
        text += ["![per-frame rel-MSE to 4H](vorticity_long_curves.png)",
                 "![energy spectra at 4H](vorticity_spectra_4H.png)", ""]
    if res.get("restart"):
        text += restart_section(res["restart"])
    long_ablations = long_ablation_table(res["long"])
    if long_ablations:
        text += ["## Training data that covers the horizon", "",
                 "The same recipes trained on `echopv generate cached ns2d-64-41f` (`--data-tag 500x41`), scored on "
                 "the same 4H set; ratio of rel-MSE after / before:", "", *long_ablations, ""]
    (out / "vorticity.md").write_text("\n".join(text))
    print("\n".join(text))
    plot_curves(res["models"], out / "vorticity_curves.png")
    plot_spectra(res["models"], "spectrum_2H", "E(k) at frame 2H", out / "vorticity_spectra.png")
    if res["long"]:
        plot_curves(res["long"], out / "vorticity_long_curves.png")
        plot_spectra(res["long"], "spectrum_4H", "E(k) at frame 4H", out / "vorticity_spectra_4H.png")
    if res.get("restart"):
        plot_restart(res["restart"], res["long"], out / "vorticity_restart.png")


def restart_section(restart: dict) -> list[str]:
    """The 4H error split into the cost of starting from a predicted frame and that of the later states."""
    starts = [str(s) for s in RESTARTS]
    frames = [f"{s + 1}..{s + H}" for s in RESTARTS]
    rows = ["| model | " + " | ".join(f"restarted, frames {f}" for f in frames) + " | later states: restarted "
            f"{frames[-1]} / {frames[0]} | " + " | ".join(f"chained, frames {f}" for f in frames[1:]) +
            f" | predicted start: chained / restarted, {frames[-1]} |", "|---" * (2 * len(starts) + 2) + "|"]
    for name, by_start in restart.items():
        if not all(s in by_start for s in starts):
            continue
        r = [by_start[s]["restarted"] for s in starts]
        c = [by_start[s].get("chained") for s in starts[1:]]
        last = f"{c[-1] / r[-1]:.1f}x" if c[-1] else ""
        rows.append(f"| {name} | " + " | ".join(f"{x:.2e}" for x in r) + f" | {r[-1] / r[0]:.1f}x | "
                    + " | ".join(f"{x:.2e}" if x else "" for x in c) + f" | {last} |")
    return ["## Why the error grows towards 4H", "",
            f"Each model restarted from the true frame s = {', '.join(starts)} of the 4H set and run for H frames "
            "(`--only restart`; the autoencoder rows: frames s..s+H through the autoencoder alone), against the "
            "chained 4H forecast over the same frames; rel-MSE over the H frames, mean over the trajectories. "
            "Chained / restarted is what starting a segment from the model's own prediction costs; restarted at "
            "the last segment / at the first is what the later states cost by themselves (the 1k set's "
            "trajectories hold 21 frames, so its latent models' training windows start at frames 0..12; rows "
            "tagged 500x41 were trained on 41-frame trajectories).", "",
            *rows, "", "![restarted and chained segments](vorticity_restart.png)", ""]


def plot_restart(restart: dict, long: dict, path: Path) -> None:
    """Chained 4H curves (solid) and the segments restarted from the true frames (dashed), per model; one
    panel per training set (the 1k set, then each --data-tag)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = {k: v for k, v in restart.items() if not SEED.search(k)}
    panels: dict[str, dict] = {}
    for name, by_start in models.items():
        tag = re.search(r"\b(\d+x\d+)\b", name)  # a --data-tag such as 500x41; none: the 1k set
        panels.setdefault(tag.group(1) if tag else "1k", {})[name] = by_start
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 7), sharey=True, squeeze=False)
    for ax, (tag, group) in zip(axes[0], panels.items()):
        for i, (name, by_start) in enumerate(group.items()):
            colour = plt.cm.tab10(i % 10)
            if name in long:
                ax.semilogy(np.arange(1, 4 * H + 1), long[name]["curve"], color=colour, lw=1.5, label=f"{name}, chained")
            for j, s in enumerate(RESTARTS):
                if str(s) in by_start:
                    ax.semilogy(np.arange(s + 1, s + H + 1), by_start[str(s)]["restarted_curve"], color=colour,
                                ls="--", lw=1.2, label=f"{name}, restarted from the true frame" if j == 0 else None)
        for k in range(1, 4):
            ax.axvline(k * H + 0.5, color="grey", lw=0.5)
        ax.set_title(f"trained on {'the 1k set (21-frame trajectories)' if tag == '1k' else tag}", fontsize=10)
        ax.set_xlabel("frame of the 4H set (0.5 s each)")
        ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    axes[0, 0].set_ylabel("rel-MSE (mean over trajectories)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plotted(models: dict) -> dict:
    # other seeds only in the tables; a model drawn once, with its anchor when it has one
    return {k: m for k, m in models.items() if not SEED.search(k) and f"{k} + anchor" not in models}


def _style(i: int, name: str) -> dict:
    """Line style per model: references in black, peers dashed, a distinct colour each (tab20 has 20)."""
    import matplotlib.pyplot as plt

    if name in ("truth", "persistence"):
        return {"color": "black", "ls": "-" if name == "truth" else ":", "lw": 2.5 if name == "truth" else 1.5}
    return {"color": plt.cm.tab20(i % 20), "ls": "--" if name.startswith("FNO") else "-", "lw": 1.2}


def plot_curves(models: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5))
    for i, (name, m) in enumerate(_plotted(models).items()):
        if "curve" in m:
            ax.semilogy(np.arange(1, len(m["curve"]) + 1), m["curve"], label=name, **_style(i, name))
    ax.set_xlabel("predicted frame (0.5 s each)")
    ax.set_ylabel("rel-MSE (mean over test trajectories)")
    n = max(len(m["curve"]) for m in models.values() if "curve" in m)
    for k in range(1, (n - 1) // H + 1):  # segment boundaries
        ax.axvline(k * H + 0.5, color="grey", lw=0.5)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_spectra(models: dict, key: str, ylabel: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, (name, m) in enumerate(_plotted(models).items()):
        e = np.asarray(m[key]["pred"])
        ax.loglog(np.arange(1, len(e)), e[1:], label=name, **_style(i, name))
    ax.set_xlabel("wavenumber k")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())

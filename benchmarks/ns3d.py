"""3D forecast benchmark: ECHO (tiny preset, trained on the CPU to a budget), an FNO-3d peer (neuraloperator)
at the same CPU budget and persistence, side by side on one held-out set, in one run.

    nice -n 5 .venv/bin/python benchmarks/ns3d.py --work runs/ns3d

Data (made once into $ECHOPV_CACHE by `echopv generate cached NAME`): `ns3d-32-tg`, 96 trajectories of
decaying 3D Taylor-Green turbulence on the periodic unit cube at 32^3 (a 20 % random solenoidal
perturbation per trajectory, viscosity log-uniform in [2e-3, 1e-2], 17 frames 0.15 apart), its own
train / val / test split; `ns3d-64-tg`, 6 trajectories of the same physics at 64^3 (another seed), on which
both models trained at 32^3 are run unchanged (resolution transfer). Protocol: 1 observed frame, H = 8
frames (one ECHO segment), 2H = 16 (two chained segments).

Models (each trained once and cached under --work; cost = process CPU seconds, stated in the table):
  persistence  the observed frame copied forward
  ECHO         `echopv train all --preset tiny` on a 16^3 grid with 16 latent channels (x173 compression),
               --ae-steps / --dit-steps (no refine stage: the data is already at full resolution), Heun 10
               steps, one sample
  FNO-3d       benchmarks/fno3d_peer.py, one-step autoregressive, trained to ECHO's measured CPU cost

Metrics: rel-MSE = sum (pred - true)^2 / sum true^2 per trajectory and frame over the 3 velocity components,
mean over the test trajectories; the shell-averaged energy spectrum at 2H. Writes benchmarks/results/
ns3d.{md,json} and ns3d.png (rel-MSE per frame at 32^3 and 64^3, spectra at 2H).
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
from bench_common import echopv, portable  # noqa: E402
from fno3d_peer import cube_side, load_fno3d, save_fno3d, train_fno3d  # noqa: E402

from echo_model.metrics import energy_spectrum  # noqa: E402

H = 8
N_FRAMES = 2 * H
SETS = {"32^3 test split": "ns3d-32-tg", "64^3 (resolution transfer)": "ns3d-64-tg"}
FLOOR = "ECHO's autoencoder on the true frames"
K_MAX = 8  # spectrum error over k = 1..8: the shells that hold the energy (E falls 1e4 from k = 1 to 8)


def dataset(name: str) -> Path:
    from echo_model.cases.cached import ensure_dataset

    return ensure_dataset(name)


def echo_model_path(args) -> Path:
    """ECHO trained once into --work/echo (the cost of every stage recorded in --work/costs.json)."""
    run, costs = args.work / "echo", _costs(args)
    if "echo" not in costs:
        argv = ["train", "all", "--data", str(dataset("ns3d-32-tg")), "--run", str(run), "--preset", "tiny",
                "--ae-steps", str(args.ae_steps), "--refine-steps", "0",
                "--dit-steps", str(args.dit_steps), "--threads", "1", "--seed", str(args.seed),
                "--grid", "16", "16", "16", "--latent-dim", "16", "--n-query", "4096", "--no-progress"]
        _record_cost(args, "echo", {"cpu_s": echopv(argv), "command": "echopv " + portable(argv)})
    return run / "model.safetensors"


def fno_peer(args):
    """The FNO-3d peer trained to ECHO's measured cost (or --fno-budget), cached under --work."""
    path, costs = args.work / "fno3d", _costs(args)
    if not path.with_suffix(".json").exists():
        from echo_model.data.store import TrajectoryStore

        budget = args.fno_budget or costs["echo"]["cpu_s"]
        with TrajectoryStore(dataset("ns3d-32-tg")) as store:
            peer = train_fno3d(store, store.split_indices("train"), budget, seed=args.seed)
        save_fno3d(peer, path)
        _record_cost(args, "fno3d", {"cpu_s": peer.cpu_s, "steps": peer.steps, "budget": budget})
    return load_fno3d(path)


def _costs(args) -> dict:
    f = args.work / "costs.json"
    return json.loads(f.read_text()) if f.exists() else {}


def _record_cost(args, key: str, cost: dict) -> None:
    """Re-read before writing: the 'echo' and 'fno' parts may run as two processes at once."""
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "costs.json").write_text(json.dumps({**_costs(args), key: cost}, indent=1))


def test_indices(store, name: str, n_test: int) -> np.ndarray:
    idx = store.split_indices("test") if name == "ns3d-32-tg" else np.arange(len(store))
    return np.asarray(idx)[:n_test]


def forecasts(model: Path, peer, name: str, n_test: int) -> dict:
    """Predictions (B, 2H, N, 3) of every model and the truth on one set, with ECHO's wall time."""
    from echo_model.data.store import TrajectoryStore
    from echo_model.rollout import Surrogate

    sur = Surrogate.load(model, device="cpu", cache=False)
    out: dict[str, list] = {"truth": [], "persistence": [], "ECHO": [], "FNO-3d": [], FLOOR: []}
    wall = []
    with TrajectoryStore(dataset(name)) as store:
        for i in test_indices(store, name, n_test):
            i = int(i)
            fields, nu = store.read_fields(i, slice(0, N_FRAMES + 1)), store.params(i)["nu"]
            t0 = time.perf_counter()
            res = sur.rollout(store.points(i), fields[:1], N_FRAMES, params={"nu": nu}, seed=i)
            wall.append(time.perf_counter() - t0)
            out["truth"].append(fields[1:])
            out["persistence"].append(np.repeat(fields[:1], N_FRAMES, axis=0))
            out["ECHO"].append(res.mean)
            out["FNO-3d"].append(peer.rollout(fields[0], nu, N_FRAMES))
            out[FLOOR].append(autoencoder_round_trip(sur, store.points(i), fields))
            print(f"{name} trajectory {i}: ECHO {wall[-1]:.1f} s", flush=True)
    return {"preds": {k: np.stack(v).astype(np.float32) for k, v in out.items()}, "echo_wall_s": float(np.mean(wall))}


def autoencoder_round_trip(sur, points: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """The true frames 1..2H encoded and decoded by ECHO's autoencoder, window by window (frames 0..8,
    8..16): the floor of any forecast that this autoencoder decodes."""
    w = int(sur.window_frames)
    out = [sur.reconstruct(points, fields[a:a + w])[1:] for a in range(0, N_FRAMES, w - 1)]
    return np.concatenate(out)[:N_FRAMES]


def rel_mse_curve(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(B, T, N, C) -> (B, T) rel-MSE per trajectory and frame."""
    return ((pred - true) ** 2).sum((2, 3)) / (true**2).sum((2, 3))


def frame_spectrum(frame: np.ndarray) -> np.ndarray:
    """E(k), k = 0..n/2, of one (N, 3) frame on the n^3 periodic grid: the dataset's VTK point order
    makes the reshape [z, y, x, c], the spatial-axes-first, channels-last layout energy_spectrum takes."""
    n = cube_side(frame.shape[0])
    return energy_spectrum(frame.reshape(n, n, n, 3), dim=3)[1]


def score_set(preds: dict) -> dict:
    true = preds["truth"]
    rows = {}
    for name, p in preds.items():
        if name == "truth":
            continue
        curve = rel_mse_curve(p, true)
        rows[name] = {"curve": curve.mean(0).tolist(), "window": float(curve[:, :H].mean()),
                      "window_std": float(curve[:, :H].mean(1).std()), "2H": float(curve[:, -1].mean()),
                      "spectrum_2H": np.mean([frame_spectrum(f[-1]) for f in p], 0).tolist()}
    rows["truth"] = {"spectrum_2H": np.mean([frame_spectrum(f[-1]) for f in true], 0).tolist()}
    return rows


def spectrum_error(row: dict, truth: dict, k_max: int) -> float:
    """Largest relative deviation of E(k) from the solver's, k = 1..k_max."""
    e, t = np.asarray(row["spectrum_2H"][1:k_max + 1]), np.asarray(truth["spectrum_2H"][1:k_max + 1])
    return float(np.max(np.abs(e / t - 1)))


def report(results: dict, costs: dict, args) -> str:
    lines = ["# 3D forecast: ECHO vs FNO-3d vs persistence (decaying Taylor-Green turbulence)", "",
             "Produced by `" + args.command + "` "
             "on 2 shared CPU cores, one torch thread (see the module docstring for the data and protocol).", "",
             f"Training cost (process CPU-s): ECHO {costs['echo']['cpu_s']:.0f} (`{costs['echo']['command']}`), "
             f"FNO-3d {costs['fno3d']['cpu_s']:.0f} ({costs['fno3d']['steps']} steps of batch 4).", ""]
    for label, rows in results.items():
        if label.startswith("_"):
            continue
        k_max = K_MAX
        lines += [f"## {label}: {rows['_n']} trajectories, 1 observed frame", "",
                  f"| model | rel-MSE 1..H | rel-MSE at 2H | vs persistence (1..H) | max spectrum error k=1..{k_max} at 2H |",
                  "|---|---|---|---|---|"]
        base = rows["persistence"]["window"]
        for name in ("persistence", "FNO-3d", "ECHO", FLOOR):
            r = rows[name]
            lines.append(f"| {name} | {r['window']:.4f} ± {r['window_std']:.4f} | {r['2H']:.4f} | "
                         f"{r['window'] / base:.2f}x | {spectrum_error(r, rows['truth'], k_max):.0%} |")
        lines.append("")
        lines.append("Frames where ECHO is below persistence: "
                     f"{sum(e < p for e, p in zip(rows['ECHO']['curve'], rows['persistence']['curve']))} of {N_FRAMES}; "
                     f"ECHO / FNO-3d over 1..H: {rows['ECHO']['window'] / rows['FNO-3d']['window']:.2f}. "
                     f"ECHO rollout wall time per trajectory: {rows['_echo_wall_s']:.1f} s.")
        lines.append("")
    lines += ["![rel-MSE per frame and spectra at 2H](ns3d.png)", ""]
    return "\n".join(lines)


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [k for k in results if not k.startswith("_")]
    fig, axes = plt.subplots(2, len(sets), figsize=(5.5 * len(sets), 8), squeeze=False)
    for c, label in enumerate(sets):
        rows = results[label]
        for name in ("persistence", "FNO-3d", "ECHO"):
            axes[0, c].plot(range(1, N_FRAMES + 1), rows[name]["curve"], marker="o", ms=3, label=name)
            axes[1, c].loglog(range(1, len(rows[name]["spectrum_2H"])), rows[name]["spectrum_2H"][1:], label=name)
        axes[0, c].plot(range(1, N_FRAMES + 1), rows[FLOOR]["curve"], "k:", label="ECHO's autoencoder floor")
        axes[1, c].loglog(range(1, len(rows["truth"]["spectrum_2H"])), rows["truth"]["spectrum_2H"][1:], "k--",
                          label="solver")
        axes[0, c].axvline(H + 0.5, color="grey", lw=0.5)
        axes[0, c].set(title=f"{label}: rel-MSE per frame", xlabel="frame", yscale="log")
        axes[1, c].set(title=f"{label}: energy spectrum at 2H", xlabel="k", ylabel="E(k)")
        axes[0, c].legend()
        axes[1, c].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("runs/ns3d"))
    # `train all --budget-minutes` gives the autoencoder 45 % of the budget: here ~430 steps against 31k DiT
    # steps on a latent of 320 tokens; the autoencoder's reconstruction is the ceiling, so it gets ~75 %
    ap.add_argument("--ae-steps", type=int, default=900, help="ECHO autoencoder steps (2.5 CPU-s each at 32^3)")
    ap.add_argument("--dit-steps", type=int, default=10000, help="ECHO DiT steps (0.04 CPU-s each)")
    ap.add_argument("--fno-budget", type=float, default=None, help="FNO CPU-s (default: ECHO's measured cost)")
    ap.add_argument("--n-test", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("echo", "fno", "all"), default="all",
                    help="train one model only (run 'echo' and 'fno' as two processes to use two cores)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument("--report-only", action="store_true", help="rewrite ns3d.md and ns3d.png from ns3d.json")
    args = ap.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.command = " ".join(["nice -n 5 .venv/bin/python benchmarks/ns3d.py", *args.argv])
    if args.report_only:
        saved = json.loads((args.out / "ns3d.json").read_text())
        args.command = saved.get("command", args.command)
        return write_outputs(saved["results"], saved["costs"], args)
    if args.only in ("echo", "all"):
        model = echo_model_path(args)
    if args.only == "echo":
        return 0
    peer = fno_peer(args)
    if args.only == "fno":
        return 0
    results = {}
    for label, name in SETS.items():
        f = forecasts(model, peer, name, args.n_test)
        rows = score_set(f["preds"])
        rows["_n"], rows["_echo_wall_s"] = len(f["preds"]["truth"]), f["echo_wall_s"]
        results[label] = rows
    return write_outputs(results, _costs(args), args)


def write_outputs(results: dict, costs: dict, args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ns3d.json").write_text(json.dumps({"command": args.command, "costs": costs, "results": results},
                                                   indent=1))
    text = report(results, costs, args)
    (args.out / "ns3d.md").write_text(text)
    plot(results, args.out / "ns3d.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

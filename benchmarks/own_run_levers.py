"""The levers of ECHO itself on one own-run case, each measured against the case's ECHO model of
benchmarks/own_run.py (same autoencoder and latent cache, same DiT steps and seed; one lever at a time):

- decoding the change onto the exact observed frame instead of onto its reconstruction (rollout only);
- the task sampling (forecast masks only instead of ECHO's mix of forecast, inverse, interpolation and
  unconditional masks) and the flow-time sampling (uniform instead of logit-normal);
- more observed frames as context (2 known latent frames = 3 observed frames instead of 1);
- a longer DiT (3x the steps); a longer autoencoder (4x the steps, the whole recipe again);
- what a training step costs and redoes (user vs system CPU of the run's stages).

    python benchmarks/own_run_levers.py --work runs/own_run --case porousBlockage
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from own_run import ENSEMBLE, _echopv, _model_forecast, _sys_cpu, _unit_anchor  # noqa: E402

from echo_model.data.store import TrajectoryStore  # noqa: E402
from echo_model.skill import per_field_rel_mse  # noqa: E402

VARIANTS: dict[str, list[str]] = {
    "forecast masks only": ["--p-forward", "1", "--p-inverse", "0", "--p-interp", "0", "--p-uncond", "0"],
    "uniform flow time": ["--tau", "uniform"],
    "3 observed frames (2 known latent frames)": ["--known-latent-frames", "2"],
    "3x DiT steps": ["--steps", "9000"],
}


AE_LEVER = "autoencoder 4x steps (1,600; DiT retrained on its latents)"


def train_ae_lever(root: Path, steps: int) -> float | None:
    """The whole recipe again with 4x the autoencoder steps (the autoencoder is the forecast's ceiling)."""
    run = root / "levers" / "ae4x"
    if (run / "model.safetensors").exists():
        return None
    argv = ["train", "all", "--data", str(root / "train.h5"), "--run", str(run), "--ae-steps", "1600",
            "--refine-steps", "0", "--dit-steps", str(steps), "--threads", "1", "--no-progress"]
    user, system = _sys_cpu(lambda: _echopv(argv))
    return round(user + system, 1)


def train_variants(root: Path, steps: int, names: list[str]) -> dict[str, float]:
    """One DiT per variant on the ECHO run's latent cache; returns their CPU seconds (cached)."""
    cost_file = root / "levers" / "cost.json"
    cost = json.loads(cost_file.read_text()) if cost_file.exists() else {}
    for i, (name, extra) in enumerate(VARIANTS.items()):
        if name not in names:
            continue
        run = root / "levers" / f"v{i}"
        if (run / "model.safetensors").exists():
            continue
        argv = ["train", "dit", "--cache", str(root / "echo" / "latents.h5"), "--run", str(run), "--steps",
                str(steps), "--lr", "1e-3", "--batch-size", "16", "--threads", "1", "--no-progress", *extra]
        user, system = _sys_cpu(lambda: _echopv(argv))
        cost[name] = round(user + system, 1)
        cost_file.parent.mkdir(parents=True, exist_ok=True)
        cost_file.write_text(json.dumps(cost, indent=1))
    if AE_LEVER in names:
        spent = train_ae_lever(root, steps)
        if spent is not None:
            cost[AE_LEVER] = spent
            cost_file.write_text(json.dumps(cost, indent=1))
    return cost


def score_variants(root: Path, names: list[str]) -> list[tuple[str, dict[str, float]]]:
    split = json.loads((root / "split.json").read_text())
    with TrajectoryStore(root / "all.h5") as store:
        traj = store[0]
    n_train = split["n_train"]
    train, truth = traj.fields[:n_train], traj.fields[n_train:]
    n = truth.shape[0]
    echo = root / "echo" / "model.safetensors"
    runs = [("ECHO as in own_run.py", _model_forecast(echo, traj.points, train, n, ENSEMBLE).mean),
            ("change decoded onto the exact frame", _model_forecast(echo, traj.points, train, n, ENSEMBLE,
                                                                   anchor=_unit_anchor(echo)).mean)]
    for i, name in enumerate(VARIANTS):
        if name not in names:
            continue
        runs.append((name, _model_forecast(root / "levers" / f"v{i}" / "model.safetensors", traj.points, train, n,
                                           ENSEMBLE).mean))
    if AE_LEVER in names:
        runs.append((AE_LEVER, _model_forecast(root / "levers" / "ae4x" / "model.safetensors", traj.points, train,
                                               n, ENSEMBLE).mean))
    out = []
    for name, pred in runs:
        per = per_field_rel_mse(pred, truth, traj.field_layout)
        out.append((name, {f: float(v.mean()) for f, v in per.items()} | {f"{f} first": float(v[0])
                                                                           for f, v in per.items()}))
    return out


def stage_costs(root: Path) -> list[str]:
    """User and system CPU of the ECHO run's stages from their progress files and the run's total."""
    cost = json.loads((root / "train_cost.json").read_text())
    lines = [f"ECHO `train all`: {cost.get('echo_cpu_s')} CPU-s, of which {cost.get('echo_sys_s')} s system time"]
    for stage in ("ae", "dit"):
        prog = root / "echo" / stage / "progress.json"
        if prog.exists():
            p = json.loads(prog.read_text())
            lines.append(f"{stage}: {p['step']} steps in {p['elapsed_s']:.0f} s wall "
                         f"({p['elapsed_s'] / max(1, p['step']):.3f} s/step)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/own_run"))
    p.add_argument("--case", default="porousBlockage")
    p.add_argument("--steps", type=int, default=3000, help="DiT steps of every variant (ECHO's own recipe)")
    p.add_argument("--variants", default=",".join(map(str, range(len(VARIANTS)))),
                   help="indices into VARIANTS to train and score, len(VARIANTS) for the autoencoder lever "
                        "(default: the DiT variants)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = p.parse_args(argv)
    root = a.work / a.case
    names = [list(VARIANTS)[int(i)] if int(i) < len(VARIANTS) else AE_LEVER for i in a.variants.split(",") if i]
    cost = train_variants(root, a.steps, names)
    rows = score_variants(root, names)
    fields = [k for k in rows[0][1] if not k.endswith(" first")]
    head = ("| lever | " + " | ".join(f"{f} mean | {f} first frame" for f in fields)
            + " | training CPU-s of the variant |")
    lines = [f"Levers on `{a.case}` ({ENSEMBLE}-member means, rel-MSE over the forecast frames):", "", head,
             "|---" * (2 + 2 * len(fields)) + "|"]
    for name, sc in rows:
        cells = " | ".join(f"{sc[f]:.3g} | {sc[f + ' first']:.3g}" for f in fields)
        lines.append(f"| {name} | {cells} | {cost.get(name, '')} |")
    lines += ["", *stage_costs(root)]
    text = "\n".join(lines)
    print(text)
    (a.out / f"own_run_levers_{a.case}.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where does the obstacle-family model's Strouhal error come from?

The shape-family model (`benchmarks/cylinder.py --family shapes`) forecasts the wake's fields well but its
shedding frequency misses the solver's by a few per cent. This script takes the pieces apart, on the
family's test sets (held-in, finer, triangles), St from the same wake probe and estimator as the benchmark:

  autoencoder   the true 80 frames encoded and decoded window by window: does the latent keep the frequency?
  sampler       the same forecast with more sampler steps / another sampler (default: the model's own)
  context       the DiT given 3 or 5 true frames (2 or 3 known latent frames) instead of 1
  training      the model's forecast of its own training cases (30-40 frames each): in-sample error
  variants      other model files on the same cases (e.g. DiTs retrained on the same latents, --variant)

    .venv/bin/python benchmarks/cylinder_st_diagnosis.py --model runs/cylinder_shapes/shapes48/model.safetensors \
        --variant 'forward 0.85, 9k steps=runs/cylinder_shapes/dit_f85_9k/model.safetensors'

writes benchmarks/results/cylinder_st_diagnosis.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_common import portable  # noqa: E402
from cylinder import obstacle_of, strouhal, wake_probe  # noqa: E402

SETS = ("held-in", "finer", "triangles")
N_FRAMES = 80  # the benchmark's 2 s forecast
DT = 0.025


def test_cases() -> list[dict]:
    """Each test case's first 81 frames, points, parameters, probe and the solver's St over frames 1..80."""
    from cylinder_shapes_data import shapes_dataset

    from echo_model.data.store import TrajectoryStore

    cases = []
    for name in SETS:
        with TrajectoryStore(shapes_dataset(name)) as st:
            for i in range(len(st)):
                prm, pts = st.params(i), st.points(i)
                f = st.read_fields(i, slice(0, N_FRAMES + 1))
                probe = wake_probe(pts, prm)
                cases.append({"set": name, "case": i, "Re": prm["Re"], "shape": obstacle_of(st, i).shape,
                              "params": prm, "points": pts, "frames": f, "probe": probe,
                              "St_solver": strouhal(f[1:, probe, 1], DT, prm["Um"])})
    return cases


def st_error(c: dict, series: np.ndarray) -> float:
    return strouhal(series, DT, c["params"]["Um"]) / c["St_solver"] - 1


def autoencoder_errors(sur, cases: list[dict]) -> list[float]:
    """St of the autoencoder's round trip of the true frames 1..80 (windows of `window_frames`)."""
    out = []
    for c in cases:
        w, f = sur.window_frames, c["frames"]
        rec = np.concatenate([sur.reconstruct(c["points"], f[a : a + w])[1:] for a in range(0, N_FRAMES, w - 1)])
        out.append(st_error(c, rec[:N_FRAMES, c["probe"], 1]))
    return out


def forecast_errors(sur, cases: list[dict], known_latent: int | None = None, **opts) -> list[float]:
    """St error of the forecast from the first frame (or the first 1 + f (k - 1) frames with k known
    latent frames), scored over the frames the forecast covers."""
    out = []
    k0 = sur.known_latent_frames
    try:
        if known_latent is not None:
            sur.known_latent_frames = known_latent  # the DiT was trained on forward masks with 1..T_l - 1 known
        n_obs = sur.n_observed_frames
        for c in cases:
            f = c["frames"]
            res = sur.rollout(c["points"], f[:n_obs], N_FRAMES + 1 - n_obs, params=c["params"], seed=c["case"], **opts)
            sol = strouhal(f[n_obs:, c["probe"], 1], DT, c["params"]["Um"])
            out.append(strouhal(res.mean[:, c["probe"], 1], DT, c["params"]["Um"]) / sol - 1)
    finally:
        sur.known_latent_frames = k0
    return out


def training_errors(sur, family: Path) -> dict:
    """In-sample: the model's forecast of each training case over its own length (30-40 frames)."""
    from echo_model.data.store import TrajectoryStore

    rows = []
    with TrajectoryStore(family) as st:
        for i in map(int, st.split_indices("train")):
            f, prm, pts = st.read_fields(i), st.params(i), st.points(i)
            probe = wake_probe(pts, prm)
            res = sur.rollout(pts, f[:1], len(f) - 1, params=prm, seed=i)
            rows.append(strouhal(res.mean[:, probe, 1], DT, prm["Um"]) / strouhal(f[1:, probe, 1], DT, prm["Um"]) - 1)
    e = np.array(rows)
    return {"n": len(e), "mean": float(e.mean()), "mean_abs": float(np.abs(e).mean()), "std": float(e.std()),
            "per_case": e.tolist()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--variant", action="append", default=[], help="'LABEL=model file': scored like --model")
    ap.add_argument("--skip-training", action="store_true", help="leave out the in-sample part (~5 CPU-min)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = ap.parse_args()

    import torch

    from cylinder import shapes_training_family

    from echo_model.rollout import Surrogate

    torch.set_num_threads(1)
    sur = Surrogate.load(args.model, device="cpu", cache=False)
    cases = test_cases()
    rows = {"autoencoder (true frames)": autoencoder_errors(sur, cases),
            f"forecast ({sur.default_sampler}, {sur.default_steps} steps)": forecast_errors(sur, cases),
            "forecast, 16 steps": forecast_errors(sur, cases, steps=16),
            "forecast, euler": forecast_errors(sur, cases, sampler="euler"),
            "forecast from 3 true frames": forecast_errors(sur, cases, known_latent=2),
            "forecast from 5 true frames": forecast_errors(sur, cases, known_latent=3)}
    for label, path in (v.split("=", 1) for v in args.variant):
        rows[label] = forecast_errors(Surrogate.load(path, device="cpu", cache=False), cases)
        print(label, flush=True)
    res = {"command": "benchmarks/cylinder_st_diagnosis.py " + portable(sys.argv[1:]),
           "cases": [{k: c[k] for k in ("set", "case", "Re", "shape", "St_solver")} for c in cases], "rows": rows,
           "training": None if args.skip_training else training_errors(sur, shapes_training_family())}
    write_report(res, args.out)
    return 0


def write_report(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "cylinder_st_diagnosis.json").write_text(json.dumps(res, indent=1))
    cs = res["cases"]
    head = " | ".join(f"{c['set']} {c['shape']} Re {c['Re']:.0f}" for c in cs)
    lines = ["# Where the obstacle-family model's Strouhal error comes from", "", f"`{res['command']}`", "",
             "St error (model / solver - 1) at the benchmark's wake probe over 2 s (80 frames at dt 0.025); the "
             "solver's St per case: " + ", ".join(f"{c['St_solver']:.4f}" for c in cs) + ".", "",
             f"| what | {head} | mean abs (held-in) |", "|---" * (len(cs) + 2) + "|"]
    held = [j for j, c in enumerate(cs) if c["set"] == "held-in"]
    for label, errs in res["rows"].items():
        lines.append(f"| {label} | " + " | ".join(f"{100 * e:+.1f} %" for e in errs)
                     + f" | {100 * np.mean(np.abs([errs[j] for j in held])):.1f} % |")
    t = res["training"]
    if t:
        lines += ["", f"In-sample: the model's forecast of its {t['n']} training cases over their own 30-40 frames: "
                  f"St error mean {100 * t['mean']:+.1f} %, mean abs {100 * t['mean_abs']:.1f} %, median abs "
                  f"{100 * np.median(np.abs(t['per_case'] or [np.nan])):.1f} %, standard deviation {100 * t['std']:.1f} % "
                  "(a shorter record: the estimator itself is coarser there)."]
    (out / "cylinder_st_diagnosis.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())

"""An analyst's own run: train on the first part of one run, forecast the rest, beside the tools
they already have (persistence, the training-mean field, DMD from `pydmd`) and the project's DMD
model kind, at a stated CPU budget.

Per case (benchmarks/own_run_cases.py: OpenFOAM tutorials nobody here tuned on, plus the project's
cylinder case), the script

1. runs the case once (cached: `WORK/<case>/case/solve.json`),
2. imports it twice with `echopv import`: the whole run after the start-up transient (`all.h5`) and
   its first `--train-fraction` of frames (`train.h5`, `--end-time`),
3. fits `echopv train dmd` and trains `echopv train all` on `train.h5` (process CPU seconds measured),
4. forecasts every frame after the training part from the last training frame and scores each
   forecast per field and frame (relative MSE), writing `WORK/<case>/scores.json`,
5. writes the tables and plots (`--only report`).

    python benchmarks/own_run.py --work runs/own_run                  # every part, every case
    python benchmarks/own_run.py --work runs/own_run --only report --out benchmarks/results

Peers: `pydmd` (benchmark extra: `pip install -e '.[benchmark]'`). The vortexShed tutorial's mesh is an m4
template: `apt-get install m4`. Nothing here is imported by the plugin.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from own_run_cases import CASES, TutorialCase, solve, solve_cylinder  # noqa: E402

from echo_model.data.normalize import ChannelStats  # noqa: E402
from echo_model.data.store import TrajectoryStore  # noqa: E402
from echo_model.skill import per_field_rel_mse  # noqa: E402

CYLINDER = TutorialCase(name="cylinder", tutorial="(echopv generate cylinder)", solver="pimpleFoam", fields="U,p",
                        control={}, start_time=3.5, character="periodic")
ALL_CASES = {**CASES, "cylinder": CYLINDER}
ENSEMBLE = 4


@dataclass
class Settings:
    work: Path
    train_fraction: float = 0.6
    ae_steps: int = 400
    dit_steps: int = 3000
    seed: int = 0


def _echopv(args: list[str]) -> float:
    """Run `echopv ...` in a child process; returns its CPU seconds (user + system)."""
    print("$ echopv " + " ".join(args), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "echo_paraview.cli", *args], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _header(path: Path) -> dict:
    from echo_model.bundle import read_meta

    return read_meta(path)


def _sys_cpu(fn) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


# ------------------------------------------------------------------------------------------
# 1-3: solve, import, train
# ------------------------------------------------------------------------------------------
def prepare(tc: TutorialCase, s: Settings) -> dict:
    """Solve and import the case; returns the split (frames, times) recorded in `split.json`."""
    root = s.work / tc.name
    case = solve_cylinder(s.work) if tc.name == "cylinder" else solve(tc, s.work)
    split_file = root / "split.json"
    if split_file.exists():
        return json.loads(split_file.read_text())
    common = ["--fields", tc.fields, "--split", "none", "--start-time", str(tc.start_time), "--quiet"]
    _echopv(["import", str(case), "--out", str(root / "all.h5"), *common])
    with TrajectoryStore(root / "all.h5") as store:
        times = store.times(0)
        n_points = store.n_points(0)
    n_train = int(round(s.train_fraction * len(times)))
    t_end = float(times[n_train - 1])
    _echopv(["import", str(case), "--out", str(root / "train.h5"), *common, "--end-time", repr(t_end)])
    split = {"n_frames": len(times), "n_train": n_train, "t_end": t_end, "n_points": n_points,
             "dt": float(np.median(np.diff(times))), "import": f"echopv import CASE --out train.h5 "
             f"{' '.join(common[:-1])} --end-time {t_end:g}"}
    split_file.write_text(json.dumps(split, indent=1))
    return split


def train(tc: TutorialCase, s: Settings) -> dict:
    """`echopv train dmd` and `echopv train all` on train.h5 (cached by their model files)."""
    root = s.work / tc.name
    cost_file = root / "train_cost.json"
    cost = json.loads(cost_file.read_text()) if cost_file.exists() else {}
    data = str(root / "train.h5")
    if not (root / "dmd" / "model.safetensors").exists():
        cost["dmd_cpu_s"] = _echopv(["train", "dmd", "--data", data, "--run", str(root / "dmd")])
    recipe = ["--ae-steps", str(s.ae_steps), "--refine-steps", "0", "--dit-steps", str(s.dit_steps), "--threads",
              "1", "--seed", str(s.seed), "--no-progress"]
    for kind, command in (("echo", ["train", "all"]), ("hybrid", ["train", "hybrid"])):
        model = root / kind / "model.safetensors"
        if model.exists() and "skill" in _header(model):
            continue
        user, system = _sys_cpu(lambda: _echopv([*command, "--data", data, "--run", str(root / kind), *recipe]))
        if f"{kind}_cpu_s" not in cost:  # a rerun that only adds the skill report keeps the training's cost
            cost.update({f"{kind}_cpu_s": round(user + system, 1), f"{kind}_sys_s": round(system, 1)})
    cost["recipe"] = " ".join(recipe)
    cost_file.write_text(json.dumps(cost, indent=1))
    return cost


# ------------------------------------------------------------------------------------------
# 4: forecasts and scores
# ------------------------------------------------------------------------------------------
PYDMD_RANKS = (2, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40)


def _pydmd_extend(snapshots: np.ndarray, rank: int, n_total: int) -> np.ndarray:
    """Plain exact DMD (pydmd) fitted on `snapshots` (n, t), its reconstruction extended to `n_total` frames."""
    from pydmd import DMD

    dmd = DMD(svd_rank=rank)
    dmd.fit(snapshots)
    dmd.dmd_time["tend"] = n_total - 1
    return dmd.reconstructed_data.real.T  # (n_total, n)


def pydmd_forecast(train: np.ndarray, stats: ChannelStats, n_total: int) -> tuple[np.ndarray, int]:
    """Plain exact DMD from `pydmd`, as an analyst runs it: the rank chosen on the training frames only
    (fitted on their first 75 %, scored on the rest), then fitted on all of them and its reconstruction
    extended in time over the forecast frames."""
    import warnings

    t, n, c = train.shape
    snaps = stats.normalize(train).reshape(t, -1).T.astype(np.float64)
    n_fit = int(round(0.75 * t))
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydmd warns about the condition number of every fit
        for r in (r for r in PYDMD_RANKS if r < n_fit - 1):
            rec = _pydmd_extend(snaps[:, :n_fit], r, t)[n_fit:]
            err = float(np.mean((rec - snaps[:, n_fit:].T) ** 2))
            scores[r] = err if np.isfinite(err) else np.inf
        rank = min(scores, key=scores.get)
        rec = _pydmd_extend(snaps, rank, n_total)[t:]
    return stats.denormalize(rec.reshape(-1, n, c)), rank


def _model_forecast(path: Path, points: np.ndarray, observed: np.ndarray, n: int, samples: int, **kw):
    from echo_model.rollout import Surrogate

    sur = Surrogate.load(path, device="cpu", cache=False)
    obs = observed[-sur.n_observed_frames:]
    return sur.rollout(points, obs, n_frames=n, n_samples=samples, seed=0, keep_samples=True, **kw)


def _unit_anchor(path: Path) -> np.ndarray:
    """Gains 1 for every frame and channel: the decoded change is added to the exact observed frame."""
    from echo_model.rollout import Surrogate

    sur = Surrogate.load(path, device="cpu", cache=False)
    return np.ones((sur.segment_frames, sur.n_channels))


def score(tc: TutorialCase, s: Settings) -> dict:
    """Every forecast of the test frames, per field and frame; written to scores.json."""
    from echo_model.metrics import field_slices, spread_skill_ratio

    root = s.work / tc.name
    split = json.loads((root / "split.json").read_text())
    with TrajectoryStore(root / "all.h5") as store:
        traj = store[0]
    with TrajectoryStore(root / "train.h5") as store:
        stats = store.info.stats
    n_train = split["n_train"]
    train_frames, truth = traj.fields[:n_train], traj.fields[n_train:]
    n = truth.shape[0]
    layout = traj.field_layout
    preds = {"persistence": np.broadcast_to(train_frames[-1], truth.shape),
             "mean field": np.broadcast_to(train_frames.mean(axis=0), truth.shape)}
    preds["DMD (pydmd)"], pydmd_rank = pydmd_forecast(train_frames, stats, traj.n_frames)
    preds["DMD (echopv train dmd)"] = _model_forecast(root / "dmd" / "model.safetensors", traj.points,
                                                      train_frames, n, 1).mean
    echo_file = root / "echo" / "model.safetensors"
    echo = _model_forecast(echo_file, traj.points, train_frames, n, ENSEMBLE)
    preds["ECHO (1 member)"] = echo.samples[0]
    preds[f"ECHO ({ENSEMBLE}-member mean)"] = echo.mean
    preds["ECHO, change decoded onto the exact frame"] = _model_forecast(
        echo_file, traj.points, train_frames, n, ENSEMBLE, anchor=_unit_anchor(echo_file)).mean
    hybrid = None
    if (root / "hybrid" / "model.safetensors").exists():
        hybrid = _model_forecast(root / "hybrid" / "model.safetensors", traj.points, train_frames, n, ENSEMBLE)
        preds[f"hybrid DMD + ECHO ({ENSEMBLE}-member mean)"] = hybrid.mean
    out = {"case": tc.name, "character": tc.character, "n_test": n, "dt": split["dt"], "pydmd_rank": pydmd_rank,
           "per_frame": {name: {f: v.tolist() for f, v in per_field_rel_mse(p, truth, layout).items()}
                         for name, p in preds.items()},
           "spread_skill": {f: spread_skill_ratio(echo.samples[..., sl], truth[..., sl])
                            for f, sl in field_slices(layout).items()},
           "spread_skill_hybrid": {f: spread_skill_ratio(hybrid.samples[..., sl], truth[..., sl])
                                   for f, sl in field_slices(layout).items()} if hybrid is not None else {}}
    (root / "scores.json").write_text(json.dumps(out, indent=1))
    return out


# ------------------------------------------------------------------------------------------
# 5: report
# ------------------------------------------------------------------------------------------
def _rows(sc: dict) -> list[str]:
    lines = []
    fields = list(next(iter(sc["per_frame"].values())))
    for f in fields:
        base = min(np.mean(sc["per_frame"][b][f]) for b in ("persistence", "mean field", "DMD (pydmd)"))
        for name, per in sc["per_frame"].items():
            v = np.asarray(per[f])
            lines.append(f"| {sc['case']} | {f} | {name} | {v.mean():.3g} | {v[0]:.3g} | {v.mean() / base:.2f}x |")
    return lines


def _shipped(work: Path, name: str) -> tuple[str, dict]:
    """The model each case would ship: the lowest held-out skill ratio of its model files (mean over
    fields of model / better baseline, as their own skill reports state it; an in-sample report, ECHO's
    on one run, does not take part)."""
    from echo_model.bundle import read_meta
    from echo_model.skill import report_from_meta

    ratios = {}
    for kind, label in (("dmd", "DMD (echopv train dmd)"), ("echo", f"ECHO ({ENSEMBLE}-member mean)"),
                        ("hybrid", f"hybrid DMD + ECHO ({ENSEMBLE}-member mean)")):
        path = work / name / kind / "model.safetensors"
        rep = report_from_meta(read_meta(path)) if path.exists() else None
        if rep is not None and not rep.source.startswith("in-sample"):  # only held-out frames decide
            ratios[label] = float(np.mean([f.model / max(f.best_baseline, 1e-30) for f in rep.fields]))
    return min(ratios, key=ratios.get), ratios


def _case_lines(work: Path, sc: dict) -> list[str]:
    name = sc["case"]
    split = json.loads((work / name / "split.json").read_text())
    solve_cost = json.loads(next((work / name).rglob("solve.json")).read_text())
    cost = json.loads((work / name / "train_cost.json").read_text())
    shipped, ratios = _shipped(work, name)
    lines = [f"### {name} ({sc['character']})", "",
             f"{split['n_points']} cells, {split['n_frames']} frames after the start-up, dt {split['dt']:g}; "
             f"trained on the first {split['n_train']} (`{split['import']}`), forecast the next {sc['n_test']}. "
             f"Solver {solve_cost['solver_cpu_s']} CPU-s. `echopv train dmd` {cost.get('dmd_cpu_s', 0):.1f} CPU-s; "
             f"ECHO `train all {cost.get('recipe', '')}` {cost.get('echo_cpu_s', 0):.0f} CPU-s "
             f"({cost.get('echo_sys_s', 0):.0f} s of it system time), the hybrid `train hybrid` with the same recipe "
             f"{cost.get('hybrid_cpu_s', 0):.0f} CPU-s. pydmd rank {sc['pydmd_rank']} "
             "(chosen on the last quarter of the training frames).", "",
             f"Shipped by the skill reports (held-out ratio to the better baseline: "
             f"{', '.join(f'{k} {v:.2f}' for k, v in ratios.items())}): **{shipped}**. "
             f"Spread/skill (1 = calibrated): ECHO {', '.join(f'{f} {v:.2f}' for f, v in sc['spread_skill'].items())}; "
             f"hybrid {', '.join(f'{f} {v:.2f}' for f, v in sc.get('spread_skill_hybrid', {}).items())}.", "",
             "| field | forecast | rel-MSE mean over the forecast | first frame | / best of persistence, mean, pydmd |",
             "|---|---|---|---|---|"]
    return lines + ["| " + row.split(" | ", 1)[1] for row in _rows(sc)] + [""]  # without the case column


def _targets(work: Path, sc: dict) -> list[str]:
    """One row per field: the shipped forecast against the issue's targets."""
    shipped, _ = _shipped(work, sc["case"])
    per = sc["per_frame"]
    rows = []
    for f in per["persistence"]:
        mean = {k: float(np.mean(v[f])) for k, v in per.items()}
        if sc["character"] == "periodic":
            ref, ref_name, goal = mean["DMD (pydmd)"], "plain DMD", 1.0
        else:
            ref = min(mean["persistence"], mean["mean field"], mean["DMD (pydmd)"])
            ref_name, goal = "best of persistence, mean, plain DMD", 0.7
        first = per[shipped][f][0] / max(per["persistence"][f][0], 1e-30)
        ratio = mean[shipped] / max(ref, 1e-30)
        ss = (sc.get("spread_skill_hybrid") if shipped.startswith("hybrid") else sc.get("spread_skill", {})) or {}
        spread = f"{ss[f]:.2f}" if shipped != "DMD (echopv train dmd)" and f in ss else "(deterministic)"
        rows.append(f"| {sc['case']} | {f} | {shipped} | {ratio:.2f}x {ref_name} (target <= {goal}) "
                    f"{'met' if ratio <= goal else 'not met'} | {first:.2f}x (target <= 1.5) "
                    f"{'met' if first <= 1.5 else 'not met'} | {spread} |")
    return rows


HEADER = """# An analyst's own run: ECHO, DMD and the hybrid against the tools they already have

`benchmarks/own_run.py` (its docstring has the protocol): each run is solved once by the script, the
first 60 % of its frames after the start-up are imported as the training data (`echopv import
--end-time`), and every model forecasts all later frames from the last training frame. Relative MSE
per field and frame; "best" is the best of persistence, the training-mean field and plain DMD
(`pydmd`, rank chosen on the training frames). The shipped forecast is chosen by the models' own skill
reports (held-out frames for DMD; ECHO's and the hybrid's are in-sample on one run), never by the
forecast frames. Costs are process CPU seconds on a shared 2-core machine.

    {command}

![per-frame relative MSE](own_run.png)

## Against the targets

| case | field | shipped | mean over the forecast | first frame / persistence | spread/skill |
|---|---|---|---|---|---|
{targets}

## Per case
"""


def report(work: Path, out: Path, names: list[str], command: str) -> None:
    scores = [json.loads((work / n / "scores.json").read_text()) for n in names if (work / n / "scores.json").exists()]
    lines = []
    for sc in scores:
        lines += _case_lines(work, sc)
    targets = "\n".join(row for sc in scores for row in _targets(work, sc))
    text = HEADER.format(command=command, targets=targets) + "\n" + "\n".join(lines)
    print(text)
    (out / "own_run.md").write_text(text + "\n")
    _plot(scores, out / "own_run.png")


def _plot(scores: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(sc, f) for sc in scores for f in next(iter(sc["per_frame"].values()))]
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, (sc, f) in zip(axes.flat, panels):
        for name, per in sc["per_frame"].items():
            style = "--" if name in ("persistence", "mean field") else "-"
            ax.semilogy(np.arange(1, len(per[f]) + 1), per[f], style, label=name)
        ax.set_title(f"{sc['case']}: {f}")
        ax.set_xlabel("forecast frame")
        ax.set_ylabel("relative MSE")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/own_run"))
    p.add_argument("--cases", default=",".join(ALL_CASES))
    p.add_argument("--only", choices=("prepare", "train", "score", "report"), default=None)
    p.add_argument("--train-fraction", type=float, default=0.6)
    p.add_argument("--ae-steps", type=int, default=400)
    p.add_argument("--dit-steps", type=int, default=3000)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = p.parse_args(argv)
    s = Settings(work=a.work, train_fraction=a.train_fraction, ae_steps=a.ae_steps, dit_steps=a.dit_steps)
    names = [n for n in a.cases.split(",") if n]
    for name in names:
        tc = ALL_CASES[name]
        if a.only in (None, "prepare"):
            prepare(tc, s)
        if a.only in (None, "train"):
            train(tc, s)
        if a.only in (None, "score"):
            score(tc, s)
    if a.only in (None, "report"):
        report(a.work, a.out, names, "python benchmarks/own_run.py " + " ".join(argv if argv is not None else
                                                                              sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

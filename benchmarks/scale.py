"""A million points for real: peak memory and time of encode + decode, of Surrogate.rollout and of the
EchoRollout filter in pvbatch, from 16k to 4M points (2-D) and 32^3 to 256^3 (3-D), on CPU.

    nice -n 10 .venv/bin/python benchmarks/scale.py                       # every part, default sizes
    nice -n 10 .venv/bin/python benchmarks/scale.py --parts ae rollout --sizes 16384 65536
    .venv/bin/python benchmarks/scale.py --report                         # table + plot from saved JSON

Parts (each measurement runs in a fresh process, so its peak resident set is its own):
  ae        encode + decode of ONE frame: the committed 2-D vorticity model on random points and on
            grids, an untrained tiny 3-D model on res^3 grids. "peak above base" = ru_maxrss minus the
            resident set just before encoding (interpreter, torch, model, the input arrays). Cold
            builds the neighbour lists; warm reuses them but not the kernel tables (small meshes
            would keep those, see nn/contconv.py), so warm times show how the compute scales.
  rollout   Surrogate.rollout (what EchoRollout, `echopv rollout` and the demo call), 2-D grid mesh,
            16 frames, 4-member ensemble, mean + std kept (as the filter does).
  pvbatch   EchoRollout in pvbatch on an N-point Plane (vtkPolyData), 16 frames, 4 members, the
            output updated at the last time step; "above baseline" = its peak RSS minus the peak of a
            pvbatch that only builds the same mesh (the issue's method).
  pvbatch3d EchoRollout in pvbatch on n^3 vtkImageData (64^3, 128^3; 256^3 = 16.8M points: the estimate
            only unless --pvbatch3d-up-to 256), the shipped 3-D model, 16 frames (benchmarks/scale_3d.py)
  cylinder  2 s of physics (80 frames) on the OpenFOAM cylinder channel (13.5k random points in the
            2.2 x 0.41 channel, the tiny preset on a 64 x 16 grid with the trained models' sampler:
            speed does not depend on the weights) against pimpleFoam for the same span on one core.
Writes benchmarks/results/scale_<part>.json, scale.md and scale.png. Timings are on a shared,
busy 2-core machine (one torch thread): they are upper bounds.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODEL = ROOT / "sample_cases" / "ns2d_vorticity" / "model_tiny.safetensors"
SIZES_2D = [16384, 65536, 262144, 1048576, 4194304]
RES_3D = [32, 64, 96, 128]
PIMPLE_S = 214.0  # earlier measurement: pimpleFoam, 2 s of physics of the cylinder on one core (issue 9)
MB = 2**20
sys.path.insert(0, str(ROOT / "benchmarks"))
from scale_3d import PV_ROLLOUT_PART, measure_pvbatch3d, report_lines as pvbatch3d_lines  # noqa: E402
RES_3D_PVBATCH = [64, 128, 256]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _points_2d(n: int, layout: str):
    import numpy as np

    if layout == "grid":
        r = int(round(n**0.5))
        x = (np.arange(r) + 0.5) / r
        gx, gy = np.meshgrid(x, x, indexing="xy")
        return np.stack([gx.ravel(), gy.ravel()], -1)
    return np.random.default_rng(0).random((n, 2))


def _field(pts):
    import numpy as np

    f = np.zeros(len(pts), np.float32)
    rng = np.random.default_rng(1)
    for _ in range(6):
        k = rng.integers(-4, 5, pts.shape[1])
        f += rng.normal() * np.cos(2 * np.pi * (pts @ k) + rng.uniform(0, 6.3)).astype(np.float32)
    return f


# --- measurements (run in a child process) ----------------------------------------------------

def measure_ae(spec: dict) -> dict:
    """Encode + decode one frame; cold (builds the neighbour lists) and warm."""
    import numpy as np
    import torch

    from echo_model.data.normalize import Domain
    from echo_model.rollout import Surrogate, create_untrained

    torch.set_num_threads(1)
    if spec["dim"] == 2:
        sur = Surrogate.load(MODEL, device="cpu", cache=False)
        pts = _points_2d(spec["n"], spec["layout"])
    else:
        sur = create_untrained([("u", 1)], 3, domain=Domain([0, 0, 0], [1, 1, 1], (True, True, True)), seed=0)
        r = spec["res"]
        x = (np.arange(r) + 0.5) / r
        pts = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    p = sur._points(pts)
    v = torch.from_numpy(_field(pts))[None, None, :, None]
    from echo_model.memory import auto_chunk_size
    from echo_model.nn import contconv

    contconv.KERNEL_TABLE_BYTES = 0  # measure the compute itself: small meshes would reuse their kernel tables
    chunk = auto_chunk_size()
    base, times = _rss_mb(), []
    with torch.no_grad():
        for _ in range(2):
            t0 = time.perf_counter()
            z = sur.encode(p, v, chunk)
            out = sur.decode_frames(torch.cat([z, z], 2)[:, :, :1], p, [0], chunk)
            times.append(time.perf_counter() - t0)
    return {"points": len(pts), "cold_s": times[0], "warm_s": times[1], "peak_above_mb": _peak_mb() - base,
            "output_mb": out.numel() * 4 / MB, "chunk_size": chunk}


def measure_rollout(spec: dict) -> dict:
    import torch

    from echo_model.rollout import Surrogate

    torch.set_num_threads(1)
    sur = Surrogate.load(MODEL, device="cpu", cache=False)
    pts = _points_2d(spec["n"], spec["layout"])
    obs = _field(pts)[None, :, None]
    sur.rollout(pts[:256], obs[:, :256], 1)  # warm-up: libraries, allocator pools
    base = _rss_mb()
    t0 = time.perf_counter()
    res = sur.rollout(pts, obs, spec["frames"], n_samples=spec["samples"], keep_samples=False)
    wall = time.perf_counter() - t0
    return {"points": len(pts), "wall_s": wall, "peak_above_mb": _peak_mb() - base,
            "output_mb": (res.mean.nbytes + res.std.nbytes) / MB, "chunk_size": res.info["chunk_size"],
            "estimate_mb": res.info["memory_estimate_bytes"] / MB}


PV_SCRIPT = r"""
import json, resource, sys, time
from paraview.simple import *
n, frames, samples, rollout = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
r = int(round(n ** 0.5)) - 1
plane = Plane(XResolution=r, YResolution=r, Origin=[0, 0, 0], Point1=[1, 0, 0], Point2=[0, 1, 0])
src = Calculator(Input=plane, ResultArrayName="vorticity", Function="sin(6.2832*coordsX)*cos(6.2832*coordsY)")
src.UpdatePipeline()
""" + PV_ROLLOUT_PART


def measure_pvbatch(spec: dict) -> dict:
    """Two pvbatch runs: the mesh only (baseline), then the mesh + EchoRollout."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "pv_scale.py"
        script.write_text(PV_SCRIPT)
        for key, flag in (("baseline", "0"), ("rollout", "1")):
            t0 = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "pvbatch", "--", str(script),
                                  str(spec["n"]), str(spec["frames"]), str(spec["samples"]), flag, str(MODEL)],
                                 capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
            lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
            if not lines:
                raise RuntimeError(f"pvbatch failed ({run.returncode}):\n{(run.stdout + run.stderr)[-3000:]}")
            out[key] = {**json.loads(lines[-1][7:]), "wall_s": time.perf_counter() - t0}
    rb = out["rollout"]
    return {"points": rb["points"], "rollout_s": rb["rollout_s"], "pvbatch_wall_s": rb["wall_s"],
            "baseline_peak_mb": out["baseline"]["peak_mb"], "peak_mb": rb["peak_mb"],
            "above_baseline_mb": rb["peak_mb"] - out["baseline"]["peak_mb"], "error": rb.get("error")}


def _cylinder_model(steps: int, sampler: str):
    """The cylinder models' architecture (tiny preset, 64 x 16 grid, U + p, Um/Re conditioning), random weights."""
    import numpy as np

    from echo_model.data.normalize import ChannelStats, Domain
    from echo_model.nn.dit import DiT, dit_config
    from echo_model.presets import autoencoder_config
    from echo_model.model_file import build_autoencoder, surrogate_meta
    from echo_model.rollout import Surrogate

    cfg = autoencoder_config("tiny", dim=2, in_channels=3, grid=(64, 16))
    ae = build_autoencoder(cfg.to_dict())
    dcfg = dit_config("tiny", latent_dim=int(ae.latent_dim), spatial_dims=2, param_dim=2)
    meta = surrogate_meta(
        ae_config=cfg.to_dict(), dit_cfg=dcfg, field_layout=[("U", 2), ("p", 1)], dim=2,
        stats=ChannelStats(np.zeros(3), np.ones(3)), domain=Domain([0.0, 0.0], [2.2, 0.41]), dt=0.025,
        latent_frames=5, known_latent_frames=1, time_factor=int(ae.time_factor),
        latent_mean=[0.0] * ae.latent_dim, latent_std=[1.0] * ae.latent_dim, param_names=["Um", "Re"],
        param_mean=[1.5, 100.0], param_std=[0.5, 30.0], sampler=sampler, steps=steps)
    return Surrogate(ae, DiT(dcfg), meta, "cpu")


def measure_cylinder(spec: dict) -> dict:
    """80 frames (2 s at dt 0.025) from one observed frame, the cylinder-model architecture, 1 thread."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    sur = _cylinder_model(spec["steps"], spec["sampler"])
    rng = np.random.default_rng(0)
    pts = rng.random((spec["n"], 2)) * [2.2, 0.41]
    obs = rng.standard_normal((1, spec["n"], 3)).astype(np.float32)
    sur.rollout(pts[:256], obs[:, :256], 1)
    times, info = [], {}
    for _ in range(2):  # cold (neighbour lists built), warm (cached: the filter re-running on the same mesh)
        t0 = time.perf_counter()
        res = sur.rollout(pts, obs, spec["frames"], params={"Um": 1.5, "Re": 100.0})
        times.append(time.perf_counter() - t0)
        info = res.info
    return {"points": spec["n"], "frames": spec["frames"], "cold_s": times[0], "warm_s": times[1],
            "steps": info["steps"], "sampler": info["sampler"], "segments": info["segments"],
            "profile": _profile_cylinder(sur, pts, obs, spec["frames"])}


def _profile_cylinder(sur, pts, obs, frames: int) -> dict:
    """Where the time goes (warm): encode, generate (DiT sampling), decode, neighbour search."""
    import torch

    from echo_model.nn import contconv

    acc = {"encode": 0.0, "generate": 0.0, "decode": 0.0}

    def timed(name, fn):
        def wrap(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[name] += time.perf_counter() - t0
        return wrap

    enc, gen, dec = sur.encode, sur.generate, sur.decode_frames
    sur.encode, sur.generate, sur.decode_frames = timed("encode", enc), timed("generate", gen), timed("decode", dec)
    try:
        t0 = time.perf_counter()
        sur.rollout(pts, obs, frames, params={"Um": 1.5, "Re": 100.0})
        total = time.perf_counter() - t0
    finally:
        sur.encode, sur.generate, sur.decode_frames = enc, gen, dec
    t0 = time.perf_counter()
    with torch.no_grad():
        p = sur._points(pts)
        contconv.neighbour_pairs(p, sur.ae.config.grid, sur.ae.config.enc_radius, sur.ae.config.periodic,
                                 to_grid=True, cache=False)
        contconv.neighbour_pairs(p, sur.ae.config.grid, sur.ae.config.dec_radius, sur.ae.config.periodic,
                                 to_grid=False, cache=False)
    acc["neighbour search (uncached, once per mesh)"] = time.perf_counter() - t0
    acc["total (warm)"] = total
    return acc


def measure_pimple(spec: dict) -> dict:
    """pimpleFoam on the fine mesh (13.4k cells), DFG 2D-2 (Um 1.5, Re 100), 2 s of physics, one core."""
    import re

    from echo_model.cases.cylinder import FamilyConfig, generate_family

    with tempfile.TemporaryDirectory() as tmp:
        cfg = FamilyConfig(n=0, include_reference=True, mesh="fine", end_time=spec["end_time"],
                           write_interval=0.025, skip_time=0.0, jobs=1, nice=10, keep_case=True)
        t0 = time.perf_counter()
        rows = generate_family(cfg, Path(tmp) / "cyl.h5", Path(tmp) / "work", progress=False)
        wall = time.perf_counter() - t0
        logs = sorted(Path(tmp, "work").rglob("log.pimpleFoam"))
        text = logs[0].read_text() if logs else ""
    cpu = [float(x) for x in re.findall(r"ExecutionTime = ([0-9.eE+-]+) s", text)]
    return {"solver_cpu_s": cpu[-1] if cpu else None, "wall_s": wall, "end_time": spec["end_time"],
            "cells": rows[0].get("cells") if rows else None}


MEASURES = {"ae": measure_ae, "rollout": measure_rollout, "pvbatch": measure_pvbatch, "cylinder": measure_cylinder,
            "pimple": measure_pimple, "pvbatch3d": measure_pvbatch3d}


def run_child(kind: str, spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, json.dumps(spec)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"over {timeout:.0f} s"}
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    if not lines:
        return {**spec, "error": (run.stdout + run.stderr).strip().splitlines()[-1:]}
    return {**spec, **json.loads(lines[-1][7:])}


# --- plan, report -------------------------------------------------------------------------------

def plan(parts: list[str], sizes: list[int], res3d: list[int], quick: bool, run_up_to: int = 128) -> list[tuple[str, dict]]:
    jobs = []
    if "ae" in parts:
        for layout in ("grid", "random"):
            jobs += [("ae", {"dim": 2, "layout": layout, "n": n}) for n in sizes]
        jobs += [("ae", {"dim": 3, "res": r}) for r in res3d]
    if "rollout" in parts:
        jobs += [("rollout", {"layout": "grid", "n": n, "frames": 16, "samples": 4}) for n in sizes if n <= 1 << 20]
    if "pvbatch" in parts:
        jobs += [("pvbatch", {"n": n, "frames": 16, "samples": 4}) for n in sizes if n >= 1 << 18]
    if "pvbatch3d" in parts:
        jobs += [("pvbatch3d", {"res": r, "frames": 16, "samples": 1, "estimate_only": r > run_up_to})
                 for r in RES_3D_PVBATCH]
    if "pimple" in parts:
        jobs += [("pimple", {"end_time": 2.0})]
    if "cylinder" in parts:
        jobs += [("cylinder", {"n": 13500, "frames": 8 if quick else 80, "steps": 10, "sampler": "heun"})]
    return jobs


def _fmt(v, nd=1):
    return "—" if v is None else (f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}")


def _ratios(rows: list[dict], key: str) -> dict[int, float]:
    """time(N) / time(N/4): 4.0 is linear."""
    by_n = {r["points"]: r.get(key) for r in rows if r.get(key)}
    out = {}
    for n, t in by_n.items():
        prev = [m for m in by_n if 3.5 * m < n < 4.5 * m]
        if prev:
            out[n] = t / by_n[prev[0]]
    return out


def report(results: dict[str, list[dict]], command: str) -> str:
    lines = ["# Scale: memory and time from 16k to 4M points (CPU)", "",
             "Machine: 2 cores shared with other jobs (load average 4-8 during the runs), no GPU, one torch",
             "thread; timings are upper bounds. Produced by:", "", f"    {command}", ""]
    ae = results.get("ae", [])
    if ae:
        lines += ["## Encode + decode of one frame (neighbour lists built = cold; cached = warm)", "",
                  "| mesh | points | cold s | warm s | warm ratio x4 | peak above base MB | output MB |",
                  "|---|---|---|---|---|---|---|"]
        for label, sel in (("2-D grid", lambda r: r.get("dim") == 2 and r.get("layout") == "grid"),
                           ("2-D random", lambda r: r.get("dim") == 2 and r.get("layout") == "random"),
                           ("3-D grid", lambda r: r.get("dim") == 3)):
            rows = [r for r in ae if sel(r)]
            ratio = _ratios([r for r in rows if "error" not in r], "warm_s")
            for r in rows:
                if "error" in r:
                    lines.append(f"| {label} | {r.get('n', r.get('res'))} | error: {r['error']} | | | | |")
                    continue
                name = f"{label} {r['res']}^3" if r.get("dim") == 3 else label
                lines.append(f"| {name} | {r['points']:,} | {r['cold_s']:.2f} | {r['warm_s']:.2f} | "
                             f"{_fmt(ratio.get(r['points']), 2)} | {r['peak_above_mb']:.0f} | {r['output_mb']:.1f} |")
        lines.append("")
    ro = [r for r in results.get("rollout", []) if "error" not in r]
    if ro:
        ratio = _ratios(ro, "wall_s")
        lines += ["## Surrogate.rollout: 16 frames, 4-member ensemble (mean + std), 2-D grid mesh", "",
                  "| points | wall s | ratio x4 | peak above base MB | outputs MB | estimate MB | chunk |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['points']:,} | {r['wall_s']:.1f} | {_fmt(ratio.get(r['points']), 2)} | "
                  f"{r['peak_above_mb']:.0f} | {r['output_mb']:.0f} | {r['estimate_mb']:.0f} | {r['chunk_size']:,} |"
                  for r in ro]
        lines.append("")
    pv = results.get("pvbatch", [])
    if pv:
        ok = [r for r in pv if "error" not in r or r.get("error") is None]
        ratio = _ratios(ok, "rollout_s")
        lines += ["## EchoRollout in pvbatch: 16 frames, 4 members, Plane polydata", "",
                  "| points | rollout s | ratio x4 | pvbatch wall s | baseline peak MB | peak MB | **above baseline MB** |",
                  "|---|---|---|---|---|---|---|"]
        for r in pv:
            if r.get("error"):
                lines.append(f"| {r.get('points', r.get('n'))} | error: {r['error']} | | | | | |")
                continue
            lines.append(f"| {r['points']:,} | {r['rollout_s']:.1f} | {_fmt(ratio.get(r['points']), 2)} | "
                         f"{r['pvbatch_wall_s']:.1f} | {r['baseline_peak_mb']:.0f} | {r['peak_mb']:.0f} | "
                         f"**{r['above_baseline_mb']:.0f}** |")
        lines.append("")
    lines += pvbatch3d_lines(results.get("pvbatch3d", []))
    for c in results.get("cylinder", []):
        if "error" in c:
            lines += [f"Cylinder: error {c['error']}", ""]
            continue
        per_2s = c["warm_s"] * 80 / c["frames"]
        pim = next((r for r in results.get("pimple", []) if r.get("solver_cpu_s")), None)
        ref_s = pim["solver_cpu_s"] if pim else PIMPLE_S
        ref_text = (f"{ref_s:.0f} s solver CPU (measured here with `--parts pimple`: fine mesh, {pim.get('cells') or '13.4k'} "
                    f"cells, DFG 2D-2 at Re 100, from rest, one core under nice on the same busy machine; the earlier "
                    f"measurement was {PIMPLE_S:.0f} s)") if pim else \
            f"{PIMPLE_S:.0f} s (the earlier measurement quoted in issue 9, not re-measured here)"
        lines += ["## Cylinder channel: 2 s of physics against pimpleFoam (one core)", "",
                  f"{c['points']:,} points, {c['frames']} frames ({c['segments']} segments), {c['sampler']} "
                  f"{c['steps']} steps, 3 channels (U, p): cold {c['cold_s']:.2f} s (neighbour lists built), "
                  f"warm {c['warm_s']:.2f} s.", "",
                  f"pimpleFoam for the same 2 s on one core: {ref_text} -> **{ref_s / per_2s:.0f}x** faster warm, "
                  f"{ref_s / (c['cold_s'] * 80 / c['frames']):.0f}x cold.", "",
                  "| part (warm rollout) | s |", "|---|---|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in c["profile"].items()]
        lines.append("")
    lines += NOTES
    return "\n".join(lines)


NOTES = [
    "## Reading the figures", "",
    "- Peak memory is bounded by the chunk budget plus O(N) arrays: the compact neighbour lists (~110 B",
    "  per point for encoder + decoder in 2-D), the outputs and one decoded segment. Before this work the",
    "  same pvbatch rollout at 1M points peaked 12.8 GB above baseline, and 2M points were killed at 20 GB.",
    "- Ratios (time at N / time at N/4; 4.0 = linear) are noisy: the machine is shared and some runs",
    "  overlapped other jobs (the 4M pvbatch run overlapped ~3 minutes of this session's tests). Below ~50k",
    "  points the rollout also keeps its kernel tables (nn/contconv.py, 32 MB per neighbour list), which",
    "  makes small meshes faster than linear and the 65k -> 262k ratio look superlinear.",
    "- Encode/decode warm times are measured without kernel tables (compute scaling); cold includes",
    "  building the neighbour lists.",
    "- The cylinder row was re-measured alone, after the CPU conv2d form of the causal conv3d",
    "  (nn/causal.py, 3-4x faster convolutions on the latent grid); the other rows predate it (their",
    "  cost is in the continuous convolutions at the points, which that change does not touch).",
    "- \"estimate\" is Surrogate.plan's figure when the row was run (the rollout's own memory, a",
    "  conservative bound; small-mesh constants were tightened afterwards, large meshes are unchanged).",
    "",
]


def plot(results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [("ae", lambda r: r.get("dim") == 2 and r.get("layout") == "grid", "encode+decode 2-D grid", "warm_s",
               "peak_above_mb"),
              ("ae", lambda r: r.get("dim") == 2 and r.get("layout") == "random", "encode+decode 2-D random",
               "warm_s", "peak_above_mb"),
              ("ae", lambda r: r.get("dim") == 3, "encode+decode 3-D grid", "warm_s", "peak_above_mb"),
              ("rollout", lambda r: True, "rollout 16 fr x 4 (python)", "wall_s", "peak_above_mb"),
              ("pvbatch", lambda r: True, "EchoRollout 16 fr x 4 (pvbatch)", "rollout_s", "above_baseline_mb")]
    for part, sel, label, tkey, mkey in series:
        rows = sorted([r for r in results.get(part, []) if sel(r) and not r.get("error") and tkey in r],
                      key=lambda r: r["points"])
        if rows:
            n = [r["points"] for r in rows]
            a.loglog(n, [r[mkey] for r in rows], "o-", label=label)
            b.loglog(n, [r[tkey] for r in rows], "o-", label=label)
    a.axhline(1536, color="k", ls=":", lw=1, label="1.5 GB target (1M, pvbatch)")
    a.axhline(2048, color="k", ls="--", lw=1, label="2 GB target (4M pvbatch, 128^3)")
    a.set(xlabel="points", ylabel="peak RSS above base (MB)", title="memory")
    b.set(xlabel="points", ylabel="seconds (1 thread, shared machine)", title="time")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["ae", "rollout", "pvbatch", "cylinder"], choices=list(MEASURES))
    ap.add_argument("--sizes", nargs="+", type=int, default=SIZES_2D, help="2-D point counts")
    ap.add_argument("--res3d", nargs="+", type=int, default=RES_3D, help="3-D grid resolutions")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per measurement")
    ap.add_argument("--quick", action="store_true", help="cylinder: 8 frames instead of 80")
    ap.add_argument("--pvbatch3d-up-to", type=int, default=128,
                    help="pvbatch3d: run grids up to this side; larger ones get the memory estimate only")
    ap.add_argument("--report", action="store_true", help="only rebuild scale.md / scale.png from saved JSON")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, spec = args.child
        print("RESULT:" + json.dumps(MEASURES[kind](json.loads(spec))), flush=True)
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "nice -n 10 .venv/bin/python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if not args.report:
        done: dict[str, list[dict]] = {}
        for kind, spec in plan(args.parts, args.sizes, args.res3d, args.quick, args.pvbatch3d_up_to):
            t0 = time.perf_counter()
            row = run_child(kind, spec, args.timeout)
            done.setdefault(kind, []).append(row)
            print(f"{kind:8s} {json.dumps(spec)} -> {json.dumps({k: v for k, v in row.items() if k not in spec})} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            path = RESULTS / f"scale_{kind}.json"
            path.write_text(json.dumps({"command": command, "rows": done[kind]}, indent=1))
    results, commands = {}, []
    for kind in MEASURES:
        path = RESULTS / f"scale_{kind}.json"
        if path.exists():
            saved = json.loads(path.read_text())
            results[kind] = saved["rows"]
            commands.append(saved["command"])
    text = report(results, "\n    ".join(dict.fromkeys(commands)))
    (RESULTS / "scale.md").write_text(text + "\n")
    plot(results, RESULTS / "scale.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

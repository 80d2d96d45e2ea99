"""The GPU suite (run by benchmarks/gpu_suite.sh): ECHO at paper scale on one GPU, in under 8 minutes.

    bash benchmarks/gpu_suite.sh             # on a machine with a CUDA GPU (H200: ~5-7 min)
    bash benchmarks/gpu_suite.sh --dry-run   # the same plumbing on tiny sizes, on CPU, in ~1 min

Steps (each prints one table row; every figure is measured, none is assumed):
  probe     bf16 matmul (8192^3) achieved TFLOP/s: the ceiling the DiT step is compared with
  dit       DiT (paper preset, width 512, depth 8) flow-matching training step in bf16 autocast on
            (B, 16, 5, 32, 32) latents: step time and achieved TFLOP/s (FLOPs counted by
            torch.utils.flop_counter on one step), as a fraction of the probe
  rollout   Surrogate.rollout on a 1024^2 grid, 16 frames, 4 members (paper-preset architecture,
            random weights: speed and memory do not depend on them): wall time, peak GPU memory
  ae3d      encode + decode of ONE 256^3 frame (16.8M points, tiny 3-D architecture): wall time,
            peak GPU memory
  train     a short stage-1 (autoencoder) and stage-2 (refine) run on 1024^2 frames of a synthetic
            smooth dataset (steps/s, peak memory), through the real `echopv train ae|refine`
Writes benchmarks/results/gpu_suite.{json,md} (gpu_suite_dry_run.* for --dry-run).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

FULL = {"probe_n": 8192, "dit_preset": "paper", "dit_batch": 16, "latent": (16, 5, 32, 32), "dit_steps": 10,
        "ae_preset": "paper", "res2d": 1024, "frames": 16, "members": 4, "res3d": 256,
        "train_res": 1024, "train_steps": 20}
DRY = {"probe_n": 256, "dit_preset": "tiny", "dit_batch": 2, "latent": (8, 3, 8, 8), "dit_steps": 2,
       "ae_preset": "tiny", "res2d": 32, "frames": 4, "members": 2, "res3d": 12,
       "train_res": 32, "train_steps": 2}


class Clock:
    """Wall time with the device synchronised, and the peak device (or host) memory of a step."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self) -> float:
        self.sync()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return time.perf_counter()

    def stop(self, t0: float) -> tuple[float, float]:
        self.sync()
        wall = time.perf_counter() - t0
        if self.device.type == "cuda":
            return wall, torch.cuda.max_memory_allocated(self.device) / 2**30
        import resource

        return wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # host peak so far (GiB)


def probe(cfg: dict, dev: torch.device, clock: Clock) -> dict:
    n = cfg["probe_n"]
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3):
        a @ b
    reps = 20 if dev.type == "cuda" else 3
    t0 = clock.start()
    for _ in range(reps):
        a @ b
    wall, _ = clock.stop(t0)
    return {"step": "probe", "shape": f"{n}^3 {str(dtype).split('.')[-1]}", "s": wall / reps,
            "tflops": 2 * n**3 * reps / wall / 1e12}


def dit_step(cfg: dict, dev: torch.device, clock: Clock) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from echo_model import flow
    from echo_model.nn.dit import DiT, dit_config

    d, t, *s = cfg["latent"]
    model = DiT(dit_config(cfg["dit_preset"], latent_dim=d, spatial_dims=len(s))).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    z = torch.randn(cfg["dit_batch"], d, t, *s, device=dev)
    mask = flow.forward_mask(cfg["dit_batch"], t, 1, device=dev)
    amp = dev.type == "cuda"

    def step() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = flow.flow_loss(model, z, mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    t0 = clock.start()
    for _ in range(cfg["dit_steps"]):
        step()
    wall, mem = clock.stop(t0)
    per = wall / cfg["dit_steps"]
    return {"step": "dit", "shape": f"{cfg['dit_preset']} B={cfg['dit_batch']} latent {tuple(cfg['latent'])}",
            "s": per, "tflops": flops / per / 1e12, "gflop_per_step": flops / 1e9, "peak_gib": mem,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def rollout(cfg: dict, dev: torch.device, clock: Clock) -> dict:
    from echo_model.data.normalize import Domain
    from echo_model.rollout import create_untrained

    torch.manual_seed(0)
    sur = create_untrained([("w", 1)], 2, preset=cfg["ae_preset"], domain=Domain([0, 0], [1, 1], (True, True)),
                           steps=10, sampler="heun", device=str(dev))
    r = cfg["res2d"]
    x = (np.arange(r) + 0.5) / r
    pts = np.stack(np.meshgrid(x, x, indexing="xy"), -1).reshape(-1, 2)
    obs = np.sin(2 * np.pi * pts[:, :1]).astype(np.float32)[None].repeat(sur.n_observed_frames, 0)
    sur.rollout(pts[:1024], obs[:, :1024], 1)
    t0 = clock.start()
    res = sur.rollout(pts, obs, cfg["frames"], n_samples=cfg["members"], keep_samples=False)
    wall, mem = clock.stop(t0)
    return {"step": "rollout", "shape": f"{r}^2 x {cfg['frames']} frames x {cfg['members']} members",
            "s": wall, "peak_gib": mem, "segments": res.info["segments"], "chunk": res.info["chunk_size"]}


def ae3d(cfg: dict, dev: torch.device, clock: Clock) -> dict:
    from echo_model.data.normalize import Domain
    from echo_model.memory import auto_chunk_size
    from echo_model.rollout import create_untrained

    sur = create_untrained([("u", 1)], 3, preset="tiny", domain=Domain([0, 0, 0], [1, 1, 1], (True,) * 3),
                           device=str(dev))
    r = cfg["res3d"]
    x = torch.arange(r, device=dev, dtype=torch.float32).add_(0.5).div_(r)
    pts = torch.stack(torch.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    vals = torch.sin(2 * torch.pi * pts[:, :1])[None, None]
    chunk = auto_chunk_size() if dev.type == "cpu" else 1 << 22  # GPUs like big chunks
    t0 = clock.start()
    with torch.no_grad():
        z = sur.encode(pts, vals, chunk)
        out = sur.decode_frames(z, pts, [0], chunk)
    wall, mem = clock.stop(t0)
    return {"step": "ae3d", "shape": f"{r}^3 = {r**3:,} points", "s": wall, "peak_gib": mem,
            "finite": bool(torch.isfinite(out).all())}


def train(cfg: dict, dev: torch.device, clock: Clock) -> dict:
    """Stage 1 (ae) then stage 2 (refine) for a few steps on a synthetic 1024^2 dataset, via the CLI."""
    from echo_model.data.normalize import Domain
    from echo_model.data.store import write_dataset
    from echo_model.data.trajectory import Trajectory

    r, n_t = cfg["train_res"], 9
    x = (np.arange(r) + 0.5) / r
    pts = np.stack(np.meshgrid(x, x, indexing="xy"), -1).reshape(-1, 2)
    rng = np.random.default_rng(0)
    trajs = []
    for i in range(2):
        k = rng.integers(1, 5, (4, 2))
        f = np.stack([sum(np.cos(2 * np.pi * (pts @ kk) + 0.3 * t * (j + 1)) for j, kk in enumerate(k))
                      for t in range(n_t)])[..., None].astype(np.float32)
        trajs.append(Trajectory(points=pts, fields=f, times=np.arange(n_t) * 0.1, field_layout=[("w", 1)]))
    out = {"step": "train", "shape": f"{r}^2 frames, {cfg['train_steps']} steps per stage"}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.h5"
        write_dataset(data, trajs, name="gpu-suite", domain=Domain([0, 0], [1, 1], (True, True)),
                      split={"train": [0, 1]}, compression=None)
        common = ["--steps", str(cfg["train_steps"]), "--device", str(dev), "--no-progress", "--ckpt-every", "0",
                  "--data", str(data), "--batch-size", "1", "--n-query", "4096",
                  "--chunk-size", str(1 << 22 if dev.type == "cuda" else 1 << 15)]
        for stage, extra in (("ae", ["--preset", cfg["ae_preset"], "--run", f"{tmp}/ae"]),
                             ("refine", ["--init", f"{tmp}/ae/autoencoder.safetensors", "--run", f"{tmp}/refine"])):
            t0 = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "train", stage, *common, *extra],
                                 capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - t0
            if run.returncode != 0:
                raise RuntimeError(f"train {stage} failed:\n{(run.stdout + run.stderr)[-2000:]}")
            out[f"{stage}_s"] = wall
            out[f"{stage}_steps_per_s"] = cfg["train_steps"] / wall
    out["s"] = out["ae_s"] + out["refine_s"]
    return out


STEPS = {"probe": probe, "dit": dit_step, "rollout": rollout, "ae3d": ae3d, "train": train}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on CPU: checks the plumbing only")
    ap.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS))
    args = ap.parse_args(argv)
    if args.dry_run:
        cfg, dev = DRY, torch.device("cpu")
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            print("gpu_suite: no CUDA GPU visible to torch; run with --dry-run on CPU, or on a GPU machine "
                  "with a CUDA build of torch (ECHOPV_TORCH_INDEX_URL, see scripts/setup.sh)", file=sys.stderr)
            return 2
        cfg, dev = FULL, torch.device("cuda")
    clock = Clock(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU (dry run)"
    rows, t_all = [], time.perf_counter()
    for step in args.steps:
        t0 = time.perf_counter()
        try:
            row = STEPS[step](cfg, dev, clock)
        except Exception as exc:  # one failing step must not hide the others' figures
            row = {"step": step, "error": f"{type(exc).__name__}: {exc}"[:500]}
        row["wall_total_s"] = time.perf_counter() - t0
        rows.append(row)
        print(json.dumps(row), flush=True)
    stem = "gpu_suite_dry_run" if args.dry_run else "gpu_suite"
    RESULTS.mkdir(parents=True, exist_ok=True)
    probe_tf = next((r.get("tflops") for r in rows if r["step"] == "probe"), None)
    lines = [f"# GPU suite{' (dry run: tiny sizes on CPU, plumbing only)' if args.dry_run else ''}", "",
             f"Device: {name}; torch {torch.__version__}; total {time.perf_counter() - t_all:.0f} s. Command:", "",
             f"    bash benchmarks/gpu_suite.sh{' --dry-run' if args.dry_run else ''}", "",
             "| step | size | s | peak memory GiB | TFLOP/s | notes |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['step']} | | | | | error: {r['error']} |")
            continue
        tf = r.get("tflops")
        note = ""
        if r["step"] == "dit" and probe_tf:
            note = f"{100 * tf / probe_tf:.0f}% of the matmul probe; {r['gflop_per_step']:.0f} GFLOP/step"
        if r["step"] == "train":
            note = f"ae {r['ae_steps_per_s']:.2f} steps/s, refine {r['refine_steps_per_s']:.2f} steps/s"
        mem = r.get("peak_gib")
        lines.append(f"| {r['step']} | {r.get('shape', '')} | {r['s']:.3f} | {'' if mem is None else f'{mem:.2f}'} | "
                     f"{'' if tf is None else f'{tf:.1f}'} | {note} |")
    (RESULTS / f"{stem}.json").write_text(json.dumps({"device": name, "rows": rows}, indent=1))
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

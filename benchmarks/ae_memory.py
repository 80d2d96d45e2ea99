"""Peak memory and time of encode + decode of ONE frame at 64^2 ... 1024^2 points on CPU (issue 4).

    .venv/bin/python benchmarks/ae_memory.py [--model RUN/model.safetensors] [--res 64 256 512 1024]

Each measurement runs in a fresh subprocess (so the peak resident set, ru_maxrss, belongs to that
case alone); "peak extra" is that peak minus the resident set just before encoding (interpreter,
torch, model, input arrays). Points are the res x res grid nodes, values a smooth random periodic
field. `cold` includes building the neighbour lists (grid binning); `warm` is a second call with
the lists cached. glibc's mmap threshold is fixed at 128 kB in the subprocesses so that the peak
measures live memory rather than heap retention. Chunked runs use --chunk-size (pairs x frames per chunk); unchunked runs are
skipped above --unchunked-max. Writes benchmarks/results/autoencoder_memory.{json,png} and prints
a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_case(res: int, chunk: int | None, model_path: str | None, preset: str, threads: int,
             train: bool = False, n_query: int = 4096) -> dict:
    import numpy as np
    import torch

    from echo_model.nn.autoencoder import EchoAutoencoder, load_autoencoder
    from echo_model.presets import autoencoder_config

    torch.set_num_threads(threads)
    if model_path:
        model, _ = load_autoencoder(model_path)
    else:
        torch.manual_seed(0)
        model = EchoAutoencoder(autoencoder_config(preset, periodic=(True, True))).eval()
    x = np.arange(res, dtype=np.float32) / res
    gx, gy = np.meshgrid(x, x, indexing="xy")
    pts = np.stack([gx.ravel(), gy.ravel()], -1)
    rng = np.random.default_rng(0)
    field = np.zeros(res * res, np.float32)
    for _ in range(8):
        k = rng.integers(-4, 5, 2)
        field += rng.normal() * np.cos(2 * np.pi * (k[0] * pts[:, 0] + k[1] * pts[:, 1]) + rng.uniform(0, 6.3))
    p = torch.from_numpy(pts)[None]
    v = torch.from_numpy(field)[None, None, :, None]
    base = _rss_mb()
    times = []
    if train:  # one stage-2 training step: encode all points, decode n_query random points, backward
        from echo_model.train.stage_ae import relative_mse

        model.train()
        q_ids = torch.from_numpy(rng.choice(res * res, min(n_query, res * res), replace=False))
        for _ in range(2):
            t0 = time.perf_counter()
            z = model.encode(p, v, chunk_size=chunk, cache=False)
            out = model.decode(z, p[:, q_ids], chunk_size=chunk, cache=False)
            loss = relative_mse(out, v[:, :, q_ids])
            loss.backward()
            times.append(time.perf_counter() - t0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"res": res, "points": res * res, "chunk_size": chunk, "mode": f"train step ({n_query} loss points)",
                "cold_s": round(times[0], 3), "warm_s": round(times[1], 3), "peak_rss_mb": round(peak, 1),
                "base_rss_mb": round(base, 1), "peak_extra_mb": round(peak - base, 1),
                "model": model_path or f"{preset} (random init)"}
    with torch.no_grad():
        for _ in range(2):  # cold (builds neighbour lists), then warm (cached)
            t0 = time.perf_counter()
            z = model.encode(p, v, chunk_size=chunk)
            out = model.decode(z, p, chunk_size=chunk)
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert out.shape == (1, 1, res * res, 1) and torch.isfinite(out).all()
    return {"res": res, "points": res * res, "chunk_size": chunk, "cold_s": round(times[0], 3),
            "warm_s": round(times[1], 3), "peak_rss_mb": round(peak, 1), "base_rss_mb": round(base, 1),
            "peak_extra_mb": round(peak - base, 1), "latent": list(z.shape[1:]),
            "model": model_path or f"{preset} (random init)"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--res", type=int, nargs="+", default=[64, 256, 512, 1024])
    ap.add_argument("--chunk-size", type=int, default=1 << 18)
    ap.add_argument("--unchunked-max", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "autoencoder_memory.json"))
    ap.add_argument("--png", default=str(RESULTS / "autoencoder_memory.png"))
    ap.add_argument("--default-malloc", action="store_true",
                    help="keep glibc's dynamic mmap threshold (faster, but the peak RSS includes heap retention)")
    ap.add_argument("--train-step", action="store_true",
                    help="measure one stage-2 training step (forward + backward, 4096 loss points) instead")
    ap.add_argument("--_case", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._case:
        res, chunk = args._case.split(":")
        print(json.dumps(one_case(int(res), None if chunk == "none" else int(chunk), args.model, args.preset,
                                  args.threads, train=args.train_step)))
        return 0
    rows = []
    for res in args.res:
        for chunk in [args.chunk_size] + ([None] if res <= args.unchunked_max else []):
            cmd = [sys.executable, __file__, "--_case", f"{res}:{chunk or 'none'}", "--preset", args.preset,
                   "--threads", str(args.threads)] + (["--model", args.model] if args.model else []) + (
                   ["--train-step"] if args.train_step else [])
            # Fixed mmap threshold: freed large blocks go back to the OS, so the peak RSS measures live
            # memory instead of glibc's heap retention (which otherwise adds a few hundred MB of noise).
            env = dict(os.environ) if args.default_malloc else {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                rows.append({"res": res, "chunk_size": chunk, "error": out.stderr.strip().splitlines()[-1:]})
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["malloc"] = "default" if args.default_malloc else "MALLOC_MMAP_THRESHOLD_=131072"
            rows.append(row)
            print(f"{res}^2 chunk={chunk}: cold {row['cold_s']} s, warm {row['warm_s']} s, "
                  f"peak extra {row['peak_extra_mb']} MB", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print("\n| points | chunk size | cold (s) | warm (s) | peak RSS (MB) | peak extra (MB) |\n|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['res']}^2 | {r['chunk_size']} | error: {r['error']} | | | |")
            continue
        print(f"| {r['res']}^2 = {r['points']:,} | {r['chunk_size'] or 'unchunked'} | {r['cold_s']} | {r['warm_s']} | "
              f"{r['peak_rss_mb']} | {r['peak_extra_mb']} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        for chunked, style in ((True, "o-"), (False, "s--")):
            sel = [r for r in rows if "error" not in r and (r["chunk_size"] is not None) == chunked]
            if not sel:
                continue
            lab = f"chunk {args.chunk_size}" if chunked else "unchunked"
            a1.loglog([r["points"] for r in sel], [r["peak_extra_mb"] for r in sel], style, label=lab)
            a2.loglog([r["points"] for r in sel], [r["warm_s"] for r in sel], style, label=lab + " (warm)")
            a2.loglog([r["points"] for r in sel], [r["cold_s"] for r in sel], style, alpha=0.4, label=lab + " (cold)")
        a1.set_xlabel("points per frame"), a1.set_ylabel("peak extra RSS (MB)"), a1.legend(fontsize=8)
        a2.set_xlabel("points per frame"), a2.set_ylabel("encode + decode (s)"), a2.legend(fontsize=8)
        fig.suptitle("ECHO autoencoder, one frame, CPU", fontsize=10)
        fig.tight_layout()
        fig.savefig(args.png, dpi=90)
        print(f"wrote {args.png}")
    except ImportError:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Per-case figures of a cylinder dataset made by `echopv generate cylinder`: cost, size, Strouhal.

    .venv/bin/python benchmarks/cylinder_family.py sample_cases/cylinder/cylinder_coarse.h5

Prints a Markdown table (the generator stores its per-case timings and measurements in the
dataset's `extra` attribute, so this needs no solver run).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from echo_model.cases.cylinder import REFERENCE_ST
from echo_model.data.store import TrajectoryStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    args = parser.parse_args()
    with TrajectoryStore(args.dataset) as store:
        extra = store.info.extra
        cases = extra.get("cases") or []
        sizes = [store.n_points(i) * store.n_frames(i) * store.info.n_channels * 4 for i in range(len(store))]
    cfg = extra.get("config", {})
    print(f"dataset {args.dataset}: {os.path.getsize(args.dataset) / 1e6:.2f} MB on disk, "
          f"{sum(sizes) / 1e6:.2f} MB of float32 fields, {len(cases)} trajectories, mesh {cfg.get('mesh')}, "
          f"{cfg.get('end_time')} s simulated, frames every {cfg.get('write_interval')} s from t = {cfg.get('skip_time')}")
    print()
    print("| case | shape | Um | Re | cx | cy | cells | frames | St | Cl amp | Cd mean | mesh s | solve s | solver CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in cases:
        print(f"| {r['case']} | {r.get('shape', 'circle')} | {r['Um']:.3f} | {r['Re']:.1f} | {r['cx']:.3f} | {r['cy']:.3f} | {r['n_points']} | "
              f"{r['n_frames']} | {r['strouhal']:.4f} | {r['cl_amp']:.3f} | {r['cd_mean']:.3f} | "
              f"{r.get('mesh_s', 0):.1f} | {r.get('solve_s', 0):.1f} | {r.get('solve_cpu_s', float('nan')):.1f} |")
    ref = extra.get("reference_case")
    if ref:
        err = abs(ref["strouhal"] - REFERENCE_ST) / REFERENCE_ST
        print(f"\nDFG 2D-2 (Re 100): St = {ref['strouhal']:.4f} vs {REFERENCE_ST} ({100 * err:.1f} % off)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

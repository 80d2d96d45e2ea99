"""`echopv generate cached NAME`: a named training-scale dataset, generated once into the cache.

The committed sample cases are small extracts; the sets a real training run wants (e.g. 1,000
trajectories at 64²) are made on demand into $ECHOPV_CACHE (default ~/.cache/echopv), with a
progress bar, and reused afterwards. The file name carries a hash of the generator settings, so
a changed generator gives a new file instead of a stale one. Prints the dataset's path.
"""
from __future__ import annotations

import argparse

from .ns2d import PRESETS, cache_dir, ensure_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"dataset name: {', '.join(sorted(PRESETS))}")
    parser.add_argument("--cache", default=None, help=f"cache directory (default {cache_dir()})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (a GPU makes 256² sets practical)")
    parser.add_argument("--batch", type=int, default=32, help="trajectories simulated together")


def run(args: argparse.Namespace) -> int:
    if args.name not in PRESETS:
        raise ValueError(f"unknown dataset {args.name!r}; choose one of {sorted(PRESETS)}")
    path = ensure_dataset(args.name, cache=args.cache, device=args.device, batch=args.batch)
    print(path)
    return 0

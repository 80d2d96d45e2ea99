"""`echopv generate cached NAME`: a named training-scale dataset, generated once into the cache.

The committed sample cases are small extracts; the sets a real training run wants (e.g. 1,000
trajectories at 64²) are made on demand into $ECHOPV_CACHE (default ~/.cache/echopv), with a
progress bar, and reused afterwards. The file name carries a hash of the generator settings, so
a changed generator gives a new file instead of a stale one. Prints the dataset's path.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import EchoUserError
from . import ns2d, ns3d

# name -> (generator, settings); `ensure_dataset(name, **overrides)` generates them once into the cache.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    # the committed sample's settings, at training scale
    "ns2d-64": ("ns2d", dict(n_traj=1000, resolution=64, frames=21, dt_frame=0.5, burn_in=5.0)),
    # 100 fresh trajectories (another seed) of 33 frames: forecasts to 4H = 32 frames against ns2d-64 models
    "ns2d-64-long": ("ns2d", dict(n_traj=100, resolution=64, frames=33, dt_frame=0.5, burn_in=5.0, seed=1)),
    # the same number of training frames as ns2d-64 on half as many trajectories twice as long (t = 5..25 s,
    # another seed): training data that covers a 4H forecast's states (benchmarks/vorticity.py, `--data-tag`)
    "ns2d-64-41f": ("ns2d", dict(n_traj=500, resolution=64, frames=41, dt_frame=0.5, burn_in=5.0, seed=2)),
    "ns2d-64-sample": ("ns2d", dict(n_traj=32, resolution=64, frames=21, dt_frame=0.5, burn_in=5.0)),
    "ns2d-128": ("ns2d", dict(n_traj=200, resolution=128, frames=21, dt_frame=0.5, burn_in=5.0)),
    "ns2d-256": ("ns2d", dict(n_traj=50, resolution=256, frames=21, dt_frame=0.5, burn_in=5.0)),
    "ns2d-64-irregular": ("ns2d", dict(n_traj=1000, resolution=64, frames=21, dt_frame=0.5, burn_in=5.0, keep_fraction=0.5)),
    "ns3d-32": ("ns3d", dict(n_traj=64, resolution=32, frames=13, dt_frame=0.1, cells=False)),
    # the 3D model's training set (benchmarks/ns3d.py): decaying Taylor-Green with a 20 % random
    # perturbation, 17 frames 0.15 apart (one observed frame + 2H = 16), and its 64^3 counterpart
    # (another seed): the same physics on 8x the points, for the resolution-transfer rows
    "ns3d-32-tg": ("ns3d", dict(n_traj=96, resolution=32, frames=17, dt_frame=0.15, perturbation=0.2, cells=False, seed=3)),
    "ns3d-64-tg": ("ns3d", dict(n_traj=6, resolution=64, frames=17, dt_frame=0.15, perturbation=0.2, cells=False, seed=4)),
}
# generator -> (config class, generate function, generator version)
GENERATORS = {
    "ns2d": (ns2d.NS2DConfig, ns2d.generate, ns2d.GENERATOR_VERSION),
    "ns3d": (ns3d.NS3DConfig, ns3d.generate, ns3d.GENERATOR_VERSION),
}


def cache_dir() -> Path:
    """$ECHOPV_CACHE, else ~/.cache/echopv."""
    return Path(os.environ.get("ECHOPV_CACHE") or Path.home() / ".cache" / "echopv")


def ensure_dataset(
    name: str,
    *,
    cache: str | os.PathLike | None = None,
    device: str = "cpu",
    batch: int = 32,
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Path of the named dataset in the cache, generating it first if it is not there yet.

    The file name carries a hash of the full generator configuration, so changed settings
    (overrides, or a new generator version) give a new file instead of a stale one.
    """
    if name not in PRESETS:
        raise EchoUserError(f"unknown dataset {name!r}; known: {sorted(PRESETS)}")
    kind, preset = PRESETS[name]
    config_class, generate, version = GENERATORS[kind]
    config = config_class(**{**preset, **overrides})
    config.validate()
    key = json.dumps({"kind": kind, "version": version, "config": config.to_dict()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    path = Path(cache or cache_dir()) / f"{name}-{digest}.h5"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(config, path, device=device, batch=batch, progress=progress)
    (path.with_suffix(".json")).write_text(json.dumps(json.loads(key), indent=2))
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"dataset name: {', '.join(sorted(PRESETS))}")
    parser.add_argument("--cache", default=None, help=f"cache directory (default {cache_dir()})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (a GPU makes 256² sets practical)")
    parser.add_argument("--batch", type=int, default=32, help="trajectories simulated together")


def run(args: argparse.Namespace) -> int:
    if args.name not in PRESETS:
        raise EchoUserError(f"unknown dataset {args.name!r}; choose one of {sorted(PRESETS)}")
    path = ensure_dataset(args.name, cache=args.cache, device=args.device, batch=args.batch)
    print(path)
    return 0

"""Describe an ECHO dataset (.h5) or model file (.safetensors): what is inside, in plain words."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def describe_dataset(path: Path) -> str:
    from .data.store import TrajectoryStore

    with TrajectoryStore(path) as store:
        info = store.info
        counts = [store.n_points(i) for i in range(len(store))]
        frames = [store.n_frames(i) for i in range(len(store))]
        params = store.params(0) if len(store) else {}
    lines = [
        f"ECHO dataset {path}",
        f"  name          {info.name}",
        f"  trajectories  {info.n_trajectories} (train {len(info.split.get('train', []))}, "
        f"val {len(info.split.get('val', []))}, test {len(info.split.get('test', []))})",
        f"  fields        {', '.join(f'{n}[{c}]' for n, c in info.field_layout)}",
        f"  points        {min(counts)}..{max(counts)} per trajectory, {info.dim}-D",
        f"  frames        {min(frames)}..{max(frames)} per trajectory",
        f"  domain        lo {info.domain.lo.tolist()} hi {info.domain.hi.tolist()} periodic {list(info.domain.periodic)}",
        f"  stats mean    {[round(x, 5) for x in info.stats.mean.tolist()]}",
        f"  stats std     {[round(x, 5) for x in info.stats.std.tolist()]}",
        f"  parameters    {sorted(params)}",
    ]
    if info.description:
        lines.append(f"  description   {info.description}")
    return "\n".join(lines)


def describe_model(path: Path) -> str:
    from .bundle import read_meta

    meta = read_meta(path)
    return f"ECHO model file {path}\n" + json.dumps(meta, indent=2, sort_keys=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="an ECHO dataset (.h5/.hdf5) or model file (.safetensors)")


def run(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix == ".safetensors":
        print(describe_model(path))
    elif path.suffix in (".h5", ".hdf5"):
        print(describe_dataset(path))
    else:
        raise ValueError(f"{path}: expected a .h5 dataset or a .safetensors model file")
    return 0

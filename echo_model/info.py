"""Describe an ECHO dataset (.h5) or model file (.safetensors): what is inside, in plain words."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Iterator

from .errors import EchoUserError
from .skill import report_from_meta


def _time_span(store, indices) -> str:
    """'t0 .. t1 every dt' over a split's trajectories (what a time-range import kept)."""
    import numpy as np

    times = [store.times(int(i)) for i in indices]
    lo, hi = min(float(t[0]) for t in times), max(float(t[-1]) for t in times)
    steps = np.concatenate([np.diff(t) for t in times if len(t) > 1]) if any(len(t) > 1 for t in times) else None
    every = f" every {float(np.median(steps)):g}" if steps is not None and steps.size else ""
    return f"t = {lo:g} .. {hi:g}{every}"


def describe_dataset(path: Path) -> str:
    from .data.store import TrajectoryStore

    with TrajectoryStore(path) as store:
        info = store.info
        counts = [store.n_points(i) for i in range(len(store))]
        frames = [store.n_frames(i) for i in range(len(store))]
        params = store.params(0) if len(store) else {}
        spans = {name: _time_span(store, idx) for name, idx in info.split.items() if len(idx)}
    lines = [
        f"ECHO dataset {path}",
        f"  name          {info.name}",
        f"  trajectories  {info.n_trajectories} (train {len(info.split.get('train', []))}, "
        f"val {len(info.split.get('val', []))}, test {len(info.split.get('test', []))})",
        f"  fields        {', '.join(f'{n}[{c}]' for n, c in info.field_layout)}",
        f"  points        {min(counts)}..{max(counts)} per trajectory, {info.dim}-D",
        f"  frames        {min(frames)}..{max(frames)} per trajectory",
        f"  times         {'; '.join(f'{k} {v}' for k, v in spans.items())}",
        f"  domain        lo {info.domain.lo.tolist()} hi {info.domain.hi.tolist()} periodic {list(info.domain.periodic)}",
        f"  stats mean    {[round(x, 5) for x in info.stats.mean.tolist()]}",
        f"  stats std     {[round(x, 5) for x in info.stats.std.tolist()]}",
        f"  parameters    {sorted(params)}",
    ]
    if info.description:
        lines.append(f"  description   {info.description}")
    return "\n".join(lines)


MAX_VALUE_CHARS = 300  # per printed value: a hostile 99 MB header still prints a page, not 99 MB
MAX_HEADER_ROWS = 200
MAX_DEPTH = 12  # nested header dicts deeper than this print as one clipped value


def _clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]} ... ({len(text):,} characters, cut)"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _flatten(prefix: str, value: Any, depth: int = 0) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and depth < MAX_DEPTH:
        for k in sorted(value):
            yield from _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], depth + 1)
    else:
        yield prefix, _clip(_fmt(value) if depth < MAX_DEPTH else str(value)[: MAX_VALUE_CHARS + 1])


def _training_set(meta: dict) -> tuple[int | None, dict[str, tuple[float, float]]]:
    """(points per trajectory, parameter ranges) as the trainer recorded them in the header.

    Only the header is read: a path named inside a model file is never opened."""
    names = meta.get("param_names") or []
    lo, hi = meta.get("param_min"), meta.get("param_max")
    ranges = {}
    if isinstance(lo, list) and isinstance(hi, list) and len(lo) == len(hi) == len(names):
        ranges = {n: (float(a), float(b)) for n, a, b in zip(names, lo, hi)}
    n_points = meta.get("n_points")
    return (int(n_points) if isinstance(n_points, (int, float)) else None), ranges


def _generator_text(meta: dict) -> str:
    kind = meta.get("generator_kind", meta.get("kind"))
    if kind == "dmd":
        return (f"dmd (dynamic mode decomposition), rank {meta.get('rank')}, unresolved-part gain "
                f"{_fmt(meta.get('residual_gain'))}, mean field {'subtracted' if meta.get('center') else 'kept'}; "
                "forecasts on the mesh it was fitted on")
    return f"{kind}, sampler {meta.get('sampler')} {meta.get('steps')} steps"


def _latent_rows(path: str | Path, meta: dict, n_points: int | None, add) -> None:
    """The latent grid, window and compression rows from the header's autoencoder configuration."""
    from .errors import EchoUserError
    from .nn.autoencoder import AutoencoderConfig

    ae = meta["autoencoder"]
    try:
        cfg = AutoencoderConfig(**{k: v for k, v in ae.items() if k in AutoencoderConfig.__dataclass_fields__})
        t_l = int(meta.get("latent_frames") or 1)
        frames = 1 + (t_l - 1) * cfg.time_factor
        shape = cfg.latent_shape(frames)
        grid, latent = _fmt(list(cfg.latent_grid)), cfg.latent_dim
    except (TypeError, ValueError, KeyError, ArithmeticError, EchoUserError) as exc:
        raise EchoUserError(f"{path} is damaged: its autoencoder configuration is invalid ({type(exc).__name__}: "
                            f"{str(exc)[:200]}). Copy or export the model file again (or retrain it)") from None
    add("latent grid", f"{grid} x {latent} channels (encoder grid {_fmt(list(cfg.grid))})")
    add("window", f"{frames} frames -> latent {shape} ({meta.get('known_latent_frames')} known latent frame(s))")
    if n_points:
        add("compression ratio", f"x{cfg.compression_ratio(n_points, frames):.1f} "
                                 f"({frames} frames of {n_points} points, the training set's)")
    else:
        add("compression ratio", f"N * {frames * cfg.in_channels} / {math.prod(shape)} for N points")


def model_rows(path: str | Path, meta: dict | None = None) -> list[tuple[str, str, str]]:
    """An ECHO model file described as (section, property, value) rows: the summary an analyst
    reads first, then every header entry flattened (what the ParaView model reader shows)."""
    from .bundle import read_meta

    meta = read_meta(path) if meta is None else meta
    rows: list[tuple[str, str, str]] = [("file", "path", str(path)),
                                        ("file", "format", f"{meta.get('format')} v{meta.get('format_version')}")]
    add = lambda key, value: rows.append(("summary", key, value))  # noqa: E731
    layout = meta.get("field_layout") or []
    add("fields", ", ".join(f"{n}[{c}]" for n, c in layout))
    add("dimension", f"{meta.get('dim')}-D")
    add("dt", _fmt(meta.get("dt")))
    if meta.get("train_horizon_frames") is not None:
        add("training horizon", f"{meta['train_horizon_frames']} frames of dt (the longest training trajectory; "
                                "longer forecasts extrapolate in time)")
    add("generator", _generator_text(meta))
    dom = meta.get("domain") or {}
    add("training domain", f"lo {_fmt(dom.get('lo'))} hi {_fmt(dom.get('hi'))} periodic {dom.get('periodic')}")
    n_points, ranges = _training_set(meta)
    for i, name in enumerate(meta.get("param_names") or []):
        mean, std = (meta.get("param_mean") or [None] * (i + 1))[i], (meta.get("param_std") or [None] * (i + 1))[i]
        text = f"mean {_fmt(mean)}, std {_fmt(std)}"
        if name in ranges:
            text += f", training range [{_fmt(ranges[name][0])}, {_fmt(ranges[name][1])}]"
        add(f"parameter {name}", text)
    if meta.get("autoencoder"):
        _latent_rows(path, meta, n_points, add)
    skill = report_from_meta(meta)
    if skill is not None:
        head, *per_field = skill.lines()
        add("skill", head)
        for line in per_field:
            name, text = line.strip().split(": ", 1)
            add(f"skill {name}", text)
    preset = ((meta.get("provenance") or {}).get("generator") or {}).get("preset")
    if preset:
        add("preset", str(preset))
    if meta.get("metrics"):
        rows.extend(("metrics", k, v) for k, v in _flatten("", meta["metrics"]))
    rows.extend(("provenance", k, v) for k, v in _flatten("", meta.get("provenance") or {}))
    skip = {"format", "format_version", "provenance", "metrics", "skill", "rank_scores"}
    rows.extend(("header", k, v) for k, v in _flatten("", {k: v for k, v in meta.items() if k not in skip}))
    return rows


def describe_model(path: Path) -> str:
    rows = model_rows(path)
    width = max(len(k) for sec, k, _ in rows if sec == "summary")
    lines = [f"ECHO model file {path}"]
    lines += [f"  {k:<{width}}  {_clip(v)}" for sec, k, v in rows if sec == "summary"]
    detail = [f"  {sec}.{_clip(k, 120)} = {_clip(v)}" for sec, k, v in rows if sec in ("metrics", "provenance", "header")]
    lines += detail[:MAX_HEADER_ROWS]
    if len(detail) > MAX_HEADER_ROWS:
        lines.append(f"  ... {len(detail) - MAX_HEADER_ROWS} more header entries not shown")
    return "\n".join(lines)


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
        raise EchoUserError(f"{path}: expected a .h5 dataset or a .safetensors model file")
    return 0

"""Issue 24, fuzz: a seeded generator mutates a valid dataset, model header and run configuration a few
hundred times and every one must end in a clean refusal (EchoUserError, which names the file) or a
correct result; anything else (a TypeError, KeyError, IndexError, a NaN) is a bug.

The seed is fixed so a failure reproduces; ECHOPV_FUZZ_SEED=N explores other mutations locally."""
from __future__ import annotations

import json
import math
import os
import random

import h5py
import numpy as np
import pytest
import torch

from echo_model.bundle import load_tensors, save_tensors
from echo_model.data.store import TrajectoryStore
from echo_model.errors import EchoUserError
from echo_model.train.runs import PipelineRun, check_values, from_json, to_json
from tiny_runs import model_file, tiny_dataset

torch.set_num_threads(1)

SEED = int(os.environ.get("ECHOPV_FUZZ_SEED", "24"))
N_DATASET, N_HEADER, N_CONFIG = 120, 100, 150


def _deep(n: int):
    v: list = []
    for _ in range(n):
        v = [v]
    return v


def random_value(rng: random.Random):
    """A JSON-able value of a random kind: the types and edge values a crafted file holds."""
    return rng.choice([
        None, True, False, 0, 1, -1, -7, 2, 3, 10**9, 10**12, -3.5, 1e-300, 1e300, float("nan"), float("inf"),
        "", "abc", "fast", "2", "[1, 2]", [], [1, 2], [-4, 8], [0.5], ["a", 1], [[1], [2]], {}, {"a": 1},
        {"lo": [0, 0], "hi": [1, 1]}, _deep(rng.choice([5, 60])), "x" * 5000, [float("nan")], [None],
    ])


# --- datasets ------------------------------------------------------------------------------------
_ATTRS = ["n_trajectories", "field_layout", "domain", "format_version", "name", "extra"]
_TRAJ_ATTRS = ["params", "metadata"]
_ARRAYS = ["points", "fields", "times", "cells/connectivity", "cells/offsets", "cells/types"]


def _random_array(rng: random.Random, like: np.ndarray) -> np.ndarray:
    kind = rng.randrange(6)
    if kind == 0:  # a wrong shape
        return np.zeros(tuple(rng.choice([0, 1, 3, 7]) for _ in range(rng.choice([1, 2, 3]))), like.dtype)
    if kind == 1:  # a wrong dtype
        return like.astype(rng.choice([np.float32, np.int64, np.uint8, np.float64]))
    out = like.copy()
    if out.size:
        flat = out.reshape(-1)
        k = rng.randrange(flat.size)
        if np.issubdtype(out.dtype, np.floating):
            flat[k] = rng.choice([np.nan, np.inf, -1e30, 0.0])
        else:
            info = np.iinfo(out.dtype)
            flat[k] = rng.choice([max(-7, info.min), min(10**7, info.max), 0, info.max])
    return out if kind < 5 else out[::-1].copy()


def mutate_dataset(path, rng: random.Random) -> str:
    with h5py.File(path, "r+") as f:
        kind = rng.randrange(5)
        if kind == 0:
            key, value = rng.choice(_ATTRS), random_value(rng)
            f.attrs[key] = json.dumps(value) if rng.random() < 0.7 else str(value)[:200]
            return f"attrs[{key}] = {str(value)[:60]}"
        t = f"trajectories/{rng.randrange(2):06d}"
        if kind == 1:
            key, value = rng.choice(_TRAJ_ATTRS), random_value(rng)
            f[t].attrs[key] = json.dumps(value)
            return f"{t}.attrs[{key}] = {str(value)[:60]}"
        if kind == 2:
            name = rng.choice([f"split/{rng.choice(['train', 'val', 'test'])}", "stats/mean", "stats/std"])
        else:
            name = f"{t}/{rng.choice(_ARRAYS)}"
        if name not in f:
            return f"(no {name})"
        like = f[name][()]
        del f[name]
        if kind == 4 and rng.random() < 0.3:
            return f"deleted {name}"
        f[name] = _random_array(rng, like)
        return f"replaced {name} ({like.shape} {like.dtype}) by {f[name].shape} {f[name].dtype}"


def read_everything(path) -> None:
    """What the readers, `info` and the trainers read of a dataset; checks what they get is consistent."""
    with TrajectoryStore(path) as store:
        info = store.info
        store.require_finite()
        for i in range(len(store)):
            traj = store[i]
            assert traj.fields.shape == (len(traj.times), traj.points.shape[0], info.n_channels)
            assert np.all(np.diff(traj.times) > 0) and all(math.isfinite(v) for v in traj.params.values())
            if traj.cells is not None:
                assert traj.cells.connectivity.max(initial=0) < traj.points.shape[0]
        for name in ("train", "val", "test"):
            idx = store.split_indices(name)
            assert idx.size == 0 or (idx.min() >= 0 and idx.max() < len(store))


def test_mutated_datasets_are_refused_or_read_correctly(tmp_path):
    rng = random.Random(SEED)
    valid = tiny_dataset(tmp_path / "valid.h5", cells=True)
    read_everything(valid)
    for k in range(N_DATASET):
        path = tmp_path / f"m{k}.h5"
        path.write_bytes(valid.read_bytes())
        what = "; ".join(mutate_dataset(path, rng) for _ in range(rng.choice([1, 1, 2])))
        try:
            read_everything(path)
        except EchoUserError as exc:
            assert str(path) in str(exc), f"mutation {k} ({what}): the message does not name the file: {exc}"
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"mutation {k} ({what}) raised {type(exc).__name__}: {exc}")
        path.unlink()


# --- model headers -------------------------------------------------------------------------------
def _header_keys(meta: dict) -> list[tuple[str, ...]]:
    keys = []
    for k, v in meta.items():
        if k in ("format", "format_version"):
            continue
        keys.append((k,))
        if isinstance(v, dict):
            keys += [(k, kk) for kk in v]
    return keys


def mutate_header(meta: dict, rng: random.Random) -> str:
    path = rng.choice(_header_keys(meta))
    node = meta
    for p in path[:-1]:
        node = node[p]
    if rng.random() < 0.15:
        del node[path[-1]]
        return f"deleted {'.'.join(path)}"
    node[path[-1]] = random_value(rng)
    return f"{'.'.join(path)} = {str(node[path[-1]])[:60]}"


def use_model(path) -> None:
    from echo_model.info import describe_model
    from echo_model.rollout import Surrogate

    describe_model(path)
    sur = Surrogate.load(path, device="cpu", cache=False)
    pts = np.random.default_rng(0).uniform(size=(20, sur.dim))
    res = sur.rollout(pts, np.zeros((sur.n_observed_frames, 20, sur.n_channels), np.float32), n_frames=1, steps=1)
    assert res.mean.shape == (1, 20, sur.n_channels) and np.isfinite(res.mean).all()


def test_mutated_model_headers_are_refused_or_work(tmp_path):
    rng = random.Random(SEED + 1)
    valid = model_file(tmp_path / "valid.safetensors")
    tensors, meta = load_tensors(valid)
    use_model(valid)
    for k in range(N_HEADER):
        mutated = json.loads(json.dumps(meta))
        what = mutate_header(mutated, rng)
        path = tmp_path / f"m{k}.safetensors"
        try:
            save_tensors(path, tensors, {k2: v for k2, v in mutated.items() if k2 not in ("format", "format_version")})
        except (TypeError, ValueError):
            continue  # not storable as JSON (a NaN key...): no file to read
        try:
            use_model(path)
        except EchoUserError as exc:
            assert str(path) in str(exc), f"mutation {k} ({what}): the message does not name the file: {exc}"
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"mutation {k} ({what}) raised {type(exc).__name__}: {exc}")
        path.unlink()


# --- run configurations --------------------------------------------------------------------------
def test_mutated_configs_are_refused_or_valid():
    rng = random.Random(SEED + 2)
    base = json.loads(to_json(PipelineRun(data="d.h5", run="runs/x")))
    for k in range(N_CONFIG):
        obj = json.loads(json.dumps(base))
        keys = list(obj["config"])
        what = []
        for _ in range(rng.choice([1, 1, 2])):
            key = rng.choice(keys + ["unknown_option"])
            obj["config"][key] = random_value(rng)
            what.append(f"{key} = {str(obj['config'][key])[:40]}")
        if rng.random() < 0.05:
            obj = random_value(rng)
            what = [f"whole file = {str(obj)[:40]}"]
        try:
            cfg = from_json(PipelineRun, json.dumps(obj), source="cfg.json")
        except EchoUserError as exc:
            assert str(exc).startswith("cfg.json"), f"config mutation {k} ({what}): {exc}"
            continue
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"config mutation {k} ({what}) raised {type(exc).__name__}: {exc}")
        check_values(PipelineRun, vars(cfg), lambda n: n, types=True)  # what loaded is well typed and in range

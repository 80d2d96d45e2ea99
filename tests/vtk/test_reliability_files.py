"""Malformed and hostile files met on the command line: each is a message naming the file and the fix.

One test per row of the reliability table (truncated .h5, an .h5 with only the format attribute,
deeply nested JSON in a model header, wrong-shape weights, a header declaring a huge transformer,
NaN weights, a dataset with NaN, a full disk on export/train, `echopv info` on a 99 MB header,
`echopv rollout --frames 0`).
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.rollout import create_untrained
from echo_paraview.cli import main as echopv

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]


def _trajectory(n: int = 12, frames: int = 4) -> Trajectory:
    x = np.linspace(0.0, 1.0, n)
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    f = np.stack([np.sin(3 * pts[:, 0] + 0.2 * t) for t in range(frames)])[..., None].astype(np.float32)
    return Trajectory(pts, f, 0.1 * np.arange(frames), [("p", 1)])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reliability")
    data = tmp / "d.h5"
    write_dataset(data, [_trajectory()], name="t", domain=Domain([0, 0], [1, 1]))
    model = tmp / "m.safetensors"
    create_untrained([("p", 1)], 2, domain=Domain([0, 0], [1, 1]), dt=0.1).save(model)
    return tmp, data, model


def _rewrite_model(src: Path, dst: Path, edit_meta=None, edit_tensors=None, raw_header: str | None = None) -> Path:
    """Copy a model file changing its header or tensors (what a damaged or hostile file looks like)."""
    tensors = load_file(str(src))
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = json.loads(f.metadata()["echo"])
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, str(dst), metadata={"echo": raw_header if raw_header is not None else json.dumps(meta)})
    return dst


def _rollout(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["rollout", str(model), "--dataset", str(data), "--frames", "2", "--out", str(out), *extra]


def _fails_with(argv: list[str], capsys, *needles: str) -> str:
    assert echopv(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def test_truncated_h5(files, tmp_path, capsys):
    _, data, model = files
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    _fails_with(["info", str(cut)], capsys, str(cut), "truncated", "echopv import")
    _fails_with(_rollout(model, cut, tmp_path / "o"), capsys, str(cut), "truncated")


def test_h5_with_only_the_format_attribute(tmp_path, capsys):
    bare = tmp_path / "bare.h5"
    with h5py.File(bare, "w") as f:
        f.attrs["format"] = "echo-dataset"
    _fails_with(["info", str(bare)], capsys, str(bare), "incomplete or damaged", "echopv import")
    _fails_with(["train", "ae", "--data", str(bare), "--run", str(tmp_path / "run"), "--steps", "1"], capsys,
                str(bare), "incomplete or damaged")


def test_deeply_nested_json_in_a_model_header(files, tmp_path, capsys):
    _, data, model = files
    meta = json.dumps({"format": "echo-model", "format_version": 1, "kind": "echo-surrogate"})
    nested = meta[:-1] + ', "provenance": ' + "[" * 200_000 + "]" * 200_000 + "}"
    bad = _rewrite_model(model, tmp_path / "nested.safetensors", raw_header=nested)
    _fails_with(["info", str(bad)], capsys, str(bad), "nests JSON deeper")
    _fails_with(_rollout(bad, data, tmp_path / "o"), capsys, str(bad), "damaged")


def test_wrong_shape_weights(files, tmp_path, capsys):
    _, data, model = files

    def shrink(tensors):
        name = next(k for k, v in tensors.items() if k.startswith("generator.") and v.dim() == 2)
        tensors[name] = tensors[name][:, :-1].contiguous()

    bad = _rewrite_model(model, tmp_path / "shape.safetensors", edit_tensors=shrink)
    _fails_with(_rollout(bad, data, tmp_path / "o"), capsys, str(bad), "wrong shape", "generator")


def test_header_declaring_a_huge_transformer(files, tmp_path, capsys):
    _, data, model = files
    wide = _rewrite_model(model, tmp_path / "wide.safetensors",
                          edit_meta=lambda m: m["dit"].update(width=4_000_000, heads=1))
    # refused from the header itself (echo_model/header_check.py), before any module is built
    _fails_with(_rollout(wide, data, tmp_path / "o"), capsys, str(wide), "'dit.width'", "from 1 to 65536")
    deep = _rewrite_model(model, tmp_path / "deep.safetensors",
                          edit_meta=lambda m: m["dit"].update(depth=10**9))
    _fails_with(_rollout(deep, data, tmp_path / "o"), capsys, str(deep), "'dit.depth'", "1000000000")


def test_nan_weights_in_a_model_file(files, tmp_path, capsys):
    _, data, model = files

    def poison(tensors):
        name = next(k for k in tensors if k.startswith("autoencoder.") and tensors[k].is_floating_point())
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan")

    bad = _rewrite_model(model, tmp_path / "nan.safetensors", edit_tensors=poison)
    _fails_with(_rollout(bad, data, tmp_path / "o"), capsys, str(bad), "NaN/Inf", "earlier checkpoint")
    assert not (tmp_path / "o" / "prediction.pvd").exists()


def test_a_dataset_containing_nan(tmp_path, capsys):
    from echo_paraview.io.pvd import write_pvd

    traj = _trajectory()
    traj.fields[2, 5, 0] = np.nan
    pvd = write_pvd(traj, tmp_path / "nan.pvd")
    out = tmp_path / "nan.h5"
    _fails_with(["import", str(pvd), "--out", str(out)], capsys, str(pvd), "NaN/Inf", "'p'", "frame 2", "--skip-time")
    assert not out.exists()
    from echo_model.errors import EchoUserError  # the dataset writer refuses it too, whoever calls it

    with pytest.raises(EchoUserError, match="trajectory 0 written to .* NaN/Inf value"):
        write_dataset(out, [traj], name="nan")
    assert not out.exists()


def _limited_run(argv: list[str], max_bytes: int) -> subprocess.CompletedProcess:
    """`echopv ARGV` in a child whose files cannot grow past max_bytes: a full disk, for real writes."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "echo_paraview.cli", *argv], capture_output=True, text=True,
                          preexec_fn=limit, env=env, cwd=str(REPO), timeout=300)


def test_full_disk_on_export(tmp_path):
    data = tmp_path / "big.h5"
    write_dataset(data, [_trajectory(n=80, frames=3)], name="big", compression=None)
    out = tmp_path / "series"
    res = _limited_run(["export", str(data), "--out", str(out), "--compressor", "none", "--quiet"], 40_000)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert str(out) in res.stderr and "disk is full" in res.stderr, res.stderr
    assert not list(out.glob("*.pvd"))  # no collection listing frames that were never written


def test_full_disk_on_train(files, tmp_path):
    _, data, _ = files
    run = tmp_path / "run"
    res = _limited_run(["train", "ae", "--data", str(data), "--run", str(run), "--steps", "2", "--batch-size", "1",
                        "--frames", "3", "--no-progress", "--threads", "1"], 200_000)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "is full" in res.stderr and str(run) in res.stderr, res.stderr
    assert not list(run.glob("*.safetensors")) and not list(run.glob(".*tmp*"))


def test_info_on_a_99_mb_header(files, tmp_path, capsys):
    _, _, model = files
    big = _rewrite_model(model, tmp_path / "big.safetensors",
                         edit_meta=lambda m: m["provenance"].update(notes="x" * 99_000_000))
    assert big.stat().st_size > 99e6
    assert echopv(["info", str(big)]) == 0
    out = capsys.readouterr().out
    assert len(out) < 30_000
    assert "characters, cut" in out and "echo-surrogate" in out


def test_rollout_frames_0(files, tmp_path, capsys):
    _, data, model = files
    out = tmp_path / "o"
    argv = _rollout(model, data, out)
    argv[argv.index("--frames") + 1] = "0"
    _fails_with(argv, capsys, "--frames 0", ">= 1")
    assert not out.exists()

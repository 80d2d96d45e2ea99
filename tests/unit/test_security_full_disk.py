"""Issue 24, group 5: a full disk. Writers check the free space first (the estimate of what they write),
write into a temporary file or folder and move it into place, clean up on failure, and end in one message
naming the disk's folder and the space needed: no HDF5 segfault, no `pipeline.json` left "running", no
`.tmp-PID` file, no frames without a .pvd, no PNGs of a failed eval, no partial exported trajectory.

The real full disk is a small tmpfs (mounting needs root: the tests skip with the reason otherwise); the
up-front check is also tested with a `shutil.disk_usage` that reports almost no free space."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.disk_space import DiskFullError
from echo_model.errors import EchoUserError

torch.set_num_threads(1)
_Usage = namedtuple("_Usage", "total used free")
FIX = "free some space on that disk or write to another folder"


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk needs a small tmpfs, and mounting one needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()})")


@pytest.fixture
def small_disk(tmp_path, request):
    """A 4 MiB tmpfs (or `@pytest.mark.parametrize("small_disk", ["2m"], indirect=True)`), unmounted after."""
    folder = tmp_path / "disk"
    _mount_tmpfs(folder, getattr(request, "param", "4m"))
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Leave about `leave` bytes free on the disk."""
    free = shutil.disk_usage(disk).free
    if free > leave:
        with open(disk / "filler", "wb") as f:
            f.write(b"\0" * (free - leave))


def _no_free_space(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(10**9, 10**9 - 1000, 1000))


def _traj(n_points: int, n_frames: int, seed: int) -> Trajectory:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(size=(n_points, 2))
    return Trajectory(pts, rng.standard_normal((n_frames, n_points, 1)).astype(np.float32),
                      0.5 * np.arange(n_frames), [("w", 1)])


_WRITE_SCRIPT = """
import sys, numpy as np
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.errors import EchoUserError
trajs = (Trajectory(np.random.default_rng(s).uniform(size=(20000, 2)),
                    np.random.default_rng(s).standard_normal((10, 20000, 1)).astype(np.float32),
                    0.1 * np.arange(10), [("p", 1)]) for s in range(3))
try:
    write_dataset(sys.argv[1], trajs, name="big", compression=None)
except EchoUserError as exc:
    print("REFUSED", exc)
"""


def test_full_disk_write_dataset_is_refused_not_a_segfault(small_disk):
    """Three 1.1 MB trajectories onto a 4 MiB disk: HDF5 crashed (rc 139) on the disk filling up, leaving
    `.big.h5.tmp-PID`; now the trajectory that would not fit is refused before it is written."""
    out = small_disk / "big.h5"
    done = subprocess.run([sys.executable, "-c", _WRITE_SCRIPT, str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "REFUSED" in done.stdout and str(small_disk) in done.stdout and FIX in done.stdout, done.stdout
    assert "trajectory 2" in done.stdout and "MB" in done.stdout
    assert os.listdir(small_disk) == []  # no half file, no .tmp-PID


def test_full_disk_write_dataset_checks_up_front(tmp_path, monkeypatch):
    _no_free_space(monkeypatch)
    with pytest.raises(DiskFullError, match="writing trajectory 0 of .*d.h5 needs about") as err:
        write_dataset(tmp_path / "d.h5", [_traj(50, 3, 0)], name="t")
    assert str(tmp_path) in str(err.value) and FIX in str(err.value)
    assert isinstance(err.value, EchoUserError)
    assert os.listdir(tmp_path) == []


def _tiny_autoencoder(root: Path) -> tuple[Path, Path]:
    from echo_model.nn.autoencoder import save_autoencoder
    from echo_model.rollout import create_untrained

    x = (np.arange(8) + 0.5) / 8
    pts = np.stack([a.ravel() for a in np.meshgrid(x, x)], 1)
    dom = Domain([0, 0], [1, 1], (True, True))
    trajs = (Trajectory(pts, np.sin(pts[None, :, :1] + 0.1 * np.arange(11)[:, None, None]).astype(np.float32),
                        0.5 * np.arange(11), [("w", 1)]) for _ in range(2))
    data = write_dataset(root / "d.h5", trajs, name="t", domain=dom, split={"train": [0], "test": [1]})
    sur = create_untrained([("w", 1)], 2, domain=dom)
    ae = root / "ae.safetensors"
    save_autoencoder(ae, sur.ae, meta={"field_layout": [["w", 1]], "stats": sur.stats.to_dict(),
                                       "domain": sur.domain.to_dict(), "dt": 0.5, "n_frames": 9})
    return root / "d.h5", ae


def test_full_disk_cache_latents_checks_up_front(tmp_path, monkeypatch, capsys):
    from echo_paraview.cli import main as echopv

    data, ae = _tiny_autoencoder(tmp_path)
    out = tmp_path / "cache" / "latents.h5"
    _no_free_space(monkeypatch)
    argv = ["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(out), "--threads", "1",
            "--no-progress"]
    assert echopv(argv) != 0
    err = capsys.readouterr().err
    assert "latent cache" in err and str(out.parent) in err and FIX in err and "Traceback" not in err
    assert os.listdir(out.parent) == []


def test_full_disk_train_all_says_failed_and_leaves_no_temp(small_disk, tmp_path):
    """A stage that meets a full disk: pipeline.json said "running" for ever (its atomic rewrite had no
    room for the copy, which stayed behind as `.pipeline.json.tmp-PID`); now it says "failed", with why."""
    from echo_model.train import pipeline
    from echo_model.train.runs import PipelineRun

    data, _ = _tiny_autoencoder(tmp_path)
    run = small_disk / "run"

    def stage_meets_a_full_disk(stage):
        _fill(small_disk, 0)
        raise DiskFullError(f"writing the latent cache into {run} needs about 5.0 MB: {FIX}")

    cfg = PipelineRun(data=str(data), run=str(run), ae_steps=1, dit_steps=1, refine_steps=0, grid=(16,),
                      n_query=64, threads=1, progress=False)
    with pytest.raises(DiskFullError):
        pipeline.train_all(cfg, runner=stage_meets_a_full_disk)
    status = json.loads((run / "pipeline.json").read_text())
    assert status["state"] == "failed" and FIX in status["error"]
    assert [n for n in os.listdir(run) if ".tmp-" in n] == []


@pytest.fixture
def model_case(tmp_path):
    from echo_model.rollout import create_untrained

    rng = np.random.default_rng(0)
    pts = rng.random((400, 2))
    trajs = [Trajectory(pts, np.sin(6 * pts[None, :, :1] + 0.3 * np.arange(8)[:, None, None] + s).astype(np.float32),
                        0.1 * np.arange(8), [("p", 1)]) for s in range(3)]
    write_dataset(tmp_path / "d.h5", trajs, name="d", split={"train": [0, 1], "val": [], "test": [2]})
    model = create_untrained([("p", 1)], 2, dt=0.1, seed=1).save(tmp_path / "m.safetensors")
    return tmp_path / "d.h5", model


def test_full_disk_rollout_leaves_no_partial_output(small_disk, model_case, monkeypatch, capsys):
    """The disk fills up while the frames are written: 36 frames without a .pvd were left, with a traceback;
    now nothing is left in --out and one message names it."""
    pytest.importorskip("vtkmodules")
    import echo_paraview.io.pvd as pvd
    import echo_paraview.rollout_command as rc
    from echo_paraview.cli import main as echopv

    data, model = model_case
    monkeypatch.setattr(pvd, "require_space", lambda *a, **k: None)  # meet the real ENOSPC
    monkeypatch.setattr(rc, "_require_output_space", lambda *a, **k: None, raising=False)
    out = small_disk / "pred"
    _fill(small_disk, 60_000)
    argv = ["rollout", str(model), "--dataset", str(data), "--traj", "2", "--frames", "40", "--out", str(out),
            "--threads", "1"]
    assert echopv(argv) == 2
    err = capsys.readouterr().err
    assert "ran out of space" in err and str(small_disk) in err and FIX in err and "Traceback" not in err
    assert os.listdir(out) == []


def test_full_disk_rollout_checks_before_computing(tmp_path, model_case, monkeypatch, capsys):
    from echo_model.rollout import Surrogate
    from echo_paraview.cli import main as echopv

    data, model = model_case
    monkeypatch.setattr(Surrogate, "rollout", lambda *a, **k: pytest.fail("the rollout ran"))
    _no_free_space(monkeypatch)
    out = tmp_path / "pred"
    argv = ["rollout", str(model), "--dataset", str(data), "--traj", "2", "--frames", "40", "--out", str(out)]
    assert echopv(argv) == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(out) in err and "needs about" in err and FIX in err
    assert not out.exists() or os.listdir(out) == []


def test_full_disk_eval_leaves_no_metrics_or_pngs(small_disk, model_case, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    import echo_model.evaluate as evaluate
    from echo_paraview.cli import main as echopv

    data, model = model_case
    monkeypatch.setattr(evaluate, "require_space", lambda *a, **k: None, raising=False)  # meet the real ENOSPC
    out = small_disk / "eval"
    out.mkdir()
    _fill(small_disk, 8_000)
    argv = ["eval", str(model), str(data), "--split", "test", "--out", str(out), "--threads", "1"]
    assert echopv(argv) == 2
    err = capsys.readouterr().err
    assert str(out) in err and FIX in err and "Traceback" not in err
    assert os.listdir(out) == []


def test_full_disk_eval_checks_up_front(tmp_path, model_case, monkeypatch, capsys):
    import echo_model.evaluate as evaluate
    from echo_paraview.cli import main as echopv

    data, model = model_case
    out = tmp_path / "eval"
    out.mkdir()
    monkeypatch.setattr(evaluate, "forecast_split", lambda *a, **k: pytest.fail("the forecasts ran"))
    _no_free_space(monkeypatch)
    assert echopv(["eval", str(model), str(data), "--split", "test", "--out", str(out), "--no-plots",
                   "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "needs about" in err and FIX in err
    assert os.listdir(out) == []


def test_full_disk_export_leaves_no_partial_trajectory(small_disk, tmp_path, monkeypatch, capsys):
    """The second trajectory does not fit: its folder was left half written; now only the complete first
    one (its .pvd and every frame) is there, and the message names the folder."""
    pytest.importorskip("vtkmodules")
    import echo_paraview.io.exporter as exporter
    import echo_paraview.io.pvd as pvd
    from echo_paraview.cli import main as echopv

    write_dataset(tmp_path / "d.h5", [_traj(3000, 30, s) for s in range(2)], name="d", compression=None)
    monkeypatch.setattr(pvd, "require_space", lambda *a, **k: None)  # meet the real ENOSPC
    monkeypatch.setattr(exporter, "require_space", lambda *a, **k: None, raising=False)
    out = small_disk / "exported"
    _fill(small_disk, 1_200_000)
    assert echopv(["export", str(tmp_path / "d.h5"), "--out", str(out), "--compressor", "none", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and FIX in err and "Traceback" not in err
    names = sorted(os.listdir(out))
    assert names in ([], ["traj_0000", "traj_0000.pvd"]), names
    if names:
        assert len(os.listdir(out / "traj_0000")) == 30


def test_full_disk_export_checks_up_front(tmp_path, monkeypatch, capsys):
    from echo_paraview.cli import main as echopv

    write_dataset(tmp_path / "d.h5", [_traj(50, 3, s) for s in range(2)], name="d")
    out = tmp_path / "exported"
    _no_free_space(monkeypatch)
    assert echopv(["export", str(tmp_path / "d.h5"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "exporting 2 trajectories" in err and str(out) in err and FIX in err
    assert os.listdir(out) == []


def test_full_disk_cache_latents_on_a_nearly_full_disk(small_disk, tmp_path, capsys):
    """A real disk without room for the cache and the margin HDF5 needs to close its file: refused before
    HDF5 writes a byte (a disk that filled up while HDF5 wrote crashed it)."""
    from echo_paraview.cli import main as echopv

    data, ae = _tiny_autoencoder(tmp_path)
    out = small_disk / "latents.h5"
    _fill(small_disk, 200_000)
    argv = ["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(out), "--threads", "1",
            "--no-progress"]
    assert echopv(argv) == 2
    err = capsys.readouterr().err
    assert "latent cache" in err and str(small_disk) in err and FIX in err
    assert sorted(os.listdir(small_disk)) == ["filler"]


def test_full_disk_import_checks_up_front(tmp_path, monkeypatch, capsys):
    """`echopv import` of a (minimal ASCII OpenFOAM) case: refused, no dataset and no temporary file left."""
    from echo_paraview.cli import main as echopv

    case = tmp_path / "case"
    (case / "system").mkdir(parents=True)
    (case / "system" / "controlDict").write_text("FoamFile { class dictionary; object controlDict; }\n")
    head = "FoamFile\n{{\n    format ascii;\n    class {};\n    object {};\n}}\ninternalField nonuniform List<{}>\n4\n(\n"
    for t in ("0.1", "0.2"):
        (case / t).mkdir()
        (case / t / "p").write_text(head.format("volScalarField", "p", "scalar") + "1\n2\n3\n4\n)\n;\n")
    (case / "0.1" / "C").write_text(head.format("volVectorField", "C", "vector")
                                    + "(0.25 0.25 0)\n(0.75 0.25 0)\n(0.25 0.75 0)\n(0.75 0.75 0)\n)\n;\n")
    out = tmp_path / "out" / "d.h5"
    _no_free_space(monkeypatch)
    assert echopv(["import", str(case), "--out", str(out), "--fields", "p"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "needs about" in err and FIX in err and "Traceback" not in err
    assert not out.parent.exists() or os.listdir(out.parent) == []


def test_full_disk_train_all_cache_stage_is_refused_and_recorded(tmp_path, monkeypatch, capsys):
    """The real pipeline: the autoencoder trains, the cache stage finds no room and is refused; pipeline.json
    says "failed" with the message (it stayed "running" after HDF5's crash) and no temporary file is left."""
    from echo_paraview.cli import main as echopv

    data, _ = _tiny_autoencoder(tmp_path)
    run = tmp_path / "run"
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: _Usage(10**9, 10**9 - 1000, 1000)
                        if Path(p).resolve() == run.resolve() else real(p))
    argv = ["train", "all", "--data", str(data), "--run", str(run), "--ae-steps", "1", "--refine-steps", "0",
            "--dit-steps", "1", "--threads", "1", "--no-progress", "--grid", "16", "--n-query", "64",
            "--dit-batch-size", "2"]
    assert echopv(argv) == 2
    err = capsys.readouterr().err
    status = json.loads((run / "pipeline.json").read_text())
    assert status["state"] == "failed" and status["stage"] == "cache-latents", status
    assert "latent cache" in status["error"] and FIX in status["error"] and "latent cache" in err
    assert [p for p in run.rglob("*") if ".tmp-" in p.name] == []

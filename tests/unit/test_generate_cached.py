"""`echopv generate cached`: named datasets made once into the cache, then reused."""
import subprocess
import sys

from echo_model.cases import cached


def test_cached_dataset_is_generated_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setitem(cached.PRESETS, "tiny-test", ("ns2d", dict(n_traj=2, resolution=16, frames=3, dt_frame=0.1, burn_in=0.0)))
    from echo_paraview.cli import main

    assert main(["generate", "cached", "tiny-test", "--cache", str(tmp_path), "--batch", "2"]) == 0
    files = sorted(tmp_path.glob("tiny-test-*.h5"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    assert main(["generate", "cached", "tiny-test", "--cache", str(tmp_path)]) == 0
    assert files[0].stat().st_mtime_ns == mtime  # reused, not regenerated


def test_unknown_name_is_a_clear_error():
    run = subprocess.run([sys.executable, "-m", "echo_paraview.cli", "generate", "cached", "nope"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "ns2d-64" in run.stderr and "nope" in run.stderr

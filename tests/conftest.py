"""Shared fixtures: a tiny model file, ParaView availability, running pvpython/pvbatch scripts."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

# Idle OpenMP threads sleep instead of spinning (same policy as `echopv`); must precede torch.
from echo_model.threads import apply_omp_policy  # noqa: E402

apply_omp_policy()

REPO = Path(__file__).resolve().parent.parent

# The field every ParaView/VTK test model predicts, and how the tests create it on a mesh
# (ParaView Calculator / vtkArrayCalculator syntax).
TEST_FIELD = "p"
TEST_FUNCTION = "coordsX + 2*coordsZ"


def pvpython_path() -> str | None:
    d = os.environ.get("ECHOPV_PARAVIEW_BIN")
    if d:
        p = Path(d) / "pvpython"
        return str(p) if p.exists() else None
    return shutil.which("pvpython")


REQUIRE_PARAVIEW_ENV = "ECHOPV_REQUIRE_PARAVIEW"
MISSING_PARAVIEW = "ParaView's pvpython is not installed (run `bash scripts/setup.sh`)"


def paraview_required() -> bool:
    """CI sets ECHOPV_REQUIRE_PARAVIEW=1 (.ci/run): there a missing ParaView fails, never skips."""
    return os.environ.get(REQUIRE_PARAVIEW_ENV, "") not in ("", "0")


def _needs_paraview(item) -> bool:
    return "paraview" in item.keywords or "gui" in item.keywords


def pytest_collection_modifyitems(config, items):
    """Tests marked `paraview` or `gui` skip when ParaView is absent, unless it is required (then they fail)."""
    if pvpython_path() is not None or paraview_required():
        return
    skip = pytest.mark.skip(reason=MISSING_PARAVIEW)
    for item in items:
        if _needs_paraview(item):
            item.add_marker(skip)


def pytest_runtest_setup(item):
    if paraview_required() and _needs_paraview(item) and pvpython_path() is None:
        pytest.fail(f"{MISSING_PARAVIEW}, and {REQUIRE_PARAVIEW_ENV}=1 says this run must have it", pytrace=False)


# ------------------------------------------------------------------------------------------
# model files
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A real, untrained ECHO model file (random weights) predicting one scalar field `p` in 3D.

    Built the way echo_model/rollout.py documents: create_untrained(...).save(path).
    """
    import torch

    torch.set_num_threads(2)
    from echo_model.data.normalize import Domain
    from echo_model.rollout import create_untrained

    path = tmp_path_factory.mktemp("model") / "tiny_p3d.safetensors"
    # the box covers the test meshes (unit sphere/plane around the origin): the model maps it to [0,1]^3
    domain = Domain(np.full(3, -1.0), np.full(3, 1.0))
    create_untrained([(TEST_FIELD, 1)], dim=3, preset="tiny", dt=0.25, domain=domain, seed=0).save(path)
    return path


@dataclass
class FakeResult:
    mean: np.ndarray
    std: np.ndarray | None
    samples: np.ndarray | None
    times: np.ndarray
    field_layout: list


@dataclass
class FakeSurrogate:
    """TEST-ONLY stand-in honouring the Surrogate contract (echo_model/rollout.py docstring).

    Deterministic (frame k = last observed + (k+1) * 0.5), records every rollout call: used where a
    test needs exact values or to observe what the filter handed to the model.
    """

    field_layout: list = field(default_factory=lambda: [(TEST_FIELD, 1)])
    dim: int = 3
    dt: float = 0.5
    n_observed_frames: int = 1
    segment_frames: int = 4
    param_names: list = field(default_factory=lambda: ["nu"])
    param_mean: list = field(default_factory=lambda: [1e-3])
    calls: list = field(default_factory=list)

    def rollout(self, points, observed, n_frames, query_points=None, params=None, n_samples=1,
                seed=0, steps=None, sampler=None, progress=None, should_abort=None, **memory_options):
        observed = np.asarray(observed, dtype=np.float32)
        if observed.shape[0] < self.n_observed_frames:
            from echo_model.errors import EchoUserError

            raise EchoUserError(f"this model needs {self.n_observed_frames} observed frame(s)")
        self.calls.append({"points": np.array(points), "observed": observed.copy(), "n_frames": n_frames,
                           "n_samples": n_samples, "params": dict(params or {}),
                           "memory": memory_options.get("memory")})
        base = observed[-1]
        mean = np.stack([base + 0.5 * (k + 1) for k in range(n_frames)]).astype(np.float32)
        for k in range(n_frames):
            if progress:
                progress((k + 1) / n_frames)
        std = np.full_like(mean, 0.1) if n_samples > 1 else None
        return FakeResult(mean, std, None, self.dt * np.arange(1, n_frames + 1), list(self.field_layout))


@pytest.fixture
def fake_surrogate(monkeypatch, tmp_path):
    """TEST-ONLY: make EchoRolloutAlgorithm load a FakeSurrogate; yields (surrogate, checkpoint path)."""
    from echo_paraview.rollout_filter import EchoRolloutAlgorithm

    sur = FakeSurrogate()
    ckpt = tmp_path / "fake.safetensors"
    ckpt.write_bytes(b"not a real model: the loader is replaced")
    monkeypatch.setattr(EchoRolloutAlgorithm, "surrogate_loader", staticmethod(lambda path, device: sur))
    return sur, ckpt


# ------------------------------------------------------------------------------------------
# ParaView subprocesses
# ------------------------------------------------------------------------------------------
@dataclass
class PVRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_paraview_tool(tool: str, script: str, *args: str, tmp_path: Path, timeout: float = 240,
                      env_extra: dict | None = None) -> PVRun:
    """Run a Python script (source text) with `echopv <tool>` (pvpython / pvbatch / paraview)."""
    path = tmp_path / f"script_{tool}.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ)
    env.update(env_extra or {})
    if tool == "paraview":
        cmd_args = [f"--script={path}", *args]
    else:
        cmd_args = [str(path), *args]
    cmd = [sys.executable, "-m", "echo_paraview.cli", tool, *cmd_args]
    # own process group: a timeout kills ParaView as well as the launcher
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=str(REPO), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"`echopv {tool}` ran over {timeout} s\n{(out + err)[-4000:]}")
    return PVRun(proc.returncode, out, err)


@pytest.fixture
def run_pv(tmp_path):
    def _run(tool: str, script: str, *args: str, timeout: float = 240, env_extra: dict | None = None) -> PVRun:
        return run_paraview_tool(tool, script, *args, tmp_path=tmp_path, timeout=timeout, env_extra=env_extra)

    return _run


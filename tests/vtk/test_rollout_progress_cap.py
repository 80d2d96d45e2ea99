"""EchoRollout's progress reports are capped in number, not only spaced in time: in ParaView's GUI
each report makes the GUI process its events and repaint (~16-18 ms of CPU), and on a loaded
machine, where the rollout's wall time stretches, the time spacing alone let 33 reports through
one first frame (0.58 of its 3.4 CPU-s; benchmarks/results/gui_cylinder.md)."""
from __future__ import annotations

import numpy as np
import pytest

from echo_paraview import convert
from echo_paraview.rollout_filter import EchoRolloutAlgorithm


def _reports(ckpt, n_frames: int, interval: float) -> list[float]:
    from vtkmodules.vtkCommonCore import vtkCommand

    alg = EchoRolloutAlgorithm()
    alg.SetInputData(convert.make_unstructured_grid(np.eye(3), None, {"p": np.arange(3.0)}))
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(n_frames)
    alg.PROGRESS_INTERVAL_S = interval
    seen: list[float] = []
    alg.AddObserver(vtkCommand.ProgressEvent, lambda obj, _ev: seen.append(obj.GetProgress()))
    alg.UpdateTimeStep(float(n_frames))
    assert alg.last_error is None, alg.last_error
    return seen


def test_a_long_rollout_on_a_slow_machine_reports_about_ten_times(fake_surrogate):
    """No time spacing at all (every report would pass it, as on a loaded machine): 200 frames,
    200 calls from the model, still at most one report per tenth of the way plus the ends."""
    _, ckpt = fake_surrogate
    seen = _reports(ckpt, 200, interval=0.0)
    intermediate = [f for f in seen if 0.0 < f < 1.0]
    assert seen[-1] == pytest.approx(1.0)
    assert 5 <= len(intermediate) <= 11, seen
    assert all(b - a >= 0.1 - 1e-9 for a, b in zip(intermediate, intermediate[1:])), seen


def test_the_cap_can_be_lifted(fake_surrogate):
    """PROGRESS_MIN_STEP = 0 (and no interval): every frame is reported, as before the cap."""
    _, ckpt = fake_surrogate
    EchoRolloutAlgorithm.PROGRESS_MIN_STEP, saved = 0.0, EchoRolloutAlgorithm.PROGRESS_MIN_STEP
    try:
        seen = _reports(ckpt, 50, interval=0.0)
    finally:
        EchoRolloutAlgorithm.PROGRESS_MIN_STEP = saved
    assert len([f for f in seen if 0.0 < f < 1.0]) >= 50

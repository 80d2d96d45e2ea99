"""A rollout that cannot fit its MemoryBudget is refused before any work on the mesh.

At 256^3 the filter's start-state check (an encode + decode of the whole start frame) used to run for
ten minutes before the rollout's own estimate refused it."""
from pathlib import Path

import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")

from echo_paraview import rollout_filter  # noqa: E402
from echo_paraview.readers import EchoDatasetReaderAlgorithm  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "sample_cases" / "ns2d_vorticity"


def _filter(budget: str) -> EchoRolloutAlgorithm:
    reader = EchoDatasetReaderAlgorithm()
    reader.SetFileName(str(SAMPLE / "ns2d_128_superres.h5"))  # 16,384 points: ~190 MB estimated
    f = EchoRolloutAlgorithm()
    f.SetInputConnection(reader.GetOutputPort())
    f.SetCheckpoint(str(SAMPLE / "model_tiny.safetensors"))
    f.SetNumberOfFrames(16)
    f.SetNumberOfSamples(4)
    f.SetMemoryBudget(budget)
    return f


def test_a_rollout_over_its_budget_is_refused_before_the_start_state_check(monkeypatch, errors):
    checked = []
    monkeypatch.setattr(rollout_filter, "check_state", lambda *a: checked.append(1) or [])
    f = _filter("64MB")
    f.UpdateInformation()
    f.UpdateTimeStep(f.GetPredictedTimes()[-1])
    assert "not enough memory for this rollout" in (f.last_error or "")
    assert checked == []  # refused up front: no encode of the start frame
    f = _filter("auto")
    f.UpdateInformation()
    f.UpdateTimeStep(f.GetPredictedTimes()[-1])
    assert f.last_error is None and checked == [1]


def test_the_automatic_budget_is_fixed_when_the_rollout_starts(fake_surrogate):
    """"Automatic" is the memory available when the rollout starts: the rollout gets the figure the
    up-front check used, not a new reading taken after the start-state check (which at 256^3 refused
    after ten minutes what the first check had accepted)."""
    from vtkmodules.vtkFiltersCore import vtkArrayCalculator
    from vtkmodules.vtkFiltersSources import vtkSphereSource

    sur, ckpt = fake_surrogate
    sphere = vtkSphereSource()
    calc = vtkArrayCalculator()  # the fake model's field "p" on a sphere
    calc.SetInputConnection(sphere.GetOutputPort())
    calc.AddCoordinateScalarVariable("coordsX", 0)
    calc.SetFunction("coordsX")
    calc.SetResultArrayName("p")
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(calc.GetOutputPort())
    alg.SetCheckpoint(str(ckpt))
    alg.SetNumberOfFrames(2)
    for budget, expect in (("auto", None), ("1GB", 2**30)):
        alg.SetMemoryBudget(budget)
        alg.UpdateInformation()
        alg.UpdateTimeStep(alg.GetPredictedTimes()[-1])
        used = sur.calls[-1]["memory"]
        assert used is not None and used.max_bytes is not None and used.max_bytes > 0
        assert expect is None or used.max_bytes == expect
    assert len(sur.calls) == 2

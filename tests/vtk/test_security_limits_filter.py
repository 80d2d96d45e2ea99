"""Issue 24, group 6, in a VTK pipeline: EchoRollout's SamplingSteps of 1e9 is refused at once with a
message (before, the rollout ran 1e9 sampler steps on ParaView's GUI thread), through the shared
`Surrogate.rollout` check; the input's time steps stay."""
from __future__ import annotations

import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from vtkmodules.vtkFiltersCore import vtkArrayCalculator  # noqa: E402
from vtkmodules.vtkFiltersSources import vtkSphereSource  # noqa: E402

from echo_paraview import timesteps  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402


def _sphere_with_p() -> vtkArrayCalculator:
    s = vtkSphereSource()
    calc = vtkArrayCalculator()
    calc.SetInputConnection(s.GetOutputPort())
    calc.AddCoordinateScalarVariable("coordsX", 0)
    calc.SetFunction("coordsX")
    calc.SetResultArrayName("p")  # the field of the conftest model_file
    return calc


def test_sampling_steps_of_1e9_are_refused(model_file, errors):
    src = _sphere_with_p()
    alg = EchoRolloutAlgorithm()
    alg.SetInputConnection(src.GetOutputPort())
    alg.SetCheckpoint(str(model_file))
    alg.SetNumberOfFrames(2)
    alg.SetDevice("cpu")
    alg.SetSamplingSteps(10**9)
    alg.UpdateInformation()
    times = timesteps.time_steps(alg.GetOutputInformation(0))
    alg.UpdateTimeStep(times[-1])
    assert alg.last_error is not None and "SamplingSteps" in alg.last_error and "1 to 1000" in alg.last_error
    assert "network evaluations" in alg.last_error

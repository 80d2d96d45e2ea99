"""ECHO for pyvista users, outside ParaView: meshes in, pyvista meshes out.

    import pyvista as pv
    from echo_paraview import pyvista_api as epv
    mesh = pv.read("snapshot.vtu")                       # any mesh with the model's point field(s)
    series = epv.rollout(mesh, "model.safetensors", n_frames=16, params={"nu": 2.4e-4})
    for name, frame in zip(series.keys(), series):       # blocks "t=<time>", field data TimeValue
        print(name, frame["vorticity_pred"].max())
    series.save("prediction.vtm")

    ic = epv.read_dataset("ns2d.h5", trajectory=3)            # an ECHO dataset frame (+ param_nu)
    grid = epv.read_well("shear_flow.hdf5", sample=0, time=2.0)  # a file of The Well

pyvista is imported lazily, inside these functions only: ParaView (whose Python sees this
package) never imports it. The work is done by the same VTK algorithms ParaView runs
(EchoRolloutAlgorithm, the readers), so results are identical to the GUI's.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from echo_model.errors import EchoUserError


def _pyvista():
    try:
        import pyvista
    except ImportError as exc:
        raise EchoUserError(
            "echo_paraview.pyvista_api needs pyvista: `pip install pyvista` in the echo-paraview venv "
            "(it is in the dev extra: `pip install -e '.[dev]'`)"
        ) from exc
    return pyvista


def _copy(data_object):
    out = data_object.NewInstance()
    out.DeepCopy(data_object)
    return out


def _frames(alg, what: str, times: list[float] | None = None) -> tuple[list[float], list[Any]]:
    """Update `alg` at each of its time steps; deep copies of the outputs. Errors raise."""
    alg.UpdateInformation()
    if alg.last_error:
        raise EchoUserError(f"{what}: {alg.last_error}")
    steps = list(alg.GetTimestepValues()) if times is None else times
    outs = []
    for t in steps or [0.0]:
        alg.UpdateTimeStep(float(t))
        if alg.last_error:
            raise EchoUserError(f"{what}: {alg.last_error}")
        outs.append(_copy(alg.GetOutputDataObject(0)))
    return steps or [0.0], outs


def rollout(
    mesh: Any,
    model: str | os.PathLike,
    n_frames: int = 10,
    *,
    params: Mapping[str, float] | None = None,
    input_arrays: list[str] | None = None,
    n_samples: int = 1,
    seed: int = 0,
    device: str = "cpu",
    n_threads: int = 0,
):
    """Roll `mesh` (a pyvista/VTK dataset, or a file pyvista reads) forward with an ECHO model.

    Returns a pyvista.MultiBlock with one mesh per time step (block names `t=<time>`, field data
    `TimeValue`): step 0 is the initial condition, then `n_frames` predictions in `<field>_pred`
    (and `<field>_std` for n_samples > 1). `params` overrides the mesh's `param_<name>` field
    data. Raises EchoUserError with the filter's message on bad input.
    """
    pv = _pyvista()
    from .rollout_filter import EchoRolloutAlgorithm

    if isinstance(mesh, (str, os.PathLike)):
        mesh = pv.read(os.fspath(mesh))
    alg = EchoRolloutAlgorithm()
    alg.SetInputData(mesh)
    alg.SetCheckpoint(os.fspath(model))
    alg.SetNumberOfFrames(int(n_frames))
    alg.SetNumberOfSamples(int(n_samples))
    alg.SetSeed(int(seed))
    alg.SetDevice(device)
    alg.SetNumberOfThreads(int(n_threads))
    if params:
        alg.SetParameters(", ".join(f"{k}={float(v)!r}" for k, v in params.items()))
    if input_arrays:
        alg.SetInputArrays(list(input_arrays))
    times, outs = _frames(alg, "EchoRollout")
    return _multiblock(pv, times, outs)


def _multiblock(pv, times: list[float], outs: list[Any]):
    series = pv.MultiBlock()
    for t, out in zip(times, outs):
        mesh = pv.wrap(out)
        mesh.field_data["TimeValue"] = [float(t)]
        series.append(mesh, f"t={t:.6g}")
    return series


def time_values(series) -> list[float]:
    """The TimeValue of each block of a MultiBlock from `rollout` (or a saved and re-read one)."""
    return [float(block.field_data["TimeValue"][0]) for block in series]


def _one(alg, what: str, time: float | None):
    alg.UpdateInformation()
    if alg.last_error:
        raise EchoUserError(f"{what}: {alg.last_error}")
    steps = alg.GetTimestepValues()
    t = steps[0] if time is None and steps else time
    _, (out,) = _frames(alg, what, [0.0 if t is None else float(t)])
    return _pyvista().wrap(out)


def read_dataset(path: str | os.PathLike, trajectory: int = 0, time: float | None = None):
    """One frame (the first, or the last at or before `time`) of an ECHO dataset's trajectory as a
    pyvista.UnstructuredGrid, with `param_<name>` field data: a ready initial condition."""
    from .readers import EchoDatasetReaderAlgorithm

    alg = EchoDatasetReaderAlgorithm()
    alg.SetFileName(os.fspath(path))
    alg.SetTrajectory(int(trajectory))
    return _one(alg, "EchoDatasetReader", time)


def read_well(path: str | os.PathLike, sample: int = 0, time: float | None = None):
    """One frame of a file of The Well as a pyvista.ImageData (RectilinearGrid when not uniform)."""
    from .readers import WellReaderAlgorithm

    alg = WellReaderAlgorithm()
    alg.SetFileName(os.fspath(path))
    alg.SetSample(int(sample))
    return _one(alg, "WellReader", time)

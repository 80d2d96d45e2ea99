"""ECHO for pyvista users, outside ParaView: meshes in, pyvista meshes out.

    import pyvista as pv
    from echo_paraview import pyvista_api as epv
    mesh = pv.read("snapshot.vtu")                       # any mesh with the model's point field(s)
    series = epv.rollout(mesh, "model.safetensors", n_frames=16, params={"nu": 2.4e-4})
    for name, frame in zip(series.keys(), series):       # blocks "t=<time>", field data TimeValue
        print(name, frame["vorticity_pred"].max())
    series.save("prediction.vtm")

    saved = [epv.read_dataset("ns2d.h5", 3, time=t) for t in (5.0, 7.0, 9.0)]   # every 4th model step
    filled = epv.rollout(saved, "model.safetensors", task="interpolate")   # a frame every model dt
    # task="inverse" (n_frames before the first mesh), "reconstruct" (probe meshes in, query= mesh out),
    # "sample" (n_frames from the mesh's points and parameters alone): echo_model/tasks.py

    ic = epv.read_dataset("ns2d.h5", trajectory=3)            # an ECHO dataset frame (+ param_nu)
    grid = epv.read_well("shear_flow.hdf5", sample=0, time=2.0)  # a file of The Well

pyvista is imported lazily, inside these functions only: ParaView (whose Python sees this
package) never imports it. The work is done by the same VTK algorithms ParaView runs
(EchoRolloutAlgorithm, the readers), so results are identical to the GUI's.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

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
    task: str = "forecast",
    gap: int | None = None,
    query: Any = None,
    steps: int | None = None,
):
    """Roll `mesh` (a pyvista/VTK dataset, or a file pyvista reads) forward with an ECHO model.

    Returns a pyvista.MultiBlock with one mesh per time step (block names `t=<time>`, field data
    `TimeValue`): step 0 is the initial condition, then `n_frames` predictions in `<field>_pred`
    (and `<field>_std` for n_samples > 1). `params` overrides the mesh's `param_<name>` field
    data. Raises EchoUserError with the filter's message on bad input.

    `task` other than "forecast" (echo_model/tasks.py) takes `mesh` as one mesh or a sequence of
    meshes (a list or a MultiBlock, in time order, with `TimeValue` field data; else `dt` apart, or
    `gap` model steps apart for "interpolate") holding the model's point fields (or `input_arrays`):
    "interpolate" gives a frame every model dt from the first mesh to the last (`gap`: model steps
    between the meshes, default from their times), "inverse" the `n_frames` frames before the first
    mesh, "sample" `n_frames` frames from the first mesh's points and parameters alone, and
    "reconstruct" the fields on `query` (a mesh; default the first input mesh) from the values at the
    input meshes' points (sparse probes). Their blocks hold only the task's frames.
    """
    if task != "forecast":
        return _task(mesh, model, task, n_frames=n_frames, params=params, input_arrays=input_arrays,
                     n_samples=n_samples, seed=seed, device=device, n_threads=n_threads, gap=gap, query=query,
                     steps=steps)
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


def _task(mesh, model, task: str, *, n_frames: int, params, input_arrays, n_samples: int, seed: int, device: str,
          n_threads: int, gap: int | None, query, steps: int | None):
    """rollout(task=...) for the tasks beyond the forecast: meshes -> arrays -> echo_model.tasks.run_task."""
    pv = _pyvista()
    from echo_model.rollout import Surrogate
    from echo_model.tasks import check_task, run_task
    from echo_model.threads import set_threads

    single = isinstance(mesh, (str, os.PathLike)) or hasattr(mesh, "points") or not hasattr(mesh, "__len__")
    meshes = [_as_mesh(pv, m) for m in ([mesh] if single else list(mesh))]
    if n_threads:
        set_threads(n_threads)
    sur = Surrogate.load(model, device=device)
    check_task(sur, task)
    points, frames = _task_arrays(meshes, sur, input_arrays)
    out_mesh = meshes[0] if query is None else _as_mesh(pv, query)
    qpts = None if query is None else np.asarray(out_mesh.points, dtype=np.float64)[:, : sur.dim]
    par = _checked_parameters(sur, meshes[0], params, points if qpts is None else qpts,
                              n_frames if task in ("inverse", "sample") else 1)
    res, out_times = run_task(sur, task, points, frames, _task_times(meshes, sur, task, gap), n_frames=n_frames,
                              gap=gap, query_points=qpts, params=par or None, n_samples=n_samples, seed=seed,
                              steps=steps, keep_samples=False)
    outs = []
    for i in range(res.mean.shape[0]):
        frame = out_mesh.copy()
        start = 0
        for name, c in res.field_layout:
            for suffix, arr in (("pred", res.mean), ("std", res.std)):
                if arr is not None:
                    vals = arr[i, :, start : start + c]
                    frame.point_data[f"{name}_{suffix}"] = vals[:, 0] if c == 1 else vals
            start += c
        outs.append(frame)
    return _multiblock(pv, [float(t) for t in out_times], outs)


def _checked_parameters(sur, mesh, params, points, n_frames: int) -> dict[str, float]:
    """echo_model.fitcheck.prepare_rollout: the mesh's `param_<name>` field data, overridden by `params`;
    a refusal raises, the warnings are Python warnings."""
    import warnings

    from echo_model.fitcheck import ParamUse, prepare_rollout

    names = set(sur.param_names)
    given = {k[len("param_"):]: ParamUse(float(np.asarray(mesh.field_data[k]).ravel()[0]), f"field data {k}")
             for k in mesh.field_data.keys() if k.startswith("param_") and k[len("param_"):] in names}
    given.update({k: ParamUse(float(v), "params argument") for k, v in (params or {}).items()})
    check = prepare_rollout(sur, points, n_frames, params=given)
    for w in check.warnings:
        warnings.warn(w, stacklevel=3)
    return check.values()


def _as_mesh(pv, m):
    return pv.read(os.fspath(m)) if isinstance(m, (str, os.PathLike)) else pv.wrap(m)


def _task_times(meshes, sur, task: str, gap: int | None) -> np.ndarray:
    """The meshes' TimeValue field data, else dt apart (gap model steps for interpolate)."""
    if all("TimeValue" in m.field_data for m in meshes):
        return np.array([float(m.field_data["TimeValue"][0]) for m in meshes])
    if task == "interpolate" and len(meshes) > 1 and gap is None:
        raise EchoUserError("rollout(task='interpolate'): the meshes carry no TimeValue: pass gap= (model steps apart)")
    return sur.dt * ((gap or 1) if task == "interpolate" else 1) * np.arange(len(meshes), dtype=np.float64)


def _task_arrays(meshes, sur, input_arrays) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, dim) of the first mesh and frames (T, N, C) of the model's fields from every mesh."""
    names = list(input_arrays) if input_arrays else [n for n, _ in sur.field_layout]
    points = np.asarray(meshes[0].points, dtype=np.float64)[:, : sur.dim]
    frames = []
    for k, m in enumerate(meshes):
        if m.n_points != points.shape[0]:
            raise EchoUserError(f"rollout: mesh {k} has {m.n_points} points, the first {points.shape[0]}: "
                                "give the frames on one point set")
        missing = [n for n in names if n not in m.point_data]
        if missing:
            raise EchoUserError(f"rollout: mesh {k} lacks the point field(s) {missing} the model needs "
                                f"({sur.field_layout}); name yours with input_arrays=")
        cols = [np.asarray(m.point_data[n], dtype=np.float32).reshape(m.n_points, -1) for n in names]
        frames.append(np.concatenate(cols, axis=1))
    return points, np.stack(frames)


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

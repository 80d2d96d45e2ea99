"""EchoRollout under MPI (`mpiexec -n N pvbatch`, `mpiexec -n N pvserver`): one rollout over the whole field.

ParaView partitions the input across ranks, but the model must see every point at once (its encoder
aggregates neighbours on one latent grid). So every rank sends its points and observed values to
rank 0; rank 0 merges points that several pieces share (the partition duplicates the points on
piece boundaries: merged by identical coordinates, first piece first), rolls out once, and sends
each rank the predicted values at its own points, in its own order. Serial runs (one process, the
GUI, pvpython) never get here.

    result = gathered_rollout(lambda pts, obs: sur.rollout(pts, obs, ...), points, observed)

All ranks must call it together (RequestData runs on every rank for the same update). A failure on
rank 0 is sent to the other ranks, so no rank waits forever; each rank raises it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from echo_model.errors import EchoUserError

_TAG = 0x45C0  # message tags of this module (any value the rest of ParaView does not use)


class RemoteRolloutError(EchoUserError):
    """The rollout on rank 0 failed; the other ranks raise this with rank 0's message."""


@dataclass
class PieceResult:
    """The prediction at this rank's points (the fields of echo_model.rollout.RolloutResult the filter uses)."""

    mean: np.ndarray
    std: np.ndarray | None
    times: np.ndarray
    samples: Any = None


def controller():
    """The MPI controller when running on more than one process, else None."""
    try:
        from vtkmodules.vtkParallelCore import vtkMultiProcessController
    except ImportError:  # a VTK without the parallel kit: serial by definition
        return None
    c = vtkMultiProcessController.GetGlobalController()
    return c if c is not None and c.GetNumberOfProcesses() > 1 else None


def is_parallel() -> bool:
    return controller() is not None


# --- decisions every rank must share ----------------------------------------------------------
def _all_reduce_max(c, values: list[float]) -> np.ndarray:
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkDoubleArray
    from vtkmodules.vtkParallelCore import vtkCommunicator

    send = numpy_to_vtk(np.asarray(values, dtype=np.float64), deep=1)
    recv = vtkDoubleArray()
    c.AllReduce(send, recv, vtkCommunicator.MAX_OP)
    return vtk_to_numpy(recv).copy()


def any_rank(flag: bool) -> bool:
    """True on every rank when it is True on any rank (e.g. "my piece changed: roll out again").

    Keeps the ranks' decisions identical, so all of them reach gathered_rollout together."""
    c = controller()
    return bool(flag) if c is None else bool(_all_reduce_max(c, [float(bool(flag))])[0])


def require_every_piece(n_points: int) -> None:
    """Under MPI every rank must hold part of the input: an empty piece (a single-piece file read by
    several ranks) is refused on every rank alike, instead of leaving rank 0 waiting for it."""
    c = controller()
    if c is None:
        return
    size, rank = c.GetNumberOfProcesses(), c.GetLocalProcessId()
    empty = np.zeros(size)
    empty[rank] = float(n_points == 0)
    empty = _all_reduce_max(c, list(empty))
    if empty.any() and not empty.all():
        ranks = [int(r) for r in np.flatnonzero(empty)]
        raise EchoUserError(
            f"EchoRollout runs on {size} MPI ranks but rank(s) {ranks} hold no part of the input (a file with "
            "fewer pieces than ranks is read by some ranks only): put a RedistributeDataSet filter before "
            "EchoRollout, or run on one rank")


# --- numpy over the controller ----------------------------------------------------------------
def _send(c, arr: np.ndarray, dest: int, tag: int) -> None:
    from vtkmodules.util.numpy_support import numpy_to_vtk

    a = np.ascontiguousarray(arr)
    shape = np.asarray(a.shape, dtype=np.float64)
    c.Send(numpy_to_vtk(np.concatenate([[a.ndim], shape])), dest, tag)
    c.Send(numpy_to_vtk(a.reshape(-1) if a.size else np.zeros(0, a.dtype), deep=1), dest, tag + 1)


def _receive(c, src: int, tag: int, dtype) -> np.ndarray:
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkFloatArray

    head = vtkDoubleArray()
    c.Receive(head, src, tag)
    h = vtk_to_numpy(head)
    shape = tuple(int(x) for x in h[1 : 1 + int(h[0])])
    body = vtkDoubleArray() if np.dtype(dtype) == np.float64 else vtkFloatArray()
    c.Receive(body, src, tag + 1)
    data = vtk_to_numpy(body) if body.GetNumberOfTuples() else np.zeros(0, dtype)
    return np.asarray(data, dtype=dtype).reshape(shape)


def _send_text(c, text: str, dest: int, tag: int) -> None:
    _send(c, np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.float64), dest, tag)


def _receive_text(c, src: int, tag: int) -> str:
    return _receive(c, src, tag, np.float64).astype(np.uint8).tobytes().decode("utf-8", "replace")


# --- the gathered rollout ---------------------------------------------------------------------
def merge_pieces(pieces: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(indices of the unique points in the concatenation, per piece: its points' rows in the unique set).

    Unique by exact coordinates, ordered by first appearance (rank 0's points first, in its order)."""
    allp = np.concatenate(pieces, axis=0)
    _, first, inverse = np.unique(allp, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(order.size)
    rows = rank_of[inverse.reshape(-1)]
    bounds = np.cumsum([0] + [p.shape[0] for p in pieces])
    return first[order], [rows[bounds[i] : bounds[i + 1]] for i in range(len(pieces))]


def gathered_rollout(run: Callable[[np.ndarray, np.ndarray], Any], points: np.ndarray,
                     observed: np.ndarray) -> Any:
    """`run(points, observed)` over the whole partitioned field; this rank's share of the result."""
    c = controller()
    if c is None:
        return run(points, observed)
    rank, size = c.GetLocalProcessId(), c.GetNumberOfProcesses()
    points = np.asarray(points, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float32)
    if rank != 0:
        _send(c, points, 0, _TAG)
        _send(c, observed, 0, _TAG + 2)
        return _receive_share(c)
    pts, obs = [points], [observed]
    for r in range(1, size):
        pts.append(_receive(c, r, _TAG, np.float64))
        obs.append(_receive(c, r, _TAG + 2, np.float32))
    try:
        keep, rows = merge_pieces(pts)
        res = run(np.concatenate(pts)[keep], np.concatenate(obs, axis=1)[:, keep])
    except Exception as exc:
        for r in range(1, size):
            _send(c, np.zeros(1), r, _TAG + 4)  # 0 = failed
            _send_text(c, str(exc), r, _TAG + 6)
        raise
    for r in range(1, size):
        _send(c, np.ones(1), r, _TAG + 4)
        _send(c, res.mean[:, rows[r]], r, _TAG + 6)
        _send(c, np.zeros(0, np.float32) if res.std is None else res.std[:, rows[r]], r, _TAG + 8)
        _send(c, np.asarray(res.times, dtype=np.float64), r, _TAG + 10)
    return PieceResult(res.mean[:, rows[0]], None if res.std is None else res.std[:, rows[0]], res.times)


def _receive_share(c) -> PieceResult:
    ok = _receive(c, 0, _TAG + 4, np.float64)
    if not ok[0]:
        raise RemoteRolloutError(f"the rollout on rank 0 failed: {_receive_text(c, 0, _TAG + 6)}")
    mean = _receive(c, 0, _TAG + 6, np.float32)
    std = _receive(c, 0, _TAG + 8, np.float32)
    times = _receive(c, 0, _TAG + 10, np.float64)
    return PieceResult(mean, std if std.size else None, times)


__all__ = ["gathered_rollout", "merge_pieces", "is_parallel", "any_rank", "require_every_piece", "controller",
           "PieceResult", "RemoteRolloutError"]

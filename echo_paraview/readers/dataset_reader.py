"""EchoDatasetReaderAlgorithm: an ECHO dataset (`.h5`, echo_model/data/store.py) as a VTK source.

Output: one trajectory's mesh (its cells when the dataset stores them, else one vertex per point)
with the selected fields as point arrays, the trajectory's times as time steps, and field data
`param_<name>` per PDE parameter (what EchoRollout reads), `trajectory_index`, `split`,
`dataset_name`, `echo_dim`, `TimeValue`. With `Trajectories` set ("0-3,7" or "all") the output is
a vtkMultiBlockDataSet, one block per trajectory, on the union of their time steps.

Lazy: RequestInformation reads attributes and times only; each RequestData reads, per trajectory,
the mesh once (cached) and the ONE frame asked for (the dataset stores one chunk per frame).
`frames_read` records every (trajectory, frame) read, for tests and benchmarks.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkMultiBlockDataSet, vtkUnstructuredGrid

from echo_model.data.store import FORMAT, TrajectoryStore
from echo_model.errors import EchoUserError

from .. import convert, timesteps
from ..io.exporter import parse_indices
from .base import ReaderBase, ReaderError, set_field_data

# meshes kept per reader, by total points (~100 B each with cells): stepping a multiblock through
# time re-reads only the meshes beyond this
_MESH_CACHE_POINTS = 2_000_000
_INFO_LINES = 20  # TrajectoryInfo lists this many trajectories, then a count


def is_echo_dataset(path: str | os.PathLike) -> bool:
    """Cheap check of the root `format` attribute: other HDF5 files are left to other readers."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            return (fmt.decode() if isinstance(fmt, bytes) else fmt) == FORMAT
    except Exception:  # not HDF5, unreadable, h5py missing: not ours
        return False


@dataclass
class _TrajectoryInfo:
    index: int
    times: np.ndarray
    params: dict[str, float]
    split: str
    n_points: int


class EchoDatasetReaderAlgorithm(ReaderBase):
    """ECHO dataset reader; see the module docstring."""

    messages_from = "EchoDatasetReader"

    def __init__(self) -> None:
        ReaderBase.__init__(self, output_type="vtkDataObject")  # UG or multiblock
        self._trajectory = 0
        self._trajectories = ""
        self._meshes: OrderedDict[tuple, vtkUnstructuredGrid] = OrderedDict()
        self._cached_points = 0
        self._info: dict[int, _TrajectoryInfo] = {}
        self._n_trajectories = 0
        self.frames_read: list[tuple[int, int]] = []

    # --- properties -------------------------------------------------------------------
    def SetTrajectory(self, index: int) -> None:
        """The trajectory shown (0-based), when Trajectories is empty."""
        if int(index) != self._trajectory:
            self._trajectory = int(index)
            self.Modified()

    def GetTrajectory(self) -> int:
        return self._trajectory

    def SetTrajectories(self, text: str | None) -> None:
        """Several trajectories as a multiblock: "0-3,7" or "all"; empty: just Trajectory."""
        text = str(text or "").strip()
        if text != self._trajectories:
            self._trajectories = text
            self.Modified()

    def GetTrajectories(self) -> str:
        return self._trajectories

    def GetNumberOfTrajectories(self) -> int:
        return self._n_trajectories

    def GetTrajectoryInfo(self) -> str:
        """One line per shown trajectory: index, split, parameters, frames, points."""
        lines = []
        for i, ti in sorted(self._info.items())[:_INFO_LINES]:
            params = ", ".join(f"{k}={v:.6g}" for k, v in sorted(ti.params.items())) or "no parameters"
            t = ti.times
            span = f"t={t[0]:.6g}..{t[-1]:.6g}" if t.size else "no frames"
            lines.append(f"trajectory {i} of {self._n_trajectories} ({ti.split}): {params}; "
                         f"{t.size} frames {span}; {ti.n_points} points")
        if len(self._info) > _INFO_LINES:
            lines.append(f"... and {len(self._info) - _INFO_LINES} more trajectories")
        return "\n".join(lines)

    def CanReadFile(self, name: str) -> int:
        return int(is_echo_dataset(name))

    def _multiblock(self) -> bool:
        return bool(self._trajectories)

    # --- pipeline ---------------------------------------------------------------------
    def RequestDataObject(self, request, inInfo, outInfo):
        cls = vtkMultiBlockDataSet if self._multiblock() else vtkUnstructuredGrid
        info = outInfo.GetInformationObject(0)
        out = info.Get(vtkDataObject.DATA_OBJECT())
        if out is None or not out.IsA(cls.__name__):
            info.Set(vtkDataObject.DATA_OBJECT(), cls())
        return 1

    def _open(self) -> TrajectoryStore:
        path = self._path()
        if not is_echo_dataset(path):
            self._check_hdf5(path)
            raise ReaderError(
                f"{path} is not an ECHO dataset (no root attribute format='{FORMAT}'); a file of The Well "
                f"opens with WellReader, other HDF5 layouts need `echopv import` first"
            )
        return TrajectoryStore(path)

    def _chosen(self, n: int) -> list[int]:
        if not self._multiblock():
            if not 0 <= self._trajectory < n:
                raise ReaderError(
                    f"Trajectory is {self._trajectory} but {self._file_name} holds trajectories 0..{n - 1}; "
                    f"set Trajectory within that range"
                )
            return [self._trajectory]
        text = "" if self._trajectories.lower() == "all" else self._trajectories
        try:
            return parse_indices(text, n)
        except EchoUserError as exc:  # its message names a CLI option: give the property's own
            raise ReaderError(
                f"Trajectories {self._trajectories!r} is not a list of trajectories of {self._file_name}, "
                f"which holds 0..{n - 1}; write e.g. '0-3,7' or 'all'"
            ) from exc

    def _information(self, outInfo) -> int:
        with self._open() as store:
            self._n_trajectories = len(store)
            self._offer_arrays([name for name, _ in store.info.field_layout])
            split_of = {int(i): name for name, idx in store.info.split.items() for i in np.asarray(idx)}
            self._info = {}
            for i in self._chosen(len(store)):
                self._info[i] = _TrajectoryInfo(i, store.times(i), store.params(i),
                                                split_of.get(i, "none"), store.n_points(i))
        times = np.unique(np.concatenate([ti.times for ti in self._info.values()]))
        self._announce(outInfo, times)
        return 1

    def _data(self, outInfo) -> int:
        k_union = self._frame_index(outInfo, self._times) if self._times else 0
        t_req = self._times[k_union] if self._times else 0.0
        out = outInfo.GetInformationObject(0).Get(vtkDataObject.DATA_OBJECT())
        with self._open() as store:
            layout = store.info.field_layout
            if not self._multiblock():
                i = next(iter(self._info))
                out.ShallowCopy(self._trajectory_output(store, i, t_req, layout))
            else:
                out.SetNumberOfBlocks(len(self._info))
                for b, i in enumerate(self._info):
                    out.SetBlock(b, self._trajectory_output(store, i, t_req, layout))
                    out.GetMetaData(b).Set(vtkMultiBlockDataSet.NAME(), f"traj_{i:06d}")
                    self.UpdateProgress((b + 1) / len(self._info))
        timesteps.stamp_data_time(out, t_req)
        return 1

    # --- one trajectory at one time ------------------------------------------------------
    def _mesh(self, store: TrajectoryStore, i: int) -> vtkUnstructuredGrid:
        path = str(store.path)
        key = (os.path.abspath(path), os.stat(path).st_mtime_ns, i)
        mesh = self._meshes.get(key)
        if mesh is None:
            mesh = convert.make_unstructured_grid(store.points(i), store.cells(i))
            self._meshes[key] = mesh
            self._cached_points += mesh.GetNumberOfPoints()
            while len(self._meshes) > 1 and self._cached_points > _MESH_CACHE_POINTS:
                _, old = self._meshes.popitem(last=False)
                self._cached_points -= old.GetNumberOfPoints()
        self._meshes.move_to_end(key)
        return mesh

    def _trajectory_output(self, store, i: int, t: float, layout) -> vtkUnstructuredGrid:
        ti = self._info[i]
        k = timesteps.snap_index(ti.times, t)
        out = vtkUnstructuredGrid()
        out.ShallowCopy(self._mesh(store, i))
        wanted = set(self._enabled([n for n, _ in layout]))
        if wanted:
            values = store.read_fields(i, slice(k, k + 1))[0]  # one chunk: this frame only
            self.frames_read.append((i, k))
            start = 0
            for name, ncomp in layout:
                if name in wanted:
                    block = values[:, start:start + ncomp]
                    convert.add_array(out, name, block[:, 0] if ncomp == 1 else block)
                start += ncomp
        set_field_data(out, {
            **{f"param_{n}": float(v) for n, v in ti.params.items()},
            "trajectory_index": i,
            "split": ti.split,
            "dataset_name": store.info.name,
            "echo_dim": store.info.dim,
            "echo_params": json.dumps(ti.params),
            "TimeValue": float(ti.times[k]) if ti.times.size else 0.0,
        })
        timesteps.stamp_data_time(out, float(ti.times[k]) if ti.times.size else 0.0)
        return out

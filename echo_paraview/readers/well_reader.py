"""WellReaderAlgorithm: a file of The Well (PolymathicAI's HDF5 benchmark format) as a VTK source.

Output: one sample on its grid, as vtkImageData when every axis is uniformly spaced, else as
vtkRectilinearGrid; 1D, 2D and 3D. Fields keep their names and components as `echopv import`
reads them (echo_model/io_well.py: t0 scalars, t1 D-vectors, t2 D*D row-major tensors, size-1
placeholder axes broadcast). Boundary-condition masks are uint8 point arrays `bc_<name>`. Time
steps are `dimensions/time`. Simulation parameters and constant scalars are field data
`param_<name>` (the convention EchoRollout reads); time-varying scalars are field data holding
the current frame's value.

Lazy: RequestInformation reads the description and the times; each RequestData reads the one
time index asked for, per selected field (`frames_read` records them).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkImageData, vtkRectilinearGrid

from echo_model import io_well
from echo_model.data.array_checks import check_times
from echo_model.data.h5_guard import check_all_links

from .. import convert, timesteps
from .base import ReaderBase, ReaderError, set_field_data

BC_PREFIX = "bc_"


def is_uniform(axis: np.ndarray) -> bool:
    """True when the coordinates are equally spaced (to float32 round-off)."""
    if axis.size < 3:
        return True
    d = np.diff(axis)
    return bool(np.allclose(d, d[0], rtol=1e-5, atol=1e-7 * max(1.0, float(np.abs(axis).max()))))


def to_vtk_order(values: np.ndarray, grid: Sequence[int]) -> np.ndarray:
    """(N, k) in The Well's "ij" order (last axis fastest) -> VTK order (x fastest)."""
    d, k = len(grid), values.shape[1]
    cube = values.reshape(*grid, k)
    return np.ascontiguousarray(cube.transpose(*reversed(range(d)), d).reshape(-1, k))


def bc_mask(mask: np.ndarray, assoc: Sequence[str], spatial_dims: Sequence[str], grid: Sequence[int]) -> np.ndarray | None:
    """A boundary mask broadcast to the grid ("ij" order, flat), or None when its shape does not fit."""
    mask = np.asarray(mask).astype(bool)
    grid = tuple(int(g) for g in grid)
    if mask.shape == grid:
        return mask.reshape(-1)
    axes = [spatial_dims.index(a) for a in assoc if a in spatial_dims]
    if len(axes) != mask.ndim or tuple(grid[a] for a in axes) != mask.shape:
        return None
    shape = [1] * len(grid)
    for a, n in zip(axes, mask.shape):
        shape[a] = n
    # a face mask (True at an axis' ends) marks every node on that face
    order = np.argsort(axes)
    full = np.broadcast_to(mask.transpose(order).reshape(shape), grid)
    return full.reshape(-1)



def _refuse_links(path) -> None:
    """External and looping links are refused before io_well reads anything through them."""
    import h5py

    with h5py.File(path, "r") as f:
        check_all_links(f, path)

class WellReaderAlgorithm(ReaderBase):
    """The Well reader; see the module docstring."""

    messages_from = "WellReader"

    def __init__(self) -> None:
        ReaderBase.__init__(self, output_type="vtkDataSet")  # image or rectilinear grid
        self._sample = 0
        self._n_samples = 0
        self.frames_read: list[tuple[str, int, int]] = []
        self.skipped: list[str] = []  # boundary masks whose shape does not fit the grid

    def SetSample(self, index: int) -> None:
        """The trajectory (sample) of the file shown, 0-based."""
        if int(index) != self._sample:
            self._sample = int(index)
            self.Modified()

    def GetSample(self) -> int:
        return self._sample

    def GetNumberOfSamples(self) -> int:
        return self._n_samples

    def CanReadFile(self, name: str) -> int:
        return int(io_well.is_well_file(name))

    # --- pipeline ---------------------------------------------------------------------
    def _open(self):
        path = self._path()
        if not io_well.is_well_file(path):
            self._check_hdf5(path)
            raise ReaderError(
                f"{path} is not a file of The Well (needs a dimensions/ group and t0_fields/t1_fields/"
                f"t2_fields groups); an ECHO dataset opens with EchoDatasetReader"
            )
        _refuse_links(path)
        f, info = io_well.open_well(path)
        if not 0 <= self._sample < info.n_trajectories:
            f.close()
            raise ReaderError(
                f"Sample is {self._sample} but {path} holds samples 0..{info.n_trajectories - 1}; "
                f"set Sample within that range"
            )
        return f, info

    def RequestDataObject(self, request, inInfo, outInfo):
        cls = vtkImageData
        try:
            f, info = self._open()
            with f:
                if not all(is_uniform(a) for a in io_well.sample_axes(f, info, self._sample)):
                    cls = vtkRectilinearGrid
        except Exception:  # RequestInformation reports what is wrong with the file
            pass
        out_info = outInfo.GetInformationObject(0)
        out = out_info.Get(vtkDataObject.DATA_OBJECT())
        if out is None or out.GetClassName() != cls.__name__:
            out_info.Set(vtkDataObject.DATA_OBJECT(), cls())
        return 1

    def _information(self, outInfo) -> int:
        f, info = self._open()
        with f:
            self._n_samples = info.n_trajectories
            self._offer_arrays(info.field_names + [BC_PREFIX + n for n in info.boundary_conditions])
            times = io_well.sample_times(f, self._sample)
            check_times(times, info.n_steps, f"{info.path} sample {self._sample}",
                        fix="fix dimensions/time in the file (one finite, increasing time per step)")
            for fl in info.fields:  # an unmappable field is reported now, not at the first frame
                io_well.field_grid_shape(fl, info.grid_shape, info.path)
        self._announce(outInfo, times)
        return 1

    def _data(self, outInfo) -> int:
        out = outInfo.GetInformationObject(0).Get(vtkDataObject.DATA_OBJECT())
        f, info = self._open()
        with f:
            b = self._sample
            times = io_well.sample_times(f, b)
            k = self._frame_index(outInfo, times) if times.size else 0
            axes = io_well.sample_axes(f, info, b)
            self._set_geometry(out, axes)
            grid = info.grid_shape
            for name in self._enabled(info.field_names):
                values = io_well.read_field_frames(f, info, name, b, slice(k, k + 1))[0]
                self.frames_read.append((name, b, k))
                block = to_vtk_order(values, grid)
                convert.add_array(out, name, block[:, 0] if block.shape[1] == 1 else block)
            self._add_masks(out, f, info)
            params, series = io_well.sample_scalars(f, info, b)
            t = float(times[k]) if times.size else 0.0
            set_field_data(out, {
                **{f"param_{n}": v for n, v in params.items()},
                **{n: float(v[k]) for n, v in series.items() if v.size > k},
                "dataset_name": info.dataset_name,
                "grid_type": info.grid_type,
                "sample_index": b,
                "TimeValue": t,
            })
        timesteps.stamp_data_time(out, t)
        return 1

    @staticmethod
    def _set_geometry(out, axes: list[np.ndarray]) -> None:
        dims = [a.size for a in axes] + [1] * (3 - len(axes))
        if isinstance(out, vtkRectilinearGrid):
            out.SetDimensions(*dims)
            setters = (out.SetXCoordinates, out.SetYCoordinates, out.SetZCoordinates)
            for a, setter in enumerate(setters):
                coords = axes[a] if a < len(axes) else np.zeros(1)
                setter(convert.numpy_to_vtk_array(np.asarray(coords, dtype=np.float64), f"coord{a}"))
            return
        origin = [float(a[0]) for a in axes] + [0.0] * (3 - len(axes))
        spacing = [float(a[1] - a[0]) if a.size > 1 else 1.0 for a in axes] + [1.0] * (3 - len(axes))
        out.SetDimensions(*dims)
        out.SetOrigin(*origin)
        out.SetSpacing(*spacing)

    def _add_masks(self, out, f, info) -> None:
        self.skipped = []
        if "boundary_conditions" not in f:
            return
        for name, group in f["boundary_conditions"].items():
            if not self._selection.ArrayIsEnabled(BC_PREFIX + name) or "mask" not in group:
                continue
            assoc = info.boundary_conditions.get(name, {}).get("associated_dims", [])
            mask = bc_mask(group["mask"][()], assoc, info.spatial_dims, info.grid_shape)
            if mask is None:
                self.skipped.append(f"{name} (mask shape {group['mask'].shape})")
                continue
            flat = to_vtk_order(mask.astype(np.uint8)[:, None], info.grid_shape)[:, 0]
            convert.add_array(out, BC_PREFIX + name, flat)

"""Writing EchoRollout's output frames (plain datasets and composite trees alike).

A frame at or before the start time is the input itself plus `<field>_pred` (= the input), so
the arrays and colour maps stay the same over the whole animation. A predicted frame is the
input's geometry with the ECHO arrays only: `<field>_pred`, `<field>_std` (ensembles),
`<field>_truth` and `<field>_error` (= pred - truth) where the input has data at that time;
the input's own fields are not passed on (they would be the start frame frozen, named like the
solver's truth). Field data on every frame: `is_prediction`, `TimeValue`, `rollout_start_time`,
and, with a truth, `<field>_rel_mse` and `truth_interpolated`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkIntArray
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkDataSet, vtkDataSetAttributes

from . import convert
from .comparison import Truth, rel_mse
from .rollout_input import Leaf, ModelInput, FieldSpec, is_composite, leaves, set_leaf

_OWN_FIELD_DATA = ("is_prediction", "TimeValue", "rollout_start_time", "truth_interpolated")


@dataclass
class Frame:
    """One output frame in model channels over all used leaves."""

    time: float
    is_prediction: bool
    mean: np.ndarray | None = None  # (N, C); None on a pass-through frame
    std: np.ndarray | None = None
    truth: Truth | None = None


def _assoc(association: str) -> str:
    return "point" if association == "points" else "cell"


def _pad(block: np.ndarray, spec: FieldSpec) -> np.ndarray:
    """Model components -> the input array's components (2D vectors get z = 0 back)."""
    if spec.input_ncomp == 3 and spec.model_ncomp == 2:
        block = np.concatenate([block, np.zeros((block.shape[0], 1), block.dtype)], axis=1)
    block = np.ascontiguousarray(block, dtype=np.float32)
    return block[:, 0] if block.shape[1] == 1 else block


def _split(values: np.ndarray, mi: ModelInput):
    """Yield (leaf number, spec, block) slices of (N, C) model values."""
    row = 0
    for li, size in enumerate(mi.sizes):
        col = 0
        for spec in mi.specs:
            yield li, spec, values[row : row + size, col : col + spec.model_ncomp]
            col += spec.model_ncomp
        row += size


def _field_data(ds: vtkDataObject, name: str, value: float, integer: bool = False) -> None:
    arr = vtkIntArray() if integer else vtkDoubleArray()
    arr.SetName(name)
    arr.InsertNextValue(int(value) if integer else float(value))
    ds.GetFieldData().AddArray(arr)


def _stamp(ds: vtkDataObject, frame: Frame, t_start: float, mi: ModelInput, errors: dict[str, float]) -> None:
    fd = ds.GetFieldData()
    for name in _OWN_FIELD_DATA:
        fd.RemoveArray(name)
    _field_data(ds, "is_prediction", 1 if frame.is_prediction else 0, integer=True)
    _field_data(ds, "TimeValue", frame.time)
    _field_data(ds, "rollout_start_time", t_start)
    if frame.truth is not None or not frame.is_prediction:
        _field_data(ds, "truth_interpolated", 1 if frame.truth is not None and frame.truth.interpolated else 0,
                    integer=True)
        for spec in mi.specs:
            fd.RemoveArray(f"{spec.name}_rel_mse")
            _field_data(ds, f"{spec.name}_rel_mse", errors.get(spec.name, 0.0))


def frame_errors(frame: Frame, mi: ModelInput) -> dict[str, float]:
    """Per-field rel-MSE of a predicted frame against its truth (all used leaves together)."""
    if frame.truth is None or frame.mean is None:
        return {}
    out, col = {}, 0
    for spec in mi.specs:
        sl = slice(col, col + spec.model_ncomp)
        out[spec.name] = rel_mse(frame.mean[:, sl], frame.truth.values[:, sl])
        col += spec.model_ncomp
    return out


def write_frame(inp: vtkDataObject, out: vtkDataObject, used: Sequence[Leaf], mi: ModelInput, frame: Frame,
                t_start: float, with_std: bool, compare: bool) -> None:
    """Fill `out` (same type as `inp`) with one frame."""
    errors = frame_errors(frame, mi)
    new_leaves = _copy_tree(inp, out, used, frame.is_prediction)
    assoc = _assoc(mi.association)
    if frame.is_prediction:
        arrays = {"pred": frame.mean, "std": frame.std if with_std else None,
                  "truth": frame.truth.values if frame.truth is not None else None}
        for kind, values in arrays.items():
            if values is None:
                continue
            for li, spec, block in _split(values, mi):
                convert.add_array(new_leaves[li], f"{spec.name}_{kind}", _pad(block, spec), assoc)
        if frame.truth is not None:
            for li, spec, block in _split(frame.mean - frame.truth.values, mi):
                convert.add_array(new_leaves[li], f"{spec.name}_error", _pad(block, spec), assoc)
    else:
        for li, leaf in enumerate(new_leaves):
            attrs = leaf.GetPointData() if assoc == "point" else leaf.GetCellData()
            for spec in mi.specs:
                v = convert.get_array(attrs, spec.name, assoc)
                convert.add_array(leaf, f"{spec.name}_pred", v, assoc)
                zeros = np.zeros_like(v)
                if with_std:
                    convert.add_array(leaf, f"{spec.name}_std", zeros, assoc)
                if compare:
                    convert.add_array(leaf, f"{spec.name}_truth", v, assoc)
                    convert.add_array(leaf, f"{spec.name}_error", zeros, assoc)
    for leaf in new_leaves:
        _active_scalars(leaf, mi, assoc)
        _stamp(leaf, frame, t_start, mi, errors)
    if is_composite(out):
        _stamp(out, frame, t_start, mi, errors)


def _active_scalars(leaf: vtkDataSet, mi: ModelInput, assoc: str) -> None:
    """ParaView colours a new display by the active scalars: make that the first prediction."""
    attrs = leaf.GetPointData() if assoc == "point" else leaf.GetCellData()
    other = leaf.GetCellData() if assoc == "point" else leaf.GetPointData()
    name = f"{mi.specs[0].name}_pred"
    if attrs.GetArray(name) is not None:
        attrs.SetActiveScalars(name)
        # ParaView looks at the point data's active scalars first: a reader's (e.g. OpenFOAM's
        # interpolated point p) would win over the prediction
        other.SetActiveAttribute(-1, vtkDataSetAttributes.SCALARS)


def _copy_tree(inp: vtkDataObject, out: vtkDataObject, used: Sequence[Leaf], prediction: bool) -> list[vtkDataSet]:
    """Copy the input into `out`: whole leaves (pass-through) or geometry + field data (predicted).
    Returns the output leaves that correspond to `used`, in order."""
    def copy(ds: vtkDataSet) -> vtkDataSet:
        new = ds.NewInstance()
        if prediction:
            new.CopyStructure(ds)
            new.GetFieldData().ShallowCopy(ds.GetFieldData())
            _keep_internal_arrays(ds, new)
        else:
            new.ShallowCopy(ds)
        return new

    if isinstance(inp, vtkDataSet):
        src = copy(inp)
        out.ShallowCopy(src)
        return [out]
    out.CopyStructure(inp)
    by_index = {}
    for leaf in leaves(inp):
        new = copy(leaf.data)
        set_leaf(out, leaf.index, new)
        by_index[leaf.index] = new
    return [by_index[lf.index] for lf in used]


def _keep_internal_arrays(src: vtkDataSet, dst: vtkDataSet) -> None:
    """Ghost levels and original ids stay (ParaView needs them); user fields do not."""
    for get in ("GetPointData", "GetCellData"):
        a, b = getattr(src, get)(), getattr(dst, get)()
        for i in range(a.GetNumberOfArrays()):
            arr = a.GetAbstractArray(i)
            if arr is not None and (arr.GetName() or "").startswith("vtk"):
                b.AddArray(arr)

"""Writing EchoRollout's output frames (plain datasets and composite trees alike).

Every output step carries the SAME arrays in the SAME order (ParaView's Plot Data Over Time and
other temporal filters copy arrays step to step by position and type): the input's own point,
cell and field arrays first, in the input's order, then per model field `<field>_pred`,
`<field>_std` (ensembles), `<field>_truth` and `<field>_error` (= pred - truth; these two with
CompareWithInput). Where a value does not exist at a step it is filled, never left out:

* the input's own arrays hold the solver's data at the steps where the input has that time (at and
  before the start, and the input's later steps); at a predicted time the input does not have, the
  solver has no value there: floating-point arrays are NaN (ParaView treats NaN as missing: it is
  not drawn in plots and shows as the colour map's NaN colour), integer arrays 0;
* `<field>_pred` and `<field>_std` are NaN at the input's steps after the start that are no
  forecast time (the input written more often than the model's dt, or beyond the forecast);
* `<field>_truth` and `<field>_error` are NaN at predicted times outside the input's time range.

At and before the start `<field>_pred` = `<field>_truth` = the input, `_std` = `_error` = 0.
Field data on every frame: `is_prediction`, `TimeValue`, `rollout_start_time`,
`truth_interpolated` and `<field>_rel_mse` (NaN where there is no truth or no prediction).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from vtkmodules.vtkCommonCore import vtkDataArray, vtkDoubleArray, vtkIntArray
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkDataSet, vtkDataSetAttributes

from . import convert
from .comparison import Truth, rel_mse
from .rollout_input import Leaf, ModelInput, FieldSpec, is_composite, leaves, set_leaf

_OWN_FIELD_DATA = ("is_prediction", "TimeValue", "rollout_start_time", "truth_interpolated")
#: what a floating-point array holds where the solver (or the forecast) has no value
FILL_VALUE = float("nan")


@dataclass
class Frame:
    """One output frame in model channels over all used leaves.

    `mean` None: no forecast at this time (`_pred`, `_std` NaN). `truth` None: no solver data to
    compare with (`_truth`, `_error` NaN). `solver`: the input holds the solver's own data at this
    time, so its arrays pass through; else they are filled (NaN)."""

    time: float
    is_prediction: bool
    mean: np.ndarray | None = None  # (N, C)
    std: np.ndarray | None = None
    truth: Truth | None = None
    solver: bool = True


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
    ds.GetFieldData().RemoveArray(name)
    ds.GetFieldData().AddArray(arr)


def _stamp(ds: vtkDataObject, frame: Frame, t_start: float, mi: ModelInput, errors: dict[str, float]) -> None:
    _field_data(ds, "is_prediction", 1 if frame.is_prediction else 0, integer=True)
    _field_data(ds, "TimeValue", frame.time)
    _field_data(ds, "rollout_start_time", t_start)
    _field_data(ds, "truth_interpolated", 1 if frame.truth is not None and frame.truth.interpolated else 0,
                integer=True)
    for spec in mi.specs:
        _field_data(ds, f"{spec.name}_rel_mse", errors.get(spec.name, FILL_VALUE))


def frame_errors(frame: Frame, mi: ModelInput) -> dict[str, float]:
    """Per-field rel-MSE of a frame against its truth (all used leaves together); {} without one."""
    if frame.truth is None or frame.mean is None:
        return {}
    out, col = {}, 0
    for spec in mi.specs:
        sl = slice(col, col + spec.model_ncomp)
        out[spec.name] = rel_mse(frame.mean[:, sl], frame.truth.values[:, sl])
        col += spec.model_ncomp
    return out


def echo_arrays(frame: Frame, n_values: int, n_channels: int, with_std: bool,
                compare: bool) -> list[tuple[str, np.ndarray]]:
    """(suffix, (N, C) values) of the ECHO arrays of a frame, in output order, NaN where missing."""
    def filled(values: np.ndarray | None) -> np.ndarray:
        return values if values is not None else np.full((n_values, n_channels), FILL_VALUE, np.float32)

    truth = frame.truth.values if frame.truth is not None else None
    error = frame.mean - truth if frame.mean is not None and truth is not None else None
    out = [("pred", filled(frame.mean))]
    if with_std:
        out.append(("std", filled(frame.std if frame.mean is not None else None)))
    if compare:
        out += [("truth", filled(truth)), ("error", filled(error))]
    return out


def write_frame(inp: vtkDataObject, out: vtkDataObject, used: Sequence[Leaf], mi: ModelInput, frame: Frame,
                t_start: float, with_std: bool, compare: bool) -> None:
    """Fill `out` (same type as `inp`) with one frame."""
    errors = frame_errors(frame, mi)
    new_leaves = _copy_tree(inp, out, used, frame.solver)
    assoc = _assoc(mi.association)
    kinds = echo_arrays(frame, int(mi.points.shape[0]), sum(s.model_ncomp for s in mi.specs), with_std, compare)
    blocks = {kind: list(_split(values, mi)) for kind, values in kinds}
    # per model field: _pred, _std, _truth, _error (the order is the same at every step)
    for li, leaf in enumerate(new_leaves):
        for si, spec in enumerate(mi.specs):
            for kind, _ in kinds:
                _, _, block = blocks[kind][li * len(mi.specs) + si]
                convert.add_array(leaf, f"{spec.name}_{kind}", _pad(block, spec), assoc)
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


def _copy_tree(inp: vtkDataObject, out: vtkDataObject, used: Sequence[Leaf], solver: bool) -> list[vtkDataSet]:
    """Copy the input into `out`: whole leaves (the solver's data at this time) or geometry with
    the input's arrays filled (no solver data at this time). Returns the output leaves that
    correspond to `used`, in order."""
    def copy(ds: vtkDataSet) -> vtkDataSet:
        new = ds.NewInstance()
        if solver:
            new.ShallowCopy(ds)
        else:
            new.CopyStructure(ds)
            new.GetFieldData().ShallowCopy(ds.GetFieldData())
            _filled_arrays(ds, new)
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


def _filled_arrays(src: vtkDataSet, dst: vtkDataSet) -> None:
    """The input's point and cell arrays, same names, types and order, filled: NaN (floating
    point), 0 (integers), empty (text). VTK's own arrays (ghost levels, original ids) and the
    mesh's geometry attributes (normals, texture coordinates, tangents: NaN normals render the
    surface black) stay."""
    for get in ("GetPointData", "GetCellData"):
        a, b = getattr(src, get)(), getattr(dst, get)()
        geometry = {a.GetAbstractAttribute(k).GetName() for k in _GEOMETRY_ATTRIBUTES
                    if a.GetAbstractAttribute(k) is not None}
        for i in range(a.GetNumberOfArrays()):
            arr = a.GetAbstractArray(i)
            if arr is None:
                continue
            keep = (arr.GetName() or "").startswith("vtk") or arr.GetName() in geometry
            b.AddArray(arr if keep else _filled_like(arr))
        for attr in range(vtkDataSetAttributes.NUM_ATTRIBUTES):
            src_attr = a.GetAbstractAttribute(attr)
            if src_attr is not None and src_attr.GetName():
                b.SetActiveAttribute(src_attr.GetName(), attr)


def _filled_like(arr):
    new = arr.NewInstance()
    new.SetName(arr.GetName())
    new.SetNumberOfComponents(arr.GetNumberOfComponents())
    new.SetNumberOfTuples(arr.GetNumberOfTuples())
    if isinstance(arr, vtkDataArray):
        new.Fill(FILL_VALUE if arr.GetDataType() in _FLOAT_TYPES else 0)
    return new


_FLOAT_TYPES = (10, 11)  # VTK_FLOAT, VTK_DOUBLE
_GEOMETRY_ATTRIBUTES = (vtkDataSetAttributes.NORMALS, vtkDataSetAttributes.TCOORDS, vtkDataSetAttributes.TANGENTS)

"""What EchoRollout reads from its input, in the shapes ParaView hands them over.

* composite inputs (the OpenFOAM reader's multiblock, any vtkDataObjectTree): one block chosen
  by name/path, or every non-empty leaf merged into one point set (the result is written back
  per leaf);
* point data or cell data (cell data: the cell centres are the model's points, as in training on
  OpenFOAM cell values; the prediction goes back as cell data);
* 3-component vectors for a 2-component model field (ParaView's vectors always have 3): the z
  component is dropped, with a note when it is not zero;
* 2D data as a one-cell-thick 3D slab (the OpenFOAM 2D convention): point data on the slab's two
  z planes is read as 2D (z dropped), cell centres are planar anyway.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkCompositeDataSet, vtkDataObject, vtkDataSet

from echo_model.errors import EchoUserError

from . import convert

ASSOCIATIONS = ("auto", "points", "cells")


class InputError(EchoUserError):
    """The input does not fit the model; the message names the array/block and the fix."""


@dataclass
class Leaf:
    """One dataset of the input (the whole input when it is not composite)."""

    path: str  # "" for a plain dataset, "internalMesh", "boundary/inlet", ...
    data: vtkDataSet
    index: tuple = ()  # child indices from the root (composite inputs)


@dataclass
class FieldSpec:
    """How one model field is read: input array name, model and input component counts."""

    name: str
    model_ncomp: int
    input_ncomp: int


@dataclass
class ModelInput:
    """The model's view of the (possibly merged) input."""

    association: str  # "points" or "cells"
    points: np.ndarray  # (N, dim) float64
    specs: list[FieldSpec]
    sizes: list[int]  # points/cells per used leaf, in order (write-back splits by these)
    paths: list[str]
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------
# leaves
# ------------------------------------------------------------------------------------------
def is_composite(data: vtkDataObject | None) -> bool:
    return isinstance(data, vtkCompositeDataSet)


def leaves(data: vtkDataObject) -> list[Leaf]:
    """Every non-empty dataset leaf with its path of block names ("" for a plain dataset)."""
    if isinstance(data, vtkDataSet):
        return [Leaf("", data, ())]
    return [Leaf(path, ds, index) for path, index, ds in _walk(data, (), ()) if ds.GetNumberOfPoints() > 0
            or ds.GetNumberOfCells() > 0]


def _children(node) -> list[tuple[str, vtkDataObject | None]]:
    """(name, child) of a composite node: multiblock blocks, partitions, partitioned datasets."""
    from vtkmodules.vtkCommonDataModel import (
        vtkMultiBlockDataSet,
        vtkPartitionedDataSet,
        vtkPartitionedDataSetCollection,
    )

    def name(i: int, meta) -> str:
        key = vtkCompositeDataSet.NAME()
        return meta.Get(key) if meta is not None and meta.Has(key) else f"block{i}"

    if isinstance(node, vtkMultiBlockDataSet):
        return [(name(i, node.GetMetaData(i) if node.HasMetaData(i) else None), node.GetBlock(i))
                for i in range(node.GetNumberOfBlocks())]
    if isinstance(node, vtkPartitionedDataSetCollection):
        return [(name(i, node.GetMetaData(i) if node.HasMetaData(i) else None), node.GetPartitionedDataSet(i))
                for i in range(node.GetNumberOfPartitionedDataSets())]
    if isinstance(node, vtkPartitionedDataSet):
        return [(f"partition{i}", node.GetPartition(i)) for i in range(node.GetNumberOfPartitions())]
    return []


def _walk(node, names: tuple, index: tuple):
    for i, (name, child) in enumerate(_children(node)):
        if isinstance(child, vtkDataSet):
            yield "/".join(names + (name,)), index + (i,), child
        elif child is not None:
            yield from _walk(child, names + (name,), index + (i,))


def set_leaf(root: vtkDataObject, index: tuple, ds: vtkDataObject) -> None:
    """Put `ds` at an index path of a composite made with CopyStructure of the input."""
    from vtkmodules.vtkCommonDataModel import (
        vtkMultiBlockDataSet,
        vtkPartitionedDataSet,
        vtkPartitionedDataSetCollection,
    )

    node = root
    for i in index[:-1]:
        if isinstance(node, vtkMultiBlockDataSet):
            node = node.GetBlock(i)
        elif isinstance(node, vtkPartitionedDataSetCollection):
            node = node.GetPartitionedDataSet(i)
        else:
            raise TypeError(f"cannot descend into {node.GetClassName()}")
    i = index[-1]
    if isinstance(node, vtkMultiBlockDataSet):
        node.SetBlock(i, ds)
    elif isinstance(node, vtkPartitionedDataSet):
        node.SetPartition(i, ds)
    else:
        raise TypeError(f"cannot set a leaf of {node.GetClassName()}")


def select_leaves(data: vtkDataObject, block: str) -> list[Leaf]:
    """The leaves the model reads: all (block == "") or those whose path is/starts with `block`."""
    all_leaves = leaves(data)
    if not all_leaves:
        raise InputError(
            f"the input ({data.GetClassName() if data is not None else 'nothing'}) holds no dataset; "
            f"check the reader (does its file exist and hold data at this time?)"
        )
    if not block:
        return all_leaves
    want = block.strip("/")
    hit = [lf for lf in all_leaves if lf.path == want or lf.path.startswith(want + "/") or lf.path.split("/")[-1] == want]
    if not hit:
        raise InputError(
            f"Block {block!r} is not in the input; its blocks are {[lf.path for lf in all_leaves]}: "
            f"set Block to one of them (empty merges all)"
        )
    return hit


# ------------------------------------------------------------------------------------------
# arrays
# ------------------------------------------------------------------------------------------
def _attrs(ds: vtkDataSet, association: str):
    return ds.GetPointData() if association == "points" else ds.GetCellData()


def resolve_association(lvs: Sequence[Leaf], names: Sequence[str], wanted: str) -> str:
    """'points' or 'cells': as asked, or (auto) where every named array is found, cell data
    first: where a reader offers both (OpenFOAM's cell-to-point option) the cell values are the
    solver's own unknowns and the point values an interpolation of them."""
    if wanted in ("points", "cells"):
        return wanted
    for assoc in ("cells", "points"):
        if all(_attrs(lf.data, assoc).GetArray(n) is not None for lf in lvs for n in names):
            return assoc
    return "points"


def field_specs(lvs: Sequence[Leaf], names: Sequence[str], layout: Sequence[tuple[str, int]],
                association: str, dim: int) -> tuple[list[FieldSpec], list[str]]:
    """Check each named array against the model's field; 3-comp vectors for 2-comp fields allowed."""
    want = ", ".join(f"{n} ({c} comp.)" for n, c in layout)
    kind = "point" if association == "points" else "cell"
    specs, notes = [], []
    for name, (mname, ncomp) in zip(names, layout):
        for lf in lvs:
            arr = _attrs(lf.data, association).GetArray(name)
            where = f" in block {lf.path!r}" if lf.path else ""
            if arr is None:
                other = "cells" if association == "points" else "points"
                hint = (f"; it exists as {other[:-1]} data: set FieldAssociation to {other}"
                        if _attrs(lf.data, other).GetArray(name) is not None else "")
                raise InputError(
                    f"the input has no {kind} array {name!r}{where} (its {kind} arrays: "
                    f"{convert.array_names(_attrs(lf.data, association))}); the model needs {want}: "
                    f"rename the input's arrays or choose them with InputArrays{hint}"
                )
            got = arr.GetNumberOfComponents()
            if got != ncomp and not (got == 3 and ncomp == 2 and dim == 2):
                raise InputError(
                    f"{kind} array {name!r}{where} has {got} component(s) but model field {mname!r} has "
                    f"{ncomp}; choose a matching array with InputArrays"
                )
        specs.append(FieldSpec(name=name, model_ncomp=ncomp, input_ncomp=got))
    return specs, notes


def read_values(lvs: Sequence[Leaf], specs: Sequence[FieldSpec], association: str) -> tuple[np.ndarray, list[str]]:
    """(N, C) float32 in model channel order over all leaves; notes on dropped non-zero z."""
    blocks, notes = [], []
    for spec in specs:
        parts = [convert.get_array(_attrs(lf.data, association), spec.name, association).reshape(
            -1, spec.input_ncomp) for lf in lvs]
        v = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if spec.input_ncomp == 3 and spec.model_ncomp == 2:
            z = np.abs(v[:, 2]).max(initial=0.0)
            xy = np.abs(v[:, :2]).max(initial=0.0)
            if z > 1e-6 * max(xy, 1e-30):
                notes.append(f"{spec.name}: its z component is not zero (max |z| = {z:.3g}, max |x,y| = {xy:.3g}) "
                             f"and is dropped: the model is 2D")
            v = v[:, :2]
        blocks.append(v)
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32), notes


def content_key(values: np.ndarray) -> str:
    """A digest of the conditioning values: the rollout cache keys on what the model is given."""
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=16).hexdigest()


# ------------------------------------------------------------------------------------------
# points
# ------------------------------------------------------------------------------------------
def cell_centres(ds: vtkDataSet) -> np.ndarray:
    """(n_cells, 3) mean of each cell's vertices (equals the volume centroid for the prisms and
    parallelogram hexahedra of an extruded 2D mesh)."""
    cells = convert.get_cells(ds)
    xyz = convert.get_points(ds)
    if cells is None:
        return np.zeros((0, 3))
    sizes = np.diff(cells.offsets)
    if (sizes == 0).any():
        raise InputError("the input has cells without points; clean the mesh (Clean to Grid) first")
    sums = np.add.reduceat(xyz[cells.connectivity], cells.offsets[:-1], axis=0)
    return sums / sizes[:, None]


def model_points(lvs: Sequence[Leaf], association: str, dim: int) -> tuple[np.ndarray, list[str]]:
    """The model's points (N, dim) for the used leaves; 2D models accept planar data and slabs."""
    parts = [convert.get_points(lf.data) if association == "points" else cell_centres(lf.data) for lf in lvs]
    xyz = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if dim == 3:
        return xyz, []
    z = xyz[:, 2]
    scale = max(1.0, float(np.abs(xyz).max(initial=0.0)))
    if np.ptp(z) <= 1e-9 * scale:
        return np.ascontiguousarray(xyz[:, :2]), []
    levels = np.unique(np.round(z / (1e-9 * scale)))
    xy_extent = float(min(np.ptp(xyz[:, 0]), np.ptp(xyz[:, 1])))
    if levels.size == 2 and np.ptp(z) < 0.25 * xy_extent:
        return (np.ascontiguousarray(xyz[:, :2]),
                [f"one-cell-thick slab (z from {z.min():.4g} to {z.max():.4g}) read as 2D: z dropped"])
    raise InputError(
        f"the model is 2D but the input's {'points' if association == 'points' else 'cell centres'} are "
        f"3D (z from {z.min():.4g} to {z.max():.4g}); use a 3D model, or a Slice of the data"
    )


def build(data: vtkDataObject, block: str, names: Sequence[str], layout: Sequence[tuple[str, int]],
          association: str, dim: int) -> tuple[ModelInput, list[Leaf]]:
    """Everything the rollout needs from the input's geometry (values are read per frame)."""
    lvs = select_leaves(data, block)
    assoc = resolve_association(lvs, names, association)
    counts = [lf.data.GetNumberOfPoints() if assoc == "points" else lf.data.GetNumberOfCells() for lf in lvs]
    if sum(counts) == 0:
        raise InputError(
            f"the input has no {'points' if assoc == 'points' else 'cells'} (empty dataset); if it comes from "
            f"a reader, a file of the series may be missing or unreadable (see the reader's message above)"
        )
    specs, notes = field_specs(lvs, names, layout, assoc, dim)
    points, pnotes = model_points(lvs, assoc, dim)
    return ModelInput(assoc, points, specs, counts, [lf.path for lf in lvs], notes + pnotes), lvs


def accept_datasets_and_composites(info) -> int:
    """FillInputPortInformation of a filter that takes a dataset or a multiblock (the OpenFOAM
    reader's): EchoRollout and EchoTrain merge or pick its leaves themselves."""
    from vtkmodules.vtkCommonExecutionModel import vtkAlgorithm

    info.Remove(vtkAlgorithm.INPUT_REQUIRED_DATA_TYPE())
    info.Append(vtkAlgorithm.INPUT_REQUIRED_DATA_TYPE(), "vtkDataSet")
    info.Append(vtkAlgorithm.INPUT_REQUIRED_DATA_TYPE(), "vtkCompositeDataSet")
    return 1

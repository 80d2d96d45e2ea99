"""pvbatch half of `echopv demo cylinder`: ParaView's OpenFOAM reader into EchoRollout, pictures.

Run through the launcher (`echopv pvbatch scripts/pv_demo_cylinder.py ARGS.json`). Lives in
scripts/ because it imports `paraview.simple` (echo_paraview never does). The filter reads the
reader's multiblock directly (cell data, 3-component U) and compares its prediction with the
solver's own later time steps: `<field>_truth`, `<field>_error`, `<field>_rel_mse` field data.
Writes panel PNGs (solver | ECHO | error at three times) and metrics.json into the out folder.
"""
import json
import sys
import time

import numpy as np
from paraview import servermanager as sm
from paraview import simple
from paraview.simple import (
    ColorBy, CreateView, GetColorTransferFunction, OpenFOAMReader, SaveScreenshot, Show, Text,
)
from vtkmodules.util.numpy_support import vtk_to_numpy

args = json.loads(open(sys.argv[1]).read())
field = args["field"]
reader = OpenFOAMReader(FileName=args["foam"])
reader.MeshRegions = ["internalMesh"]
reader.UpdatePipelineInformation()
props = dict(Checkpoint=args["model"], NumberOfFrames=args["frames"], NumberOfSamples=args["samples"],
             Seed=args["seed"], Device="cpu", Parameters=args["parameters"])
if args["start"] is not None:
    props.update(StartTime="value", StartTimeValue=args["start"])
roll = simple.EchoRollout(Input=reader, **props)  # registered by the auto-loaded plugin
roll.UpdatePipelineInformation()
times = list(roll.TimestepValues)  # the reader's steps and the forecast's, each once
predicted = roll.GetClientSideObject().GetPredictedTimes()  # builtin session: the algorithm itself
t_start = max(t for t in times if t < predicted[0])
print(f"EchoRollout: start {t_start:.4f}, {len(predicted)} predicted frames {predicted[0]:.4f} .. "
      f"{predicted[-1]:.4f}", flush=True)


def block(proxy, t):
    proxy.UpdatePipeline(t)
    return sm.Fetch(proxy).GetBlock(0)


def cells(ds, name):
    arr = ds.GetCellData().GetArray(name)
    return None if arr is None else vtk_to_numpy(arr).astype(float)


def fd(ds, name):
    arr = ds.GetFieldData().GetArray(name)
    return None if arr is None else float(arr.GetTuple1(0))


start = cells(block(roll, t_start), field)  # the input itself at the start
t0 = time.perf_counter()
first = block(roll, predicted[0])  # runs (and caches) the whole rollout
rollout_s = time.perf_counter() - t0
rel, interp, persistence, scrub = [], [], [], []
for t in predicted:
    t1 = time.perf_counter()
    ds = block(roll, t)
    scrub.append(time.perf_counter() - t1)
    rel.append(fd(ds, f"{field}_rel_mse"))
    interp.append(bool(fd(ds, "truth_interpolated")))
    truth = cells(ds, f"{field}_truth")
    persistence.append(None if truth is None else float(((start - truth) ** 2).sum() / (truth ** 2).sum()))
used = roll.GetClientSideObject().GetUsedParameters()
print("PARAMETERS " + json.dumps(used), flush=True)

snap_idx = sorted({0, len(predicted) // 2, len(predicted) - 1})
vmax = max(float(np.abs(cells(block(roll, predicted[k]), f"{field}_truth")).max()) for k in snap_idx)
emax = max(float(np.abs(cells(block(roll, predicted[k]), f"{field}_error")).max()) for k in snap_idx)
lut = GetColorTransferFunction(field)
lut.ApplyPreset("Cool to Warm", True)
lut.AutomaticRescaleRangeMode = "Never"
lut.RescaleTransferFunction(-vmax, vmax)
elut = GetColorTransferFunction(f"{field}_error")
elut.ApplyPreset("Blue Orange (divergent)", True)
elut.AutomaticRescaleRangeMode = "Never"
elut.RescaleTransferFunction(-emax, emax)


def panel(source, array, title, t, png, table):
    view = CreateView("RenderView")
    view.ViewSize = [900, 230]
    view.OrientationAxesVisibility = 0
    view.ViewTime = t
    disp = Show(source, view)
    disp.SetRepresentationType("Surface")
    ColorBy(disp, ("CELLS", array))
    disp.LookupTable = table
    table.RescaleTransferFunction(*(((-vmax, vmax)) if table is lut else (-emax, emax)))
    disp.SetScalarBarVisibility(view, True)
    bar = simple.GetScalarBar(table, view)
    bar.WindowLocation = "Any Location"
    bar.Orientation = "Horizontal"
    bar.Position = [0.33, 0.01]
    bar.ScalarBarLength = 0.34
    bar.Title = array
    bar.ComponentTitle = ""
    label = Text(Text=title)
    tdisp = Show(label, view)
    tdisp.FontSize = 13
    tdisp.WindowLocation = "Upper Left Corner"
    # the whole 2.2 x 0.41 channel, the title above it and the colour bar below it
    view.CameraPosition = [1.1, 0.16, 4.0]
    view.CameraFocalPoint = [1.1, 0.16, 0.0]
    view.CameraViewUp = [0, 1, 0]
    view.CameraParallelProjection = 1
    view.CameraParallelScale = 0.34
    SaveScreenshot(png, view, ImageResolution=[900, 230])


out = args["outdir"]
for k in snap_idx:
    t = predicted[k]
    stem = f"{out}/panel_{k:02d}"
    panel(reader, field, f"solver (OpenFOAM)  t={t:.3f} s", t, stem + "_a.png", lut)
    panel(roll, f"{field}_pred", f"ECHO  t={t:.3f} s ({k + 1} x dt after {t_start:.3f})", t, stem + "_b.png", lut)
    panel(roll, f"{field}_error", f"ECHO - solver  t={t:.3f} s", t, stem + "_c.png", elut)
metrics = {"start": t_start, "times": predicted, "rel_mse": rel, "interpolated": interp,
           "persistence": persistence, "rollout_seconds": rollout_s, "scrub_seconds": scrub,
           "n_cells": first.GetNumberOfCells(), "parameters": used, "snapshots": snap_idx}
open(f"{out}/metrics.json", "w").write(json.dumps(metrics, indent=1))
print("RENDERED", flush=True)

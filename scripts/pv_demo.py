"""pvbatch half of `echopv demo`: the EchoRollout filter in the real ParaView, then pictures.

Run through the launcher (`echopv pvbatch scripts/pv_demo.py ARGS.json`), which auto-loads the
plugin. Lives in scripts/ because it imports `paraview.simple` (echo_paraview never does).

Reads the solver's trajectory (.pvd), applies EchoRollout to it (the filter takes the first frame
as the initial condition), saves the predicted time series with "write all time steps", and
renders solver / ECHO mean / ECHO spread at a few times on one colour scale.
"""
import json
import sys

from paraview import simple
from paraview.simple import (
    ColorBy, CreateView, GetColorTransferFunction, PVDReader, SaveData, SaveScreenshot, Show, Text,
    UpdatePipeline,
)

args = json.loads(open(sys.argv[1]).read())
truth = PVDReader(FileName=args["truth"])
truth.UpdatePipelineInformation()
field = args["field"]

roll = simple.EchoRollout(  # registered in paraview.simple by the auto-loaded plugin
    Input=truth,
    Checkpoint=args["model"],
    NumberOfFrames=args["frames"],
    NumberOfSamples=args["samples"],
    Seed=args["seed"],
    Device="cpu",
)
roll.UpdatePipelineInformation()
times = list(roll.TimestepValues)
print(f"EchoRollout announced {len(times)} time steps: {times[0]:.3f} .. {times[-1]:.3f}", flush=True)
UpdatePipeline(time=times[0], proxy=roll)  # runs (and caches) the whole rollout once
used = roll.GetClientSideObject().GetUsedParameters()  # builtin session: the algorithm itself
print("PARAMETERS " + json.dumps(used), flush=True)
SaveData(args["prediction"], proxy=roll, WriteTimeSteps=1)
print(f"saved {args['prediction']}", flush=True)

lut = GetColorTransferFunction(field)
lut.ApplyPreset("Cool to Warm", True)
lut.AutomaticRescaleRangeMode = "Never"  # one colour scale for solver and ECHO at every time
lut.RescaleTransferFunction(-args["vmax"], args["vmax"])


def panel(source, array, title, time, png, own_scale=False):
    view = CreateView("RenderView")
    view.ViewSize = [420, 420]
    view.OrientationAxesVisibility = 0
    view.ViewTime = time
    disp = Show(source, view)
    disp.SetRepresentationType("Surface")
    ColorBy(disp, ("POINTS", array))
    if not own_scale:
        disp.LookupTable = lut
        # Show/ColorBy may have fitted the range to this time's data: put the shared scale back
        lut.RescaleTransferFunction(-args["vmax"], args["vmax"])
    else:  # the spread has its own scale, fitted to the data at this time
        own = GetColorTransferFunction(array)
        own.ApplyPreset("Viridis (matplotlib)", True)
        lo, hi = source.PointData[array].GetRange()
        own.RescaleTransferFunction(0.0, hi if hi > 1e-9 else 1e-3)  # step 0 is given: spread 0
    disp.SetScalarBarVisibility(view, True)
    label = Text(Text=title)
    tdisp = Show(label, view)
    tdisp.FontSize = 14
    tdisp.WindowLocation = "Upper Center"
    view.ResetCamera()
    SaveScreenshot(png, view, ImageResolution=[420, 420])


def titles(k, time):
    """Row 0 is the given frame (the model's input, spread 0), not a prediction: say so; the
    predicted rows say how far ahead they are (lead time k dt)."""
    if k == 0:
        return (f"given: solver  t={time:.2f}", f"given: ECHO input  t={time:.2f}",
                f"given: no spread  t={time:.2f}")
    lead = time - args["snapshot_times"][0]
    return (f"solver  t={time:.2f}", f"ECHO mean  t={time:.2f}  lead {lead:.2f} ({k} dt)",
            f"ECHO std  t={time:.2f}  lead {lead:.2f} ({k} dt)")


for k, time in zip(args["snapshot_index"], args["snapshot_times"]):
    stem = f"{args['outdir']}/panel_t{k:02d}"
    solver_title, echo_title, std_title = titles(k, time)
    print("PANELS", json.dumps([solver_title, echo_title] + ([std_title] if args["samples"] > 1 else [])),
          flush=True)
    panel(truth, field, solver_title, time, stem + "_solver.png")
    panel(roll, field + "_pred", echo_title, time, stem + "_echo.png")
    if args["samples"] > 1:
        panel(roll, field + "_std", std_title, time, stem + "_std.png", own_scale=True)
print("RENDERED", flush=True)

"""pvbatch half of `echopv demo ns3d`: EchoRollout on the solver's image-data series, then pictures.

Run through the launcher, which loads the plugin: `echopv pvbatch -- <this file> ARGS.json`
(`echo_paraview.demo_ns3d` writes ARGS.json and runs it). ParaView is imported inside `main`, never
when the package is imported. At the shown frame it renders, with ParaView's own filters:

- volume: the velocity magnitude, volume-rendered (solver | ECHO | |error|);
- slices: the same three on the plane z = 0.5;
- Q-criterion: Gradient (Q-criterion) of the solver's and of ECHO's velocity, contoured at one
  level (a fraction of the solver's largest Q) and coloured by the velocity magnitude.

One panel PNG per picture (`panel_<row>_<col>.png`) and the predicted series (prediction.pvd, `.vti`
frames) go to the out folder; "RENDERED" on stdout says it finished.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

SIZE = 420  # pixels per square panel
CENTRE = [0.484375, 0.484375, 0.484375]  # middle of the 32^3 node box [0, 31/32]^3 (nearly any n)


def bars(text: str) -> str:
    """|text| as ParaView draws it: a bare "|" separates MathText table columns and vanishes."""
    return rf"$\vert${text}$\vert$"


def main(args_file: str) -> None:
    from paraview import simple

    args = json.loads(Path(args_file).read_text())
    reader = simple.PVDReader(FileName=args["truth"])
    reader.UpdatePipelineInformation()
    roll = _rollout(simple, reader, args)
    t_show = list(roll.GetClientSideObject().GetPredictedTimes())[-1]
    field = args["field"]
    scales = _scales(simple, reader, roll, field, t_show, args["q_fraction"])
    scales["resolution"] = args["resolution"]
    print("SCALES " + json.dumps(scales), flush=True)
    sources = {"solver": (reader, field), "echo": (roll, field + "_pred"), "error": (roll, field + "_error")}
    titles = _titles(args, t_show, scales)
    out = Path(args["outdir"])
    for col, kind in enumerate(("solver", "echo", "error")):
        src, array = sources[kind]
        _render(simple, _volume_scene(simple, src, array, kind, scales), titles[kind], t_show,
                out / f"panel_0_{col}.png")
        _render(simple, _slice_scene(simple, src, array, kind, scales), titles[kind] + titles["slice"], t_show,
                out / f"panel_1_{col}.png", camera="top")
    for col, kind in enumerate(("solver", "echo")):
        src, array = sources[kind]
        _render(simple, _q_scene(simple, src, array, scales), titles["q_" + kind], t_show, out / f"panel_2_{col}.png")
    print("RENDERED", flush=True)


def _titles(args: dict, t: float, scales: dict) -> dict:
    """Each panel's label: what it shows and the time (ECHO's also how far ahead it predicted)."""
    lead = round((t - args["t_start"]) / args["dt"])
    n = args["resolution"]
    q = f"Q-criterion = {scales['q_level']:.3g}  t = {t:.2f}"
    return {"solver": f"solver  t = {t:.2f}",
            "echo": f"ECHO  t = {t:.2f}  ({lead} x dt after t = {args['t_start']:.2f})",
            "error": f"{bars('error')} = {bars('ECHO - solver')}  t = {t:.2f}",
            "slice": f"  (slice z = {(n // 2) / n:g})", "q_solver": "solver  " + q, "q_echo": "ECHO  " + q}


def _rollout(simple, reader, args: dict):
    """EchoRollout on the solver's series (its first frame is the initial condition), run once and
    saved with every time step."""
    roll = simple.EchoRollout(  # registered in paraview.simple by the auto-loaded plugin
        Input=reader, Checkpoint=args["model"], NumberOfFrames=args["frames"], NumberOfSamples=args["samples"],
        Seed=args["seed"], Device="cpu", NumberOfThreads=args["threads"],
    )
    roll.UpdatePipelineInformation()
    predicted = list(roll.GetClientSideObject().GetPredictedTimes())
    if not predicted:
        raise RuntimeError(f"EchoRollout predicted nothing: {roll.GetClientSideObject().last_error}")
    print(f"EchoRollout: {len(predicted)} predicted frames {predicted[0]:.3f} .. {predicted[-1]:.3f}", flush=True)
    roll.UpdatePipeline(predicted[0])  # runs (and caches) the whole rollout
    error = roll.GetClientSideObject().last_error
    if error:
        raise RuntimeError(f"EchoRollout failed: {error}")
    print("PARAMETERS " + json.dumps(roll.GetClientSideObject().GetUsedParameters()), flush=True)
    simple.SaveData(args["prediction"], proxy=roll, WriteTimeSteps=1)
    print(f"saved {args['prediction']}", flush=True)
    return roll


def _scales(simple, reader, roll, field: str, t: float, q_fraction: float) -> dict:
    """Colour ranges at the shown time: |velocity| from the solver (ECHO shares it), |error| its own;
    the Q level a fraction of the solver's largest Q."""
    reader.UpdatePipeline(t)
    roll.UpdatePipeline(t)
    vmax = float(reader.PointData[field].GetRange(-1)[1])
    emax = float(roll.PointData[field + "_error"].GetRange(-1)[1])
    grad = _q_filter(simple, reader, field)
    grad.UpdatePipeline(t)
    q_max = float(grad.PointData["Q"].GetRange()[1])
    return {"vmax": vmax if vmax > 0 else 1.0, "emax": emax if emax > 0 else 1e-6,
            "q_max": q_max, "q_level": q_fraction * q_max if q_max > 0 else 1e-6}


def _lut(simple, array: str, kind: str, scales: dict):
    """The colour map of one array: |velocity| (solver and ECHO, one range) or |error| (its own)."""
    lut = simple.GetColorTransferFunction(array)
    lut.VectorMode = "Magnitude"
    lut.ApplyPreset("Inferno (matplotlib)" if kind == "error" else "Viridis (matplotlib)", True)
    lut.AutomaticRescaleRangeMode = "Never"
    hi = scales["emax"] if kind == "error" else scales["vmax"]
    lut.RescaleTransferFunction(0.0, hi)
    pwf = simple.GetOpacityTransferFunction(array)
    pwf.Points = [0.0, 0.0, 0.5, 0.0, 0.35 * hi, 0.0, 0.5, 0.0, hi, 0.6, 0.5, 0.0]  # faint parts transparent
    return lut, pwf


def _volume_scene(simple, src, array: str, kind: str, scales: dict):
    def show(view):
        disp = simple.Show(src, view)
        disp.SetRepresentationType("Volume")
        simple.ColorBy(disp, ("POINTS", array, "Magnitude"))
        lut, pwf = _lut(simple, array, kind, scales)
        disp.LookupTable, disp.ScalarOpacityFunction = lut, pwf
        _outline(simple, src, view)
        return lut, bars("error" if kind == "error" else "velocity")
    return show


def _slice_scene(simple, src, array: str, kind: str, scales: dict):
    """The grid's node plane k = n/2 (z = 0.5), exact. Not the Slice filter: on image data whose active
    scalars are a vector (EchoRollout's `<field>_pred`) ParaView 5.11's Slice returns that vector as
    one component and NaN in the other arrays."""
    def show(view):
        n = scales["resolution"]
        cut = simple.ExtractSubset(Input=src, VOI=[0, n - 1, 0, n - 1, n // 2, n // 2])
        disp = simple.Show(cut, view)
        disp.SetRepresentationType("Surface")
        simple.ColorBy(disp, ("POINTS", array, "Magnitude"))
        lut, _ = _lut(simple, array, kind, scales)
        disp.LookupTable = lut
        return lut, bars("error" if kind == "error" else "velocity")
    return show


def _q_filter(simple, src, array: str):
    """ParaView's Gradient filter with the Q-criterion of `array` (point data "Q")."""
    return simple.Gradient(Input=src, ScalarArray=["POINTS", array], ComputeGradient=0,
                           ComputeQCriterion=1, QCriterionArrayName="Q")


def _q_scene(simple, src, array: str, scales: dict):
    def show(view):
        iso = simple.Contour(Input=_q_filter(simple, src, array), ContourBy=["POINTS", "Q"],
                             Isosurfaces=[scales["q_level"]], ComputeScalars=1)
        disp = simple.Show(iso, view)
        simple.ColorBy(disp, ("POINTS", array, "Magnitude"))
        lut, _ = _lut(simple, array, "speed", scales)
        disp.LookupTable = lut
        _outline(simple, src, view)
        return lut, bars("velocity")
    return show


def _outline(simple, src, view) -> None:
    line = simple.Show(simple.Outline(Input=src), view)
    line.AmbientColor = line.DiffuseColor = [0.3, 0.3, 0.3]


def _render(simple, scene, title: str, t: float, png: Path, camera: str = "oblique") -> None:
    """One panel: the scene at time t with its title, colour bar and camera, saved to png."""
    view = simple.CreateView("RenderView")
    view.ViewSize = [SIZE, SIZE]
    view.ViewTime = t
    view.OrientationAxesVisibility = 0
    view.Background = [1.0, 1.0, 1.0]
    view.UseColorPaletteForBackground = 0
    lut, bar_title = scene(view)
    bar = simple.GetScalarBar(lut, view)
    bar.Title, bar.ComponentTitle = bar_title, ""
    bar.TitleColor = bar.LabelColor = [0.1, 0.1, 0.1]
    bar.WindowLocation = "Any Location"
    bar.Orientation = "Horizontal"
    bar.Position = [0.2, 0.02]
    bar.ScalarBarLength = 0.6
    bar.RangeLabelFormat = "%.2g"
    bar.Visibility = 1
    label = simple.Show(simple.Text(Text=title), view)
    label.FontSize, label.Color = 13, [0.1, 0.1, 0.1]
    label.WindowLocation = "Upper Center"
    _camera(view, camera)
    simple.SaveScreenshot(str(png), view, ImageResolution=[SIZE, SIZE])
    simple.Delete(view)


def _camera(view, kind: str) -> None:
    """The scene a little above the middle: the title sits above it, the colour bar below."""
    if kind == "top":  # the slice seen from above, x to the right, y up
        view.CameraFocalPoint = [CENTRE[0], CENTRE[1] - 0.09, 0.5]
        view.CameraPosition = [CENTRE[0], CENTRE[1] - 0.09, 3.0]
        view.CameraViewUp = [0.0, 1.0, 0.0]
        view.CameraParallelProjection = 1
        view.CameraParallelScale = 0.72
        return
    focal = [CENTRE[0], CENTRE[1], CENTRE[2] - 0.15]
    view.CameraFocalPoint = focal
    view.CameraPosition = [focal[0] + 2.35, focal[1] - 2.9, focal[2] + 1.9]
    view.CameraViewUp = [0.0, 0.0, 1.0]
    view.CameraParallelProjection = 0
    view.CameraViewAngle = 30.0


if __name__ == "__main__":
    main(sys.argv[1])

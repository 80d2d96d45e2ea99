"""The GUI session of issue 22 on ParaView's own OpenFOAM reader, with the Python shell never
opened: the pipeline comes from a state file (`--state`, made in pvpython) and a Qt test script
(`--test-script`: button presses and menu actions, not Python) drives the panel.

* EchoTrain on the reader's multiblock: Start (exports the reader's time series and spawns the
  training), Stop, Refresh; each press answers in Output Messages, which opens, and the panel's
  Status says the run was interrupted (not "done", not the text it had when the filter was made).
* Plot Data Over Time on EchoRollout's output, on points and on cells: ParaView runs it over every
  output step (it crashed with SIGSEGV when the arrays differed from step to step).

The GUI saves its state from the File menu at the end; the tests read it back."""
from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree

import pytest
from test_gui_time_keeper import paraview_gui

pytestmark = [pytest.mark.gui, pytest.mark.paraview, pytest.mark.openfoam]

PANEL = ("pqClientMainWindow/propertiesDock/propertiesPanel/scrollArea/qt_scrollarea_viewport/"
         "scrollAreaWidgetContents/PropertiesFrame/ProxyPanel")
SAVE_STATE = """  <pqevent object="pqClientMainWindow/menubar/menu_File" command="activate" arguments="actionFileSaveServerState" />
  <pqevent object="pqClientMainWindow/FileSaveServerStateDialog" command="filesSelected" arguments="{out}" />
"""


def select(path: str) -> str:
    """Click a pipeline browser item by its index path (/0:0 the server, /0:0/0:0 its first source, ...)."""
    browser = "pqClientMainWindow/pipelineBrowserDock/pipelineBrowser"
    return (f'  <pqevent object="{browser}" command="mousePress" arguments="1,1,0,60,8,{path}" />\n'
            f'  <pqevent object="{browser}" command="mouseRelease" arguments="1,0,0,60,8,{path}" />\n')


def button(name: str) -> str:
    return f'  <pqevent object="{PANEL}/{name}/1QPushButton0" command="activate" arguments="" />\n'


def events(*parts: str) -> str:
    return '<?xml version="1.0" ?>\n<pqevents>\n' + "".join(parts) + "</pqevents>\n"


def property_values(pvsm: Path, proxy_type: str, name: str) -> list[str]:
    root = ElementTree.parse(pvsm).getroot()
    return [e.get("value") for p in root.iter("Proxy") if p.get("type") == proxy_type
            for prop in p.findall(f"Property[@name='{name}']") for e in prop.findall("Element")]


def gui_env(display: str) -> dict:
    return {"DISPLAY": display, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}


MAKE_TRAIN_STATE = r'''
from paraview.simple import *
reader = OpenFOAMReader(FileName={foam!r})
reader.MeshRegions = ["internalMesh"]
train = EchoTrain(Input=reader, RunDirectory={run!r}, AutoencoderSteps=100000, RefineSteps=0, DiTSteps=100000,
                  Threads=1)
Show(train)
SetActiveSource(train)
SaveState({pvsm!r})
print("STATE SAVED", flush=True)
'''


def test_echotrain_on_the_openfoam_reader_start_stop_refresh_in_the_gui(run_pv, xvfb_display, foam_case, tmp_path):
    run, pvsm, after = tmp_path / "run", tmp_path / "train.pvsm", tmp_path / "after.pvsm"
    made = run_pv("pvpython", MAKE_TRAIN_STATE.format(foam=str(foam_case / "case.foam"), run=str(run),
                                                      pvsm=str(pvsm)), timeout=300)
    assert "STATE SAVED" in made.output, made.output[-4000:]
    xml = tmp_path / "train.xml"
    # the last event is a probe: a check that cannot hold, whose failure prints what the panel's Status
    # shows (QtTesting checks only for equality; the text names a pid and a stage)
    xml.write_text(events(select("/0:0/0:0/0:0"), button("Start"), button("Stop"), button("Refresh"),
                          '  <pqcheck object="pqClientMainWindow/outputWidgetDock" property="visible" '
                          'arguments="true" />\n', SAVE_STATE.format(out=after),
                          f'  <pqcheck object="{PANEL}/Status/Status" property="text" arguments="(probe)" />\n'))
    gui = paraview_gui(f"--state={pvsm}", f"--test-script={xml}", "--dr", "--exit", env_extra=gui_env(xvfb_display))
    out = gui.output
    # every event up to the probe played: Output Messages is open (the check before the state was saved)
    assert after.is_file(), out[-4000:]
    assert "Expecting: (probe)" in out and out.count("property value is:") == 1, out[-4000:]
    # Start exported the reader's multiblock (internalMesh, every step) and spawned the training
    assert "Warning: In EchoTrain: started (pid" in out, out[-4000:]
    from echo_model.data.store import TrajectoryStore

    with TrajectoryStore(run / "dataset.h5") as store:
        assert len(store) == 1 and store.times(0).shape[0] == 20  # t = 0.05 .. 1.0
        assert {name for name, _ in store.info.field_layout} >= {"U", "p"}
    assert (run / "train.log").is_file()
    # Stop and Refresh each answer in Output Messages; the run reads as interrupted, never "done" ...
    assert "Warning: In EchoTrain: Stop: interrupted" in out, out[-4000:]
    assert "Warning: In EchoTrain: Refresh: interrupted" in out, out[-4000:]
    # ... and so does the panel's Status (it kept the creation-time text before)
    status = next(ln for ln in out.splitlines() if "Status property value is:" in ln)
    assert status.split("Status property value is: ", 1)[1].startswith("interrupted"), status
    assert not (run / "model.safetensors").exists()
    for marker in ("Traceback", "ERROR"):
        assert marker not in out, out[-4000:]


MAKE_PLOT_STATE = r'''
from paraview.simple import *
reader = OpenFOAMReader(FileName={foam!r})
reader.MeshRegions = ["internalMesh"]
roll = EchoRollout(Input=reader, Checkpoint={model!r}, NumberOfFrames=4, StartTime="value", StartTimeValue=0.5,
                   Parameters="Um=0.94, Re=62.8")
layout = CreateLayout("plots")
for assoc in ("Points", "Cells"):
    plot = PlotDataOverTime(Input=roll)
    plot.FieldAssociation = assoc
    chart = CreateView("XYChartView")
    AssignViewToLayout(view=chart, layout=layout, hint=0)
    Show(plot, chart)
SaveState({pvsm!r})
print("STATE SAVED", flush=True)
'''


def test_plot_data_over_time_on_echorollout_in_the_gui(run_pv, xvfb_display, foam_case, cylinder_model, tmp_path):
    pvsm, after = tmp_path / "plot.pvsm", tmp_path / "after.pvsm"
    made = run_pv("pvpython", MAKE_PLOT_STATE.format(foam=str(foam_case / "case.foam"), model=str(cylinder_model),
                                                     pvsm=str(pvsm)), timeout=300)
    assert "STATE SAVED" in made.output, made.output[-4000:]
    xml = tmp_path / "plot.xml"
    xml.write_text(events(SAVE_STATE.format(out=after)))
    gui = paraview_gui(f"--state={pvsm}", f"--test-script={xml}", "--dr", "--exit", env_extra=gui_env(xvfb_display))
    out = gui.output
    assert gui.returncode == 0 and after.is_file(), (gui.returncode, out[-4000:])  # no SIGSEGV
    assert "EchoRollout: 4 frame(s)" in out, out[-4000:]  # the rollout ran in the GUI for the plots
    assert len(property_values(after, "PlotDataOverTime", "FieldAssociation")) == 2
    for marker in ("Traceback", "ERROR", "Segmentation"):
        assert marker not in out, out[-4000:]

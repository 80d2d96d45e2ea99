"""EchoRollout's Inverse, Sample and Reconstruct tasks in the real GUI under Xvfb, the Python shell
never opened (the harness of test_gui_rollout_task.py: a state made in pvpython, a Qt test script).

* Inverse and Sample: the state holds EchoDatasetReader (trajectory 20, dt = 0.5) -> Extract Time
  Steps (5.0, 7.0, 9.0) -> EchoRollout forecasting 3 frames. The script picks the task in the Task
  combo box, presses Apply, writes the output with File > Save Data (.pvd, every time step) and saves
  the state: the time keeper holds the task's steps (Inverse: 3 before the start 5.0; Sample: 3 from
  it) and the written `vorticity_pred` is finite there (Inverse: the input from the start on; Sample:
  NaN at the input's 7.0 and 9.0).
* Reconstruct: the state holds the reader -> its first 3 steps -> Mask Points (every 10th point, the
  probes) -> EchoRollout. The script connects the optional second input Target to the reader with
  Edit > Change Input (the Target radio button, then the reader in the dialog's pipeline), picks
  Reconstruct, presses Apply and saves as above: the output lies on the reader's 4096 points with a
  finite `vorticity_pred` at the probes' 3 steps, within 5 % of the solver's field.

The state puts the view in a layout, so the GUI renders EchoRollout (and runs its inputs) at once:
EchoRollout's Input carries an array domain, so Change Input lets one pick only a source whose data
the GUI has; with the inputs never run, their rows cannot be selected and OK leaves the Input empty."""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from test_gui_openfoam_tools import PANEL, SAVE_STATE, events, gui_env, property_values, select
from test_gui_rollout_task import APPLY, DATA, MODEL, keeper_steps
from test_gui_time_keeper import paraview_gui

pytestmark = [pytest.mark.gui, pytest.mark.paraview, pytest.mark.slow]

MAKE_STATE = r'''
from paraview.simple import *
reader = EchoDatasetReader(FileName={data!r})
reader.Trajectory = 20
thin = ExtractTimeSteps(Input=reader, TimeStepIndices={indices!r})
src = thin
if {probes!r}:
    src = MaskPoints(Input=thin, OnRatio=10, MaximumNumberofPoints=100000, RandomSampling=0, GenerateVertices=1,
                     SingleVertexPerCell=1)
roll = EchoRollout(Input=src, Checkpoint={model!r}, NumberOfFrames=3, SamplingSteps=2, NumberOfThreads=1,
                   Device="cpu")
view = GetActiveViewOrCreate("RenderView")
AssignViewToLayout(view=view, layout=CreateLayout("main"), hint=0)  # the GUI renders it (and so runs the inputs)
Show(roll, view)
GetTimeKeeper().SuppressedTimeSources = [reader, thin, src]
SaveState({pvsm!r})
print("STATE SAVED", list(roll.TimestepValues), flush=True)
'''

WRITER = "pqClientMainWindow/WriterSettingsDialog"
CHANGE = "pqClientMainWindow/ChangeInputDialog"

# File > Save Data: the writer follows the extension; "Write Time Steps" writes every output step
SAVE_DATA = (
    '  <pqevent object="pqClientMainWindow/menubar/menu_File" command="activate" arguments="actionFileSaveData" />\n'
    '  <pqevent object="pqClientMainWindow/FileSaveDialog" command="filesSelected" arguments="{out}" />\n'
    f'  <pqevent object="{WRITER}/scrollArea/qt_scrollarea_viewport/Container/ProxyWidget/WriteTimeSteps/CheckBox" '
    'command="set_boolean" arguments="true" />\n'
    f'  <pqevent object="{WRITER}/widget/OKButton" command="activate" arguments="" />\n')

# Edit > Change Input: the Target radio button, the reader (the first source) in the dialog's pipeline
CHANGE_TARGET = (
    '  <pqevent object="pqClientMainWindow/menubar/menu_Edit" command="activate" arguments="actionChangeInput" />\n'
    f'  <pqevent object="{CHANGE}/buttonFrame/Target" command="set_boolean" arguments="true" />\n'
    f'  <pqevent object="{CHANGE}/pipelineView" command="mousePress" arguments="1,1,0,60,8,/0:0/0:0" />\n'
    f'  <pqevent object="{CHANGE}/pipelineView" command="mouseRelease" arguments="1,0,0,60,8,/0:0/0:0" />\n'
    f'  <pqevent object="{CHANGE}/buttonBox/1QPushButton0" command="activate" arguments="" />\n')


def inputs(pvsm: Path, name: str) -> list[str]:
    """The sources connected to EchoRollout's input property `name` in a saved state, by their names."""
    root = ElementTree.parse(pvsm).getroot()
    labels = {i.get("id"): i.get("name") for i in root.iter("Item")}
    return [labels.get(e.get("value")) for p in root.iter("Proxy") if p.get("type") == "EchoRollout"
            for prop in p.findall(f"Property[@name='{name}']") for e in prop.findall("Proxy")]


def task(name: str) -> str:
    return f'  <pqevent object="{PANEL}/Task/ComboBox" command="set_string" arguments="{name}" />\n'


def written(pvd: Path) -> dict[float, tuple[int, dict[str, np.ndarray]]]:
    """time -> (number of points, point arrays) of each step of a .pvd that Save Data wrote."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    from echo_paraview.io.pvd import parse_pvd, read_frame

    out = {}
    for entry in parse_pvd(pvd):
        ds = read_frame(entry.path)
        pd = ds.GetPointData()
        out[entry.time] = (ds.GetNumberOfPoints(), {pd.GetArrayName(i): vtk_to_numpy(pd.GetArray(i)).astype(float)
                                                    for i in range(pd.GetNumberOfArrays())})
    return out


def finite_field(step: tuple[int, dict], name: str = "vorticity_pred") -> bool:
    n, arrays = step
    a = arrays.get(name)
    return n == 4096 and a is not None and bool(np.isfinite(a).all()) and a.std() > 0


def run_gui(run_pv, display: str, tmp_path: Path, *parts: str, indices=(0, 4, 8), probes=False):
    """Make the state, play the events (then Save Data and Save State) -> (GUI run, after.pvsm, data.pvd)."""
    pvsm, after, pvd, xml = (tmp_path / n for n in ("before.pvsm", "after.pvsm", "data.pvd", "events.xml"))
    made = run_pv("pvpython", MAKE_STATE.format(data=DATA, model=MODEL, indices=list(indices), probes=probes,
                                                pvsm=str(pvsm)), timeout=300)
    assert "STATE SAVED" in made.output, made.output[-4000:]
    xml.write_text(events(*parts, SAVE_DATA.format(out=pvd), SAVE_STATE.format(out=after)))
    gui = paraview_gui(f"--state={pvsm}", f"--test-script={xml}", "--dr", "--exit", env_extra=gui_env(display))
    assert gui.returncode == 0 and after.is_file() and pvd.is_file(), (gui.returncode, gui.output[-4000:])
    for marker in ("Traceback", "ERROR"):
        assert marker not in gui.output, gui.output[-4000:]
    return gui, after, pvd


@pytest.mark.parametrize("name, index, steps, message", [
    ("Inverse", "3", [3.5, 4.0, 4.5], "Inverse: 3 frame(s) of dt = 0.5 before t = 5"),
    ("Sample", "4", [5.0, 5.5, 6.0], "Sample: 3 frame(s) of dt = 0.5 from t = 5"),
], ids=["Inverse", "Sample"])
def test_inverse_and_sample_from_the_task_combo_box(run_pv, xvfb_display, tmp_path, name, index, steps, message):
    gui, after, pvd = run_gui(run_pv, xvfb_display, tmp_path, select("/0:0/0:0/0:0/0:0"), task(name), APPLY)
    out = gui.output
    assert property_values(after, "EchoRollout", "Task") == [index], out[-4000:]
    # the forecast's steps were 5.0 .. 6.5, 7.0, 9.0; now the task's beside the input's 5.0, 7.0, 9.0
    assert keeper_steps(after) == pytest.approx(sorted(set(steps) | {5.0, 7.0, 9.0})), out[-4000:]
    assert message in out, out[-4000:]
    data = written(pvd)
    assert sorted(data) == pytest.approx(keeper_steps(after))
    assert all(finite_field(data[t]) for t in steps), {t: data[t] for t in steps}
    arrays = {t: data[t][1] for t in data}
    if name == "Inverse":  # from the start on the prediction is the input
        np.testing.assert_array_equal(arrays[5.0]["vorticity_pred"], arrays[5.0]["vorticity"])
        assert not np.allclose(arrays[4.5]["vorticity_pred"], arrays[5.0]["vorticity"])
    else:  # the input's steps that are no sample time: no prediction there
        assert all(np.isnan(arrays[t]["vorticity_pred"]).all() for t in (7.0, 9.0))


def test_reconstruct_with_the_target_connected_by_change_input(run_pv, xvfb_display, tmp_path):
    gui, after, pvd = run_gui(run_pv, xvfb_display, tmp_path, select("/0:0/0:0/0:0/0:0/0:0"), CHANGE_TARGET,
                              task("Reconstruct"), APPLY, indices=(0, 1, 2), probes=True)
    out = gui.output
    assert property_values(after, "EchoRollout", "Task") == ["2"], out[-4000:]
    assert inputs(after, "Input") == ["MaskPoints1"] and inputs(after, "Target") == ["EchoDatasetReader1"]
    assert "Reconstruct: the full field at the input's 3 step(s)" in out, out[-4000:]
    assert keeper_steps(after) == pytest.approx([5.0, 5.5, 6.0]), out[-4000:]  # the forecast added 6.5
    data = written(pvd)
    assert sorted(data) == pytest.approx([5.0, 5.5, 6.0])
    from echo_model.data.store import TrajectoryStore

    with TrajectoryStore(DATA) as store:
        truth = store[20].fields[:3, :, 0]  # the full field at 5.0, 5.5, 6.0 (410 probes of it in the input)
    for k, t in enumerate(sorted(data)):
        assert finite_field(data[t]), (t, data[t])
        pred = data[t][1]["vorticity_pred"]
        assert np.linalg.norm(pred - truth[k]) < 0.05 * np.linalg.norm(truth[k]), t

"""EchoRollout's Task drop-down in the real GUI under Xvfb, with the Python shell never opened.

A state made in pvpython holds EchoDatasetReader -> Extract Time Steps (every 4th step: 5.0, 7.0,
9.0) -> EchoRollout forecasting 2 frames, the two sources suppressed in the time keeper as the
GUI's Apply does for a temporal filter's input. A Qt test script selects EchoRollout, picks
Interpolate in the Properties panel's Task combo box, presses Apply and saves the state; the time
keeper must then hold every model step (dt = 0.5) from 5.0 to 9.0 instead of the forecast's."""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
from test_gui_openfoam_tools import PANEL, SAVE_STATE, events, gui_env, property_values, select
from test_gui_time_keeper import paraview_gui

pytestmark = [pytest.mark.gui, pytest.mark.paraview]

MODEL = "sample_cases/ns2d_vorticity/model_tiny.safetensors"
DATA = "sample_cases/ns2d_vorticity/ns2d_64.h5"

MAKE_STATE = r'''
from paraview.simple import *
reader = EchoDatasetReader(FileName={data!r})
reader.Trajectory = 20
thin = ExtractTimeSteps(Input=reader, TimeStepIndices=[0, 4, 8])
roll = EchoRollout(Input=thin, Checkpoint={model!r}, NumberOfFrames=2, SamplingSteps=2, NumberOfThreads=1,
                   Device="cpu")
Show(roll)
GetTimeKeeper().SuppressedTimeSources = [reader, thin]
SaveState({pvsm!r})
print("STATE SAVED", list(roll.TimestepValues), flush=True)
'''

APPLY = ('  <pqevent object="pqClientMainWindow/propertiesDock/propertiesPanel/Accept" command="activate" '
         'arguments="" />\n')


def keeper_steps(pvsm: Path) -> list[float]:
    root = ElementTree.parse(pvsm).getroot()
    tk = next(p for p in root.iter("Proxy") if p.get("type") == "TimeKeeper")
    return [float(e.get("value")) for e in tk.find("Property[@name='TimestepValues']").findall("Element")]


def test_task_interpolate_from_the_properties_panel(run_pv, xvfb_display, tmp_path):
    pvsm, after = tmp_path / "forecast.pvsm", tmp_path / "after.pvsm"
    made = run_pv("pvpython", MAKE_STATE.format(data=DATA, model=MODEL, pvsm=str(pvsm)), timeout=300)
    assert "STATE SAVED [5.0, 5.5, 6.0, 7.0, 9.0]" in made.output, made.output[-4000:]
    assert keeper_steps(pvsm) == pytest.approx([5.0, 5.5, 6.0, 7.0, 9.0])  # the forecast's, before the change
    xml = tmp_path / "task.xml"
    combo = f'  <pqevent object="{PANEL}/Task/ComboBox" command="set_string" arguments="Interpolate" />\n'
    xml.write_text(events(select("/0:0/0:0/0:0/0:0"), combo, APPLY, SAVE_STATE.format(out=after)))
    gui = paraview_gui(f"--state={pvsm}", f"--test-script={xml}", "--dr", "--exit",
                       env_extra=gui_env(xvfb_display))
    out = gui.output
    assert gui.returncode == 0 and after.is_file(), (gui.returncode, out[-4000:])
    assert property_values(after, "EchoRollout", "Task") == ["1"], out[-4000:]  # Interpolate
    assert keeper_steps(after) == pytest.approx([5.0 + 0.5 * k for k in range(9)]), out[-4000:]
    assert "Interpolate: the input's steps are 4 model steps apart" in out, out[-4000:]
    for marker in ("Traceback", "ERROR"):
        assert marker not in out, out[-4000:]

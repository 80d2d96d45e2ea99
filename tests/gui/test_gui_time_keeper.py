"""The time keeper in a plain GUI session (the Python shell never opened): EchoRollout on the
OpenFOAM reader must leave the solver's later steps reachable.

A GUI session does not import `paraview.simple` until the Python shell opens, so the filter
itself must announce them (its output's steps are the union of the input's and the forecast's).
The session runs no Python script: the pipeline comes from a state file (`--state`) with the
reader suppressed in the time keeper, as the GUI's Apply does, and a GUI test script (Qt events,
not Python) saves the session's state from the File menu; the time keeper's steps are read from
that file."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.gui, pytest.mark.paraview, pytest.mark.openfoam]

def paraview_gui(*args: str, env_extra: dict, timeout: float = 400) -> subprocess.CompletedProcess:
    """`echopv paraview ARGS` without the --script that the shared `run_pv` fixture adds."""
    env = {**os.environ, **env_extra}
    proc = subprocess.Popen([sys.executable, "-m", "echo_paraview.cli", "paraview", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    run = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    run.output = out + err
    return run


MAKE_STATE = r'''
from paraview.simple import *
reader = OpenFOAMReader(FileName={foam!r})
reader.MeshRegions = ["internalMesh"]
roll = EchoRollout(Input=reader, Checkpoint={model!r}, NumberOfFrames=4, StartTime="value",
                   StartTimeValue=0.5, Parameters="Um=0.94, Re=62.8")
Show(roll)
GetTimeKeeper().SuppressedTimeSources = [reader]  # what the GUI's Apply does for a temporal filter
SaveState({pvsm!r})
print("STATE SAVED", flush=True)
'''

SAVE_STATE_XML = """<?xml version="1.0" ?>
<pqevents>
  <pqevent object="pqClientMainWindow/menubar/menu_File" command="activate" arguments="actionFileSaveServerState" />
  <pqevent object="pqClientMainWindow/FileSaveServerStateDialog" command="filesSelected" arguments="{out}" />
</pqevents>
"""


def time_keeper(pvsm: Path) -> dict:
    """The TimeKeeper's steps and suppressed sources in a saved state, and each source's steps."""
    root = ElementTree.parse(pvsm).getroot()
    proxies = {p.get("id"): p for p in root.iter("Proxy")}

    def prop(proxy, name, kind="Element"):
        el = proxy.find(f"Property[@name='{name}']")
        return [e.get("value") for e in el.findall(kind)] if el is not None else []

    tk = next(p for p in proxies.values() if p.get("type") == "TimeKeeper")
    labels = {i.get("id"): i.get("name") for i in root.iter("Item")}
    return {"keeper": [float(v) for v in prop(tk, "TimestepValues")],
            "suppressed": [labels.get(v) for v in prop(tk, "SuppressedTimeSources", "Proxy")],
            "reader": [float(v) for p in proxies.values() if p.get("type") == "OpenFOAMReader"
                       for v in prop(p, "TimestepValues")]}


def test_solver_steps_stay_in_the_time_keeper_without_the_python_shell(run_pv, xvfb_display, foam_case,
                                                                       cylinder_model, tmp_path):
    pvsm = tmp_path / "session.pvsm"
    made = run_pv("pvpython", MAKE_STATE.format(foam=str(foam_case / "case.foam"), model=str(cylinder_model),
                                                pvsm=str(pvsm)), timeout=300)
    assert "STATE SAVED" in made.output, made.output[-4000:]
    env = {"DISPLAY": xvfb_display, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    xml, out = tmp_path / "save_state.xml", tmp_path / "after.pvsm"
    xml.write_text(SAVE_STATE_XML.format(out=out))
    # no --script (it would import paraview.simple): a GUI test script saves the state from the menu
    run = paraview_gui(f"--state={pvsm}", f"--test-script={xml}", "--dr", "--exit", env_extra=env)
    assert out.is_file(), run.output[-4000:]
    res = time_keeper(out)
    assert res["suppressed"] == ["OpenFOAMReader1"], res
    # every solver step up to 1.0 is reachable (not only up to the forecast's end 0.7), each once
    assert res["keeper"] == res["reader"] and res["keeper"][-1] == pytest.approx(1.0), res
    for marker in ("ERROR", "Traceback"):
        assert marker not in run.output, run.output[-4000:]

"""Issue 24, groups 1, 2, 8 in a real pvbatch render: EchoDatasetReader on crafted dataset files.

A connectivity entry of 10,000,000 or -7, or a last offset of 1e9, used to crash ParaView in the
render (SIGSEGV / SIGABRT); an external link showed another file's values. Now pvbatch renders on,
the reader's message (file, trajectory, fix) is in the output, and a good file in the same session
still renders with its data."""
from __future__ import annotations

import json

import pytest

from hostile_datasets import bad_connectivity, bad_times, external_field, huge_last_offset
from reader_files import write_small_dataset

pytestmark = pytest.mark.paraview

RENDER = r'''
import json, os, sys
from paraview.simple import *
import paraview.servermanager as sm
res = {{}}
view = CreateView("RenderView")
view.ViewSize = [200, 160]
for tag, path in {files!r}:
    r = EchoDatasetReader(FileName=path)
    disp = Show(r, view)
    view.ResetCamera()
    Render(view)
    SaveScreenshot(os.path.join({out!r}, tag + ".png"), view, ImageResolution=[200, 160])
    data = sm.Fetch(r)
    res[tag] = {{"cells": data.GetNumberOfCells(), "times": list(r.TimestepValues or [])}}
    Hide(r, view)
    print("ALIVE after", tag, flush=True)
print("RESULT:" + json.dumps(res))
'''


def test_pvbatch_renders_crafted_datasets_without_crashing(run_pv, tmp_path):
    files = [
        ("conn_big", bad_connectivity(tmp_path / "conn_big.h5", 10_000_000)),
        ("conn_neg", bad_connectivity(tmp_path / "conn_neg.h5", -7)),
        ("offset", huge_last_offset(tmp_path / "offset.h5")),
        ("nan_times", bad_times(tmp_path / "nan_times.h5", [0.0, float("nan"), 1.0])),
        ("external", external_field(tmp_path / "external.h5", tmp_path / "secret.h5")),
        ("good", write_small_dataset(tmp_path / "good.h5", n_traj=1, n_frames=3)),
    ]
    run = run_pv("pvbatch", RENDER.format(files=[(t, str(p)) for t, p in files], out=str(tmp_path)), timeout=300)
    out = run.output
    assert run.returncode == 0, out[-4000:]
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, out[-4000:]
    res = json.loads(lines[-1][len("RESULT:"):])
    for tag in ("conn_big", "conn_neg", "offset"):
        assert res[tag]["cells"] == 0, (tag, res)
    assert f"{tmp_path / 'conn_big.h5'} trajectory 0: cells/connectivity holds point id 10000000" in out
    assert "point id -7" in out and "offsets runs from 0 to 1000000000" in out
    assert "echopv import" in out
    assert "times holds nan at frame 1" in out and res["nan_times"]["times"] == []
    assert "external link" in out and str(tmp_path / "secret.h5") in out
    assert res["good"]["cells"] == 20 and res["good"]["times"] == [0.0, 0.5, 1.0]
    assert (tmp_path / "good.png").stat().st_size > 0 and (tmp_path / "conn_big.png").stat().st_size > 0

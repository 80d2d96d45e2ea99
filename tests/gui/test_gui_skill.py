"""The skill report and the state check in the real ParaView GUI under Xvfb (issue 19), through
scripts/gui_skill_screenshots.py (the script that makes the README's screenshots): EchoTrain's
Status after Refresh ends with the finished DMD model's skill summary and Output Messages gets the
full report; EchoRollout started from a state unlike the training states warns with the numbers.
The scene's Status is read back from the GUI's own proxy; the messages from the GUI's output.
Set ECHOPV_TEST_ARTIFACTS=DIR to keep the screenshots."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.paraview]

REPO = Path(__file__).resolve().parents[2]


def _shots():
    spec = importlib.util.spec_from_file_location("gui_skill_screenshots", REPO / "scripts" / "gui_skill_screenshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, xvfb_display):
    shots = _shots()
    work = tmp_path_factory.mktemp("skill")
    files = shots.make_files(work)
    out = {}
    for name in ("echotrain", "state_warning"):
        png = work / shots.SCENES[name]
        out[name] = (shots.run_scene(name, files, xvfb_display, png, work), png)
        keep = os.environ.get("ECHOPV_TEST_ARTIFACTS")
        if keep and png.exists():
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(png, Path(keep) / png.name)
    return files, out


def test_echotrain_status_and_output_messages_carry_the_skill_report(scenes):
    files, out = scenes
    text, png = out["echotrain"]
    assert "SCENE READY" in text, text[-4000:]
    status = next(ln for ln in text.splitlines() if ln.startswith("SCENE echotrain status: "))
    assert status == (f"SCENE echotrain status: done: model {files['model']} | skill: u 0.00x persistence over "
                      f"10 frames (held out)"), status
    assert "Warning: In EchoTrain: Refresh: done: model" in text, text[-4000:]
    assert "beats persistence for 10 frame(s)" in text, text[-4000:]  # the full report, not only the summary
    assert png.is_file() and png.stat().st_size > 20_000
    for marker in ("ERROR", "Traceback"):
        assert marker not in text, text[-4000:]


def test_echorollout_warns_when_the_start_state_is_unlike_the_training_states(scenes):
    _, out = scenes
    text, png = out["state_warning"]
    assert "SCENE state_warning last_error: None" in text, text[-4000:]
    assert "the input state is unlike the training states" in text, text[-4000:]
    assert "x the training frames' median" in text, text[-4000:]
    assert png.is_file() and png.stat().st_size > 20_000
    for marker in ("Traceback",):
        assert marker not in text, text[-4000:]

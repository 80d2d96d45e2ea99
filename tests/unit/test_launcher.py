"""echo_paraview.launcher without starting ParaView: options, environment, the sitecustomize."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from echo_model.errors import EchoUserError
from echo_paraview import launcher


def test_parse_leading_options_and_passthrough():
    cfg = launcher.parse(("pvpython",), ["--paraview-bin", "/opt/pv/bin", "--venv=/v", "s.py", "--venv", "x"])
    assert (cfg.tool, cfg.paraview_bin, cfg.venv) == ("pvpython", "/opt/pv/bin", "/v")
    assert cfg.args == ["s.py", "--venv", "x"]  # after the first ParaView argument nothing is ours
    cfg = launcher.parse(("paraview",), ["--", "--paraview-bin", "y"])
    assert cfg.args == ["--paraview-bin", "y"] and cfg.paraview_bin is None
    with pytest.raises(EchoUserError, match="needs a directory"):
        launcher.parse(("pvbatch",), ["--venv"])


def test_find_tool_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="--paraview-bin"):
        launcher.find_tool("pvpython", str(tmp_path))
    (tmp_path / "pvbatch").write_text("#!/bin/sh\n")
    assert launcher.find_tool("pvbatch", str(tmp_path)) == str(tmp_path / "pvbatch")
    with pytest.raises(EchoUserError):
        launcher.find_tool("vtkpython")


def test_environment():
    env = launcher.paraview_env(base={"PYTHONPATH": "/keep/me", "PV_PLUGIN_PATH": "/other/plugins"})
    pp = env["PYTHONPATH"].split(os.pathsep)
    assert Path(pp[0], "sitecustomize.py").is_file() and "/keep/me" in pp
    assert env["PV_PLUGIN_PATH"].split(os.pathsep) == [str(launcher.PLUGIN_DIR), "/other/plugins"]
    append = env["ECHOPV_APPEND_PATHS"].split(os.pathsep)
    assert append[0] == str(launcher.REPO_ROOT)
    assert any(p.endswith("site-packages") for p in append)
    assert Path(env["ECHOPV_PYTHON"]).exists()
    # idempotent: building it twice does not stack entries
    env2 = launcher.paraview_env(base=env)
    assert env2["PYTHONPATH"] == env["PYTHONPATH"] and env2["PV_PLUGIN_PATH"] == env["PV_PLUGIN_PATH"]


def test_sitecustomize_patches_inspect_and_appends_after_system_paths(tmp_path):
    """Run Debian's python3.11 (what ParaView embeds) with the generated sitecustomize."""
    py = "/usr/bin/python3.11"
    if not Path(py).exists():
        pytest.skip("Debian's /usr/bin/python3.11 is not present")
    marker = tmp_path / "venv_site-packages"
    marker.mkdir()
    (marker / "echopv_probe_mod.py").write_text("X = 1\n")
    env = launcher.paraview_env(base={"PATH": os.environ.get("PATH", "")})
    env["ECHOPV_APPEND_PATHS"] = os.pathsep.join([str(launcher.REPO_ROOT), str(marker)])
    code = (
        "import inspect, json, sys, echopv_probe_mod\n"
        "print(json.dumps({'getargspec': hasattr(inspect, 'getargspec'), 'path': sys.path}))"
    )
    out = subprocess.run([py, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["getargspec"] is True
    path = res["path"]
    assert path[-1] == str(marker) and path[-2] == str(launcher.REPO_ROOT)  # appended, last
    assert path.index("/usr/lib/python3/dist-packages") < path.index(str(marker))


def test_print_env_cli(capsys):
    if shutil.which("pvpython") is None:
        pytest.skip("pvpython not installed")
    assert launcher.run_raw(("pvpython",), ["--print-env", "--", "x.py"]) == 0
    out = capsys.readouterr().out
    assert "PV_PLUGIN_PATH=" in out and out.strip().endswith("pvpython x.py")


def test_xvfb_options_and_when_it_is_needed():
    from echo_paraview import xvfb

    assert launcher.parse(("pvbatch",), ["--no-xvfb", "s.py"]).xvfb == "never"
    assert launcher.parse(("pvbatch",), ["--xvfb", "s.py"]).xvfb == "always"
    assert launcher.parse(("pvbatch",), ["s.py", "--no-xvfb"]).args == ["s.py", "--no-xvfb"]  # the script's
    assert xvfb.needed("pvbatch", {}, "auto") and xvfb.needed("pvpython", {"DISPLAY": ""}, "auto")
    assert not xvfb.needed("pvbatch", {"DISPLAY": ":0"}, "auto")
    assert not xvfb.needed("paraview", {}, "auto")
    assert not xvfb.needed("pvbatch", {"ECHOPV_NO_XVFB": "1"}, "auto")
    assert not xvfb.needed("pvbatch", {}, "never") and xvfb.needed("paraview", {"DISPLAY": ":0"}, "always")


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb not installed")
def test_private_xvfb_starts_and_stops():
    from echo_paraview import xvfb

    x = xvfb.start()
    try:
        n = x.display.lstrip(":")
        assert Path(f"/tmp/.X11-unix/X{n}").exists() and x.proc.poll() is None
    finally:
        x.stop()
    assert x.proc.poll() is not None

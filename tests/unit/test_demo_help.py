"""`echopv demo --help` and `echopv demo cylinder --help`: each case prints its own help."""
from __future__ import annotations

import pytest

from echo_paraview.cli import main


def _help(capsys, *words: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_cylinder_demo_prints_its_own_help(capsys):
    text = _help(capsys, "demo", "cylinder")
    assert text.startswith("usage: echopv demo cylinder")
    assert "OpenFOAM case as an analyst opens it" in text and "--mesh" in text and "--case" in text
    assert "--dataset" not in text and "see `echopv demo cylinder --help`" not in text


def test_vorticity_demo_help_names_the_cylinder_help(capsys):
    text = _help(capsys, "demo")
    assert text.startswith("usage: echopv demo vorticity") and "--dataset" in text and "--mesh" not in text
    assert "echopv demo cylinder --help" in text and "echopv demo ns3d --help" in text


def test_unknown_option_of_the_cylinder_demo_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "cylinder", "--dataset", "x.h5"])
    assert exc.value.code == 2 and "unrecognized arguments: --dataset" in capsys.readouterr().err


@pytest.mark.parametrize("argv, text", [
    (["--frames", "0"], "--frames 0"),
    (["--samples", "0"], "--samples 0"),
    (["cylinder", "--samples", "-1"], "--samples -1"),
    (["--traj", "999"], "--traj 999 out of range"),
], ids=["frames", "samples", "cylinder-samples", "traj"])
def test_demo_option_mistakes_are_user_errors(tmp_path, argv, text):
    """Refused by the demo itself before pvbatch starts (a --traj past the dataset was an IndexError)."""
    from echo_model.errors import EchoUserError
    from echo_paraview import demo

    with pytest.raises(EchoUserError, match=text):
        demo.run_raw(("demo",), [*argv, "--out", str(tmp_path / "demo")])


def test_ns3d_demo_prints_its_own_help(capsys):
    text = _help(capsys, "demo", "ns3d")
    assert text.startswith("usage: echopv demo ns3d")
    assert "3D ECHO forecast of decaying Taylor-Green turbulence" in text
    assert "volume" in text and "Q-criterion" in text and "Example: echopv demo ns3d" in text
    for option in ("--model", "--frames", "--solver-seed", "--nu", "--q-fraction", "--out"):
        assert option in text, option
    assert "--dataset" not in text and "--mesh" not in text  # the other demos' options


def test_unknown_option_of_the_ns3d_demo_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "ns3d", "--mesh", "fine"])
    assert exc.value.code == 2 and "unrecognized arguments: --mesh" in capsys.readouterr().err


def test_cylinder_demo_takes_a_users_case_parameters_and_repeats_the_filters_warnings(tmp_path, capsys):
    """With --case the demo cannot know the case's Re: --parameters passes them on, and the filter's
    warnings (e.g. the training means it fell back to) reach the console, not only pvbatch.log."""
    import argparse

    from echo_paraview import demo_cylinder

    p = argparse.ArgumentParser()
    demo_cylinder.add_arguments(p)
    assert p.parse_args(["--parameters", "Re=100, Um=1.5"]).parameters == "Re=100, Um=1.5"
    (tmp_path / "pvbatch.log").write_text(
        "EchoRollout: start 1.5000\nWarning: In EchoRollout: parameter Re is not given (neither Parameters nor "
        "param_Re field data): using the training mean 134.266\nRENDERED\n")
    demo_cylinder._report(tmp_path, {"times": [1.525], "rel_mse": [0.05], "interpolated": [False]}, tmp_path, "p")
    out = capsys.readouterr().out
    assert "using the training mean 134.266" in out and "RENDERED" not in out
    assert out.index("training mean") < out.index("[3/3]")

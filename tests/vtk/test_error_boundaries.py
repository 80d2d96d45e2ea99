"""Bugs keep their traceback; a user's mistake is a one-line message.

`EchoUserError` is not a `ValueError`, and the boundaries (the CLI, the readers, EchoTrain) catch only
it and file errors: a `ValueError`, `KeyError` or `IndexError` from a bug in numpy code used to print
one line as if the user were at fault. Each boundary is checked both ways on the same input."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
pytest.importorskip("h5py")

from echo_model import info  # noqa: E402
from echo_model.errors import EchoUserError  # noqa: E402
from echo_paraview import training  # noqa: E402
from echo_paraview.cli import main  # noqa: E402
from echo_paraview.readers import EchoDatasetReaderAlgorithm  # noqa: E402
from echo_paraview.train_filter import EchoTrainAlgorithm  # noqa: E402

DATASET = Path(__file__).resolve().parents[2] / "sample_cases" / "cylinder" / "cylinder_coarse.h5"
BUGS = [ZeroDivisionError("division by zero"), ValueError("cannot reshape array of size 7"),
        KeyError("w"), IndexError("index 9 is out of bounds for axis 0 with size 3")]


def test_echo_user_error_is_not_a_value_error():
    assert not issubclass(EchoUserError, ValueError)
    with pytest.raises(ValueError):
        try:
            raise ValueError("a bug")
        except EchoUserError:  # what every boundary catches
            pytest.fail("a ValueError was taken for a user error")


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_cli_raises_a_bug_with_its_traceback(monkeypatch, bug):
    def buggy(path):
        raise bug

    monkeypatch.delenv("ECHOPV_DEBUG", raising=False)
    monkeypatch.setattr(info, "describe_dataset", buggy)
    with pytest.raises(type(bug)) as caught:
        main(["info", str(DATASET)])
    assert any(entry.name == "buggy" for entry in caught.traceback)


def test_cli_gives_a_bad_file_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.h5"
    bad.write_text("not HDF5")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("echopv info: error: ") and str(bad) in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_reader_gives_a_bad_file_one_line(tmp_path, errors):
    bad = tmp_path / "notes.h5"
    bad.write_text("not HDF5")
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(bad))
    r.Update()
    assert str(bad) in r.last_error and "Traceback" not in r.last_error and "\n" not in r.last_error


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_echo_train_reports_a_bug_with_its_traceback(tmp_path, monkeypatch, errors, bug):
    def buggy():
        raise bug

    monkeypatch.setattr(training, "training_python", buggy)
    f = EchoTrainAlgorithm()
    f.SetRunDirectory(str(tmp_path / "run"))
    assert f.Start() is False
    assert f.last_error.startswith(f"unexpected {type(bug).__name__}") and "in buggy" in f.last_error


def test_echo_train_gives_a_user_error_one_line(tmp_path, errors):
    f = EchoTrainAlgorithm()
    f.SetRunDirectory("")
    assert f.Start() is False
    assert "RunDirectory" in f.last_error and "Traceback" not in f.last_error


def _rollout_on_the_vorticity_sample():
    from echo_paraview.rollout_filter import EchoRolloutAlgorithm

    sample = Path(__file__).resolve().parents[2] / "sample_cases" / "ns2d_vorticity"
    reader = EchoDatasetReaderAlgorithm()
    reader.SetFileName(str(sample / "ns2d_64.h5"))
    f = EchoRolloutAlgorithm()
    f.SetInputConnection(reader.GetOutputPort())
    f.SetCheckpoint(str(sample / "model_tiny.safetensors"))
    f.SetNumberOfFrames(2)
    return f


def _reader_on_the_cylinder_sample():
    r = EchoDatasetReaderAlgorithm()
    r.SetFileName(str(DATASET))
    return r


@pytest.mark.parametrize("where", [(EchoDatasetReaderAlgorithm, "_trajectory_output", _reader_on_the_cylinder_sample),
                                   ("EchoRolloutAlgorithm", "_read", _rollout_on_the_vorticity_sample)],
                         ids=["reader", "EchoRollout"])
@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_a_vtk_algorithm_reports_a_bug_with_its_traceback(monkeypatch, errors, where, bug):
    from echo_paraview import rollout_filter

    cls, method, make = where
    cls = getattr(rollout_filter, cls) if isinstance(cls, str) else cls

    def buggy(self, *args):
        raise bug

    monkeypatch.setattr(cls, method, buggy)
    alg = make()
    alg.Update()
    assert alg.last_error.startswith(f"unexpected {type(bug).__name__}")
    assert "Traceback" in alg.last_error and "in buggy" in alg.last_error and "please report" in alg.last_error
    assert f"ERROR: In {alg.messages_from}: unexpected" in errors.GetOutput()


def test_echo_rollout_gives_a_user_error_one_line(errors):
    f = _rollout_on_the_vorticity_sample()
    f.SetInputArrays(["no_such_array"])
    f.Update()
    assert "no_such_array" in f.last_error and "Traceback" not in f.last_error
    assert not f.last_error.startswith("unexpected")


def test_polyhedra_are_a_user_error_that_a_series_read_turns_into_a_warning(tmp_path):
    import numpy as np
    from vtkmodules.util import numpy_support as ns
    from vtkmodules.vtkCommonCore import vtkIdList, vtkPoints
    from vtkmodules.vtkCommonDataModel import VTK_POLYHEDRON, vtkUnstructuredGrid
    from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter

    from echo_paraview import convert
    from echo_paraview.io.pvd import read_series

    ug = vtkUnstructuredGrid()
    pts = vtkPoints()
    for p in [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]:
        pts.InsertNextPoint(p)
    ug.SetPoints(pts)
    faces = vtkIdList()
    for v in [4, 3, 0, 1, 2, 3, 0, 1, 3, 3, 0, 2, 3, 3, 1, 2, 3]:  # a tetrahedron written as a polyhedron
        faces.InsertNextId(v)
    ug.InsertNextCell(VTK_POLYHEDRON, faces)
    arr = ns.numpy_to_vtk(np.arange(4, dtype=np.float32), deep=True)
    arr.SetName("u")
    ug.GetPointData().AddArray(arr)
    with pytest.raises(EchoUserError, match="polyhedral cells") as caught:
        convert.get_cells(ug)
    assert not isinstance(caught.value, ValueError)
    w = vtkXMLUnstructuredGridWriter()
    w.SetInputData(ug)
    w.SetFileName(str(tmp_path / "f_0.vtu"))
    w.Write()
    with pytest.warns(UserWarning, match="cells dropped"):
        traj = read_series(str(tmp_path / "f_0.vtu"))
    assert traj.cells is None and traj.fields.shape == (1, 4, 1)


def test_a_value_error_is_a_bug_in_every_command(monkeypatch):
    """No command takes a ValueError for the user's mistake any more (the rollout, eval, anchor-gains
    and demo commands did): it keeps its traceback."""
    from echo_paraview import rollout_command

    def buggy(args):
        raise ValueError("cannot reshape array of size 7")

    monkeypatch.delenv("ECHOPV_DEBUG", raising=False)
    monkeypatch.setattr(rollout_command, "run", buggy)
    with pytest.raises(ValueError, match="reshape"):
        main(["rollout", "model.safetensors", "--dataset", str(DATASET), "--out", "unused"])

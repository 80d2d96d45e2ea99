"""Issue 24, group 13 (the OpenFOAM parser): a damaged field or mesh file is refused with a message naming
the file, the line (the byte, in a binary file) or the entry, and the fix. It said "unterminated vector
list", "list announces 16 x 1 values but holds 15" or "could not convert string to float" without a file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echo_model.cases import openfoam as of
from echo_model.errors import EchoUserError
from echo_paraview.cli import main as echopv

FIX = "write it again from OpenFOAM"
XY = [((i + 0.5) / 4, (j + 0.5) / 4) for j in range(4) for i in range(4)]


def _field(cls: str, name: str, rows: list[str], count: int | None = None, close: str = "\n)\n;\n") -> str:
    kind = "vector" if cls == "volVectorField" else "scalar"
    return (f"FoamFile\n{{\n    version 2.0;\n    format ascii;\n    class {cls};\n    object {name};\n}}\n"
            f"dimensions [0 0 0 0 0 0 0];\ninternalField nonuniform List<{kind}>\n{count or len(rows)}\n(\n"
            + "\n".join(rows) + close + "boundaryField\n{\n}\n")


def _case(root: Path, c_text: str | None = None, p_text: str | None = None) -> Path:
    """A minimal ASCII case (4 x 4 cells, centres from a written C, p at two times), parts replaced."""
    case = root / "case"
    (case / "system").mkdir(parents=True)
    (case / "system" / "controlDict").write_text("FoamFile { class dictionary; object controlDict; }\n")
    for k, t in enumerate((0.1, 0.2)):
        d = case / f"{t:g}"
        d.mkdir()
        if k == 0:
            (d / "C").write_text(c_text or _field("volVectorField", "C", [f"({x} {y} 0.05)" for x, y in XY]))
        (d / "p").write_text(p_text if p_text and k == 1 else _field("volScalarField", "p", [f"{x + t:.6f}"
                                                                                             for x, _ in XY]))
    return case


def _refusal(path: Path, n_cells: int | None = None) -> str:
    with pytest.raises(EchoUserError) as info:
        of.read_internal_field(path, n_cells)
    return str(info.value)


def test_unterminated_vector_list_names_the_file_and_line(tmp_path):
    rows = [f"({x} {y} 0.05)" for x, y in XY][:10]
    case = _case(tmp_path, c_text=_field("volVectorField", "C", rows, count=16, close="\n"))
    msg = _refusal(case / "0.1" / "C")
    assert msg.startswith(f"{case / '0.1' / 'C'}, line 11: unterminated vector list"), msg
    assert "16 vectors" in msg and FIX in msg
    out = tmp_path / "d.h5"
    assert echopv(["import", str(case), "--out", str(out), "--fields", "p"]) == 2
    assert not out.exists()


def test_import_names_the_damaged_file(tmp_path, capsys):
    rows = [f"({x} {y} 0.05)" for x, y in XY][:10]
    case = _case(tmp_path, c_text=_field("volVectorField", "C", rows, count=16, close="\n"))
    assert echopv(["import", str(case), "--out", str(tmp_path / "d.h5"), "--fields", "p"]) == 2
    err = capsys.readouterr().err
    assert str(case / "0.1" / "C") in err and "line 11" in err and FIX in err and "Traceback" not in err


def test_unterminated_scalar_list(tmp_path):
    case = _case(tmp_path, p_text=_field("volScalarField", "p", ["1.0"] * 16, close="\n"))
    msg = _refusal(case / "0.2" / "p")
    assert f"{case / '0.2' / 'p'}, line 11: unterminated list" in msg and "no closing ')'" in msg and FIX in msg


def test_a_value_that_is_not_a_number(tmp_path):
    rows = ["1.0"] * 16
    rows[5] = "abc"
    case = _case(tmp_path, p_text=_field("volScalarField", "p", rows))
    msg = _refusal(case / "0.2" / "p")
    assert f"{case / '0.2' / 'p'}, line 17:" in msg and "'abc'" in msg and "not a number" in msg and FIX in msg
    assert "could not convert" not in msg


def test_a_list_shorter_than_announced(tmp_path):
    case = _case(tmp_path, p_text=_field("volScalarField", "p", ["1.0"] * 15, count=16))
    msg = _refusal(case / "0.2" / "p")
    assert f"{case / '0.2' / 'p'}, line 11:" in msg and "announces 16 x 1 values but holds 15" in msg and FIX in msg


def test_a_field_of_another_mesh_names_the_fix(tmp_path):
    case = _case(tmp_path)
    msg = _refusal(case / "0.2" / "p", n_cells=20)
    assert str(case / "0.2" / "p") in msg and "mesh has 20 cells" in msg and "reconstructPar" in msg


def test_uniform_field_with_a_word_and_without_an_end(tmp_path):
    text = _field("volScalarField", "p", ["1.0"] * 16)
    head = text.split("internalField")[0]
    (tmp_path / "p").write_text(head + "internalField uniform fast;\n")
    msg = _refusal(tmp_path / "p", n_cells=16)
    assert f"{tmp_path / 'p'}, line" in msg and "'fast'" in msg and FIX in msg
    (tmp_path / "q").write_text(head + "internalField uniform 1.0\n")
    msg = _refusal(tmp_path / "q", n_cells=16)
    assert f"{tmp_path / 'q'}, line" in msg and "no closing ';'" in msg


def test_truncated_binary_list_names_the_byte(tmp_path):
    head = ("FoamFile\n{\n    version 2.0;\n    format binary;\n    class volScalarField;\n    arch \"LSB;label=32;"
            "scalar=64\";\n    object p;\n}\ninternalField nonuniform List<scalar> 16(").encode()
    (tmp_path / "p").write_bytes(head + np.ones(10).tobytes())  # 10 of 16 doubles, no ')'
    msg = _refusal(tmp_path / "p")
    assert f"{tmp_path / 'p'}, byte" in msg and "16 x 1 values" in msg and FIX in msg


def test_face_list_shorter_than_announced(tmp_path):
    (tmp_path / "faces").write_text("FoamFile\n{\n    format ascii;\n    class faceList;\n    object faces;\n}\n"
                                    "3\n(\n4(0 1 2 3)\n4(1 2 3 4)\n)\n")
    with pytest.raises(EchoUserError) as info:
        of._read_faces(tmp_path / "faces")
    msg = str(info.value)
    assert str(tmp_path / "faces") in msg and "announces 3 faces but ends after 2" in msg and FIX in msg


def test_valid_files_still_read(tmp_path):
    case = _case(tmp_path)
    values, cls = of.read_internal_field(case / "0.1" / "C")
    assert cls == "volVectorField" and values.shape == (16, 3)
    np.testing.assert_allclose(values[:, :2], XY)

"""EchoModelReaderAlgorithm: an ECHO model file (`.safetensors`) described as a vtkTable.

Columns Section / Property / Value, one row per entry of `echo_model.info.model_rows` (fields,
dimension, dt, training domain and parameter ranges, latent grid, compression ratio, preset,
provenance, metrics, then the whole header): ParaView's Spreadsheet view shows it. The same
entries are field data (`<section>.<property>`) so the Information panel lists them too. Only
the JSON header is read, never the weights.
"""
from __future__ import annotations

from vtkmodules.vtkCommonCore import vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkTable

from .base import ReaderBase, ReaderError

COLUMNS = ("Section", "Property", "Value")


def is_echo_model(path) -> bool:
    """The file's safetensors header names the echo-model format (torch-free, reads ~KB)."""
    import json
    import struct

    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if not 0 < n < 100_000_000:
                return False
            header = json.loads(f.read(n))
        meta = json.loads((header.get("__metadata__") or {}).get("echo", "{}"))
        return meta.get("format") == "echo-model"
    except (OSError, ValueError, struct.error, AttributeError, TypeError):
        return False


class EchoModelReaderAlgorithm(ReaderBase):
    """Model-file description source; see the module docstring."""

    messages_from = "EchoModelReader"

    def __init__(self) -> None:
        ReaderBase.__init__(self, output_type="vtkTable")
        self.rows: list[tuple[str, str, str]] = []

    def CanReadFile(self, name: str) -> int:
        return int(is_echo_model(name))

    def _information(self, outInfo) -> int:
        self._path()  # reports a missing file early
        return 1

    def _data(self, outInfo) -> int:
        from echo_model.info import model_rows

        path = self._path()
        if not is_echo_model(path):
            raise ReaderError(
                f"{path} is not an ECHO model file (no 'echo' header of format echo-model); "
                f"pick a model written by `echopv train dit` / `echopv train all`"
            )
        self.rows = model_rows(path)
        out = vtkTable.GetData(outInfo.GetInformationObject(0)) or outInfo.GetInformationObject(0).Get(
            vtkDataObject.DATA_OBJECT())
        out.Initialize()
        for c, name in enumerate(COLUMNS):
            col = vtkStringArray()
            col.SetName(name)
            for row in self.rows:
                col.InsertNextValue(row[c])
            out.AddColumn(col)
        fd = out.GetFieldData()
        for section, key, value in self.rows:
            arr = vtkStringArray()
            arr.SetName(f"{section}.{key}")
            arr.InsertNextValue(value)
            fd.AddArray(arr)
        return 1

"""What every ECHO reader shares: FileName, a point-array selection, time steps, errors.

Readers here are plain `VTKPythonAlgorithmBase` sources (no `paraview` import): they work in a
VTK script as they do behind the decorated proxies of `plugins/EchoReaders.py`. A bad file never
raises into the pipeline: the message (problem, file, fix) goes to the VTK output window
(ParaView's Output Messages), `last_error` keeps it, and the request returns 0.
"""
from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any, Callable, Sequence

from vtkmodules.util.vtkAlgorithm import VTKPythonAlgorithmBase
from vtkmodules.vtkCommonCore import vtkCommand, vtkDataArraySelection

from echo_model.errors import EchoUserError

from .. import timesteps
from ..convert import set_field_data  # noqa: F401  (the readers stamp their field data with it)
from ..vtk_messages import VTKMessages, failure_text


class ReaderError(EchoUserError):
    """A file or setting the user can fix; the message names the problem and the fix."""


def _modified_callback(alg: VTKPythonAlgorithmBase) -> Callable:
    # a weak reference: the selection must not keep its reader alive
    ref = weakref.ref(alg)

    def _cb(*_args: Any) -> None:
        obj = ref()
        if obj is not None:
            obj.Modified()

    return _cb


class ReaderBase(VTKMessages, VTKPythonAlgorithmBase):
    """FileName + PointArrays selection + time steps + error reporting for the readers."""

    messages_from = "EchoReader"

    def __init__(self, output_type: str) -> None:
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=0, nOutputPorts=1, outputType=output_type)
        self._file_name = ""
        self._times: list[float] = []
        self._selection = vtkDataArraySelection()
        self._selection.AddObserver(vtkCommand.ModifiedEvent, _modified_callback(self))
        self.last_error: str | None = None
        self._info_ok = False  # RequestInformation succeeded for the current settings

    # --- properties -------------------------------------------------------------------
    def SetFileName(self, name: str | None) -> None:
        name = str(name or "")
        if name != self._file_name:
            self._file_name = name
            self._selection.RemoveAllArrays()  # another file, other arrays
            self._times = []
            self.Modified()

    def GetFileName(self) -> str:
        return self._file_name

    def GetPointArraySelection(self) -> vtkDataArraySelection:
        """Which point arrays are loaded (all by default): `DisableArray(name)` to skip one."""
        return self._selection

    def GetTimestepValues(self) -> list[float]:
        return list(self._times)

    def CanReadFile(self, name: str) -> int:
        """1 when the file is this reader's format (ParaView's File > Open asks before choosing)."""
        return 0

    # --- helpers for subclasses --------------------------------------------------------
    def _path(self) -> Path:
        if not self._file_name:
            raise ReaderError(f"{self.messages_from}: no FileName set; choose a file to open")
        path = Path(self._file_name)
        if not path.is_file():
            raise ReaderError(f"{self.messages_from}: {path} does not exist; check FileName")
        return path

    def _check_hdf5(self, path: Path) -> None:
        """A file h5py cannot open at all gets its own message (not 'wrong format')."""
        import h5py

        try:
            h5py.File(path, "r").close()
        except OSError as exc:
            raise ReaderError(
                f"{path} cannot be read as HDF5 ({exc}); the file may be truncated or still being "
                f"written: write it again (e.g. `echopv generate ...` / `echopv import ...`)"
            ) from exc

    def _offer_arrays(self, names: Sequence[str]) -> None:
        """Make the file's arrays selectable, keeping choices already made for this file."""
        for name in list(self._selection_names()):
            if name not in names:
                self._selection.RemoveArrayByName(name)
        for name in names:
            if not self._selection.ArrayExists(name):
                self._selection.AddArray(name)  # enabled by default

    def _selection_names(self) -> list[str]:
        return [self._selection.GetArrayName(i) for i in range(self._selection.GetNumberOfArrays())]

    def _enabled(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if self._selection.ArrayIsEnabled(n)]

    def _announce(self, outInfo, times: Sequence[float]) -> None:
        self._times = [float(t) for t in times]
        timesteps.announce_time_steps(outInfo.GetInformationObject(0), self._times)

    def _frame_index(self, outInfo, times: Sequence[float]) -> int:
        """The frame for the requested time: the last step <= t (ParaView's convention)."""
        return timesteps.snap_index(times, timesteps.requested_time(outInfo.GetInformationObject(0)))

    # --- error reporting ---------------------------------------------------------------
    def _guard(self, fn: Callable[..., int], *args: Any) -> int:
        try:
            self.last_error = None
            return fn(*args)
        except FileNotFoundError as exc:
            self._report(str(exc))
        except OSError as exc:  # h5py: a file damaged between two reads
            self._report(f"{self._file_name} could not be read ({exc}); check the file and reload it")
        except Exception as exc:  # user errors name their fix; a bug keeps its traceback; never a crash
            self._report(failure_text(exc))
        return 0

    def RequestInformation(self, request, inInfo, outInfo):
        self._info_ok = False
        self._info_ok = bool(self._guard(self._information, outInfo))
        return int(self._info_ok)

    def RequestData(self, request, inInfo, outInfo):
        if not self._info_ok:
            # the problem was reported once already: an empty output, not a second error
            from vtkmodules.vtkCommonDataModel import vtkDataObject

            out = outInfo.GetInformationObject(0).Get(vtkDataObject.DATA_OBJECT())
            if out is not None:
                out.Initialize()
            return 1
        return self._guard(self._data, outInfo)

    def _information(self, outInfo) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _data(self, outInfo) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

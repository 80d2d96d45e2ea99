"""How the ECHO VTK algorithms (EchoRollout, EchoTrain, the readers) tell the user something: one place.

ParaView shows vtkOutputWindow text in Output Messages; error and warning text opens that window,
plain text does not. Two rules hold for every algorithm:
- nothing raises out of a Request* method or a command (ParaView would print a Python traceback and
  leave the pipeline half-updated), and a report itself never takes ParaView down;
- a user's mistake (`EchoUserError`) or a file problem (`OSError`) is reported as its message, which
  names the fix; anything else is a bug and is reported with its traceback, to be reported upstream.

Example
-------
>>> from echo_model.errors import EchoUserError
>>> failure_text(EchoUserError("no model file: set Checkpoint"))
'no model file: set Checkpoint'
>>> failure_text(KeyError("x")).startswith("unexpected KeyError")
True
"""
from __future__ import annotations

import traceback

from vtkmodules.vtkCommonCore import vtkCommand, vtkOutputWindow

from echo_model.errors import EchoUserError


def failure_text(exc: BaseException) -> str:
    """The message for an exception caught at a VTK boundary (call it inside the `except` block)."""
    if isinstance(exc, (EchoUserError, OSError)):
        return str(exc)
    return (f"unexpected {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
            "(please report this with the traceback)")


def _display(kind: str, text: str) -> None:
    try:
        window = vtkOutputWindow.GetInstance()
        {"error": window.DisplayErrorText, "warning": window.DisplayWarningText,
         "text": window.DisplayText}[kind](text)
    except Exception:  # the report itself must never take ParaView down
        pass


class VTKMessages:
    """Mixin for a VTKPythonAlgorithmBase: `_report` (an error), `_show_warning`, `_show_text`.

    `messages_from` is the name after "In" (ParaView's own "ERROR: In <class>: ..." form);
    `last_error` keeps the last error for scripts and tests.
    """

    messages_from = "Echo"
    last_error: str | None = None

    def _report(self, problem: str) -> None:
        """vtkErrorMacro's equivalent: Output Messages and an ErrorEvent; never raises."""
        self.last_error = problem
        text = f"ERROR: In {self.messages_from}: {problem}\n"
        _display("error", text)
        try:
            self.InvokeEvent(vtkCommand.ErrorEvent, text)
        except Exception:
            pass

    def _show_warning(self, message: str) -> None:
        """Warning text: opens Output Messages (a report the user asked for, or a caveat)."""
        _display("warning", f"Warning: In {self.messages_from}: {message}\n")

    def _show_text(self, message: str) -> None:
        """An informative line; it does not pop Output Messages up."""
        _display("text", f"{self.messages_from}: {message}\n")

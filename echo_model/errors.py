"""The error bases of the project.

`EchoUserError` is a problem the user can fix (bad input, a wrong file, an impossible setting):
its message names what is wrong, where (file, property, option) and what to do. The CLI prints it
without a traceback, the ParaView filters put it in Output Messages, the trainer stops with it.
Anything else that escapes is a bug and keeps its traceback.

`EchoUserError` is deliberately not a `ValueError`: the boundaries catch `EchoUserError` (and
`OSError` for files) only, so a `ValueError`, `KeyError` or `IndexError` from a bug in numpy code is
reported with its traceback instead of looking like the user's mistake.
"""
from __future__ import annotations


class EchoError(Exception):
    """The base of every exception the project raises on purpose."""


class EchoUserError(EchoError):
    """A problem the user can fix; the message names the problem and the fix.

    Example
    -------
    >>> from echo_model.errors import EchoUserError
    >>> isinstance(EchoUserError("x"), ValueError)
    False
    """


__all__ = ["EchoError", "EchoUserError"]

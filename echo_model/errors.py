"""The one error base of the project.

`EchoUserError` is a problem the user can fix (bad input, a wrong file, an impossible setting):
its message names what is wrong, where (file, property, option) and what to do. The CLI prints it
without a traceback, the ParaView filters put it in Output Messages, the trainer stops with it.
Anything else that escapes is a bug and keeps its traceback.

It derives from ValueError so that callers written against plain ValueError still catch it.
"""
from __future__ import annotations


class EchoUserError(ValueError):
    """A problem the user can fix; the message names the problem and the fix."""


__all__ = ["EchoUserError"]

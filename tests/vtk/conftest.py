"""Fixtures shared by the plain-VTK tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def errors():
    """Capture VTK's output window (where the algorithms' errors go) for one test."""
    core = pytest.importorskip("vtkmodules.vtkCommonCore")
    old = core.vtkOutputWindow.GetInstance()
    win = core.vtkStringOutputWindow()
    core.vtkOutputWindow.SetInstance(win)
    yield win
    core.vtkOutputWindow.SetInstance(old)

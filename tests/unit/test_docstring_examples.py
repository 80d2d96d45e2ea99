"""The Example sections of the public types run as written (doctest)."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["echo_model.nn.autoencoder", "echo_model.nn.dit", "echo_model.data.normalize",
           "echo_model.data.trajectory", "echo_model.cases.cylinder_mesh"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_in_docstrings_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no Example to run"
    assert result.failed == 0

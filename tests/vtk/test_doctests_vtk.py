"""Every docstring example in echo_paraview runs (doctest, plain VTK), and the two VTK algorithms have one."""
from __future__ import annotations

import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")

import torch  # noqa: E402
from doctest_examples import assert_documented, module_examples, modules_with_examples, run_doctests  # noqa: E402

torch.set_num_threads(1)

PUBLIC_API = [
    "echo_paraview.rollout_filter.EchoRolloutAlgorithm",
    "echo_paraview.train_filter.EchoTrainAlgorithm",
]


@pytest.mark.parametrize("target", PUBLIC_API)
def test_public_api_is_documented_with_an_example(target):
    assert_documented(target)


@pytest.mark.parametrize("module", modules_with_examples("echo_paraview"))
def test_docstring_examples_run(module, monkeypatch):
    assert run_doctests(module_examples(module), monkeypatch) > 0

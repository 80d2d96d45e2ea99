"""Every docstring example in echo_model runs (doctest), and the public API has one each."""
from __future__ import annotations

import pytest
import torch
from doctest_examples import assert_documented, module_examples, modules_with_examples, run_doctests

torch.set_num_threads(1)

PUBLIC_API = [
    "echo_model.rollout.Surrogate.load",
    "echo_model.rollout.Surrogate.rollout",
    "echo_model.data.store.write_dataset",
    "echo_model.data.store.TrajectoryStore",
    "echo_model.tasks.interpolate",
    "echo_model.tasks.inverse",
    "echo_model.tasks.reconstruct",
    "echo_model.tasks.sample",
    "echo_model.tasks.run_task",
]


@pytest.mark.parametrize("target", PUBLIC_API)
def test_public_api_is_documented_with_an_example(target):
    assert_documented(target)


@pytest.mark.parametrize("module", modules_with_examples("echo_model"))
def test_docstring_examples_run(module, monkeypatch):
    assert run_doctests(module_examples(module), monkeypatch) > 0

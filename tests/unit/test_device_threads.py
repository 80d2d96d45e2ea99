"""echo_model.device, echo_model.threads and flow.SAMPLER_EVALS: the shared helpers behave as documented."""
from __future__ import annotations

import pytest
import torch

from echo_model import flow
from echo_model.device import resolve_device
from echo_model.errors import EchoUserError
from echo_model.threads import apply_omp_policy, set_threads, torch_threads


def test_resolve_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected and resolve_device(None).type == expected
    with pytest.raises(EchoUserError, match="--device 'gpu0' is not a device"):
        resolve_device("gpu0")


def test_cuda_without_gpu_names_the_setting_and_the_fix():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(EchoUserError, match="sees no CUDA GPU") as err:
        resolve_device("cuda:1", setting="Device")
    assert "Device is 'cuda:1'" in str(err.value) and "set Device to auto or cpu" in str(err.value)


def test_omp_policy_keeps_a_users_choice():
    assert apply_omp_policy({})["OMP_WAIT_POLICY"] == "PASSIVE"
    assert apply_omp_policy({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"


def test_thread_count_is_set_and_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0: unchanged
        assert torch.get_num_threads() == before
    set_threads(None)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("sampler", flow.SAMPLERS)
def test_sampler_evals_counts_network_evaluations(sampler):
    calls = []

    def model(x, cond, mask, tau, params):
        return torch.zeros_like(x)

    cond = torch.zeros(1, 2, 3, 4)
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    flow.sample(model, cond, mask, steps=3, sampler=sampler, on_step=lambda: calls.append(1))
    assert len(calls) == 3 * flow.SAMPLER_EVALS[sampler] == flow.sampler_evaluations(sampler, 3)
    with pytest.raises(EchoUserError, match="unknown sampler"):
        flow.sampler_evaluations("rk4", 3)

"""Speed paths of the rollout must not change results: the CPU conv2d form of the causal conv3d."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from echo_model.nn.causal import CausalConv

torch.set_num_threads(1)


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize("kt", [1, 3])
def test_causal_conv_cpu_path_equals_conv3d(padding_mode, kt):
    torch.manual_seed(kt)
    conv = CausalConv(2, 6, 10, kt, 3, padding_mode)
    x = torch.randn(2, 6, 5, 9, 7, requires_grad=True)
    fast = conv(x)  # CPU: one conv2d over the stacked time taps
    x_ref = x.detach().clone().requires_grad_(True)
    ref = conv.conv(F.pad(x_ref, (0, 0, 0, 0, kt - 1, 0)) if kt > 1 else x_ref)  # the plain conv3d
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    assert fast.shape == (2, 10, 5, 9, 7)
    fast.square().sum().backward()
    g_fast = [x.grad.clone()] + [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    ref.square().sum().backward()
    g_ref = [x_ref.grad] + [p.grad for p in conv.parameters()]
    for a, b in zip(g_fast, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)

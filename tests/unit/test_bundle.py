"""The one model-file format: safetensors + JSON header, never pickle."""
import json

import pytest
import torch

from echo_model.bundle import flatten_state, load_tensors, read_meta, save_tensors, unflatten_state
from echo_model.errors import EchoUserError


def test_round_trip_tensors_and_meta(tmp_path):
    net = torch.nn.Linear(3, 2)
    path = save_tensors(tmp_path / "m.safetensors", net.state_dict(), {"config": {"width": 3}, "dt": 0.1})
    tensors, meta = load_tensors(path)
    assert meta["config"] == {"width": 3} and meta["dt"] == 0.1 and meta["format"] == "echo-model"
    net2 = torch.nn.Linear(3, 2)
    net2.load_state_dict(tensors)
    x = torch.randn(4, 3)
    assert torch.equal(net(x), net2(x))


def test_optimizer_state_survives_flattening(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    tensors, skel = flatten_state(opt.state_dict(), "opt")
    path = save_tensors(tmp_path / "ckpt.safetensors", tensors, {"opt": skel})
    loaded, meta = load_tensors(path)
    state = unflatten_state(json.loads(json.dumps(meta["opt"])), loaded)
    opt2 = torch.optim.AdamW(net.parameters(), lr=1e-3)
    opt2.load_state_dict(state)
    a, b = opt.state_dict()["state"][0], opt2.state_dict()["state"][0]
    assert torch.equal(a["exp_avg"], b["exp_avg"]) and float(a["step"]) == float(b["step"])


def test_foreign_files_are_refused_with_a_reason(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(EchoUserError, match="without an ECHO header"):
        read_meta(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(EchoUserError, match="not a safetensors file"):
        read_meta(junk)
    with pytest.raises(FileNotFoundError):
        read_meta(tmp_path / "none.safetensors")

"""EchoRollout's parameter check: out-of-range values are reported, float32-stored ranges are not mistaken."""
from __future__ import annotations

import numpy as np

from echo_model.fitcheck import ParamUse, check_parameters


def _meta(lo: list[float], hi: list[float]) -> dict:
    # the model file stores the training range in float32, as training writes it
    return {"param_min": [float(np.float32(v)) for v in lo], "param_max": [float(np.float32(v)) for v in hi]}


def test_a_parameter_constant_in_training_is_inside_its_float32_range():
    meta = _meta([53.7, 0.001], [195.7, 0.001])
    used = {"Re": ParamUse(100.0, "Parameters property"), "nu": ParamUse(0.001, "Parameters property")}
    assert check_parameters(meta, ["Re", "nu"], [120.0, 0.001], [46.0, 1.0], used) == []


def test_a_parameter_just_outside_the_training_range_is_reported():
    meta = _meta([0.1577], [0.3991])
    out = check_parameters(meta, ["cx"], [0.27], [0.075], {"cx": ParamUse(0.1507, "Parameters property")})
    assert len(out) == 1 and "cx = 0.1507" in out[0] and "outside the training range" in out[0]

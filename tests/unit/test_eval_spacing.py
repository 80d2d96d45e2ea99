"""`echopv eval` compares frames at the model's dt, never frame k with frame k silently."""
from __future__ import annotations

import pytest


def test_eval_frame_spacing_is_checked_against_the_model_dt():
    from echo_model.errors import EchoUserError
    from echo_model.evaluate import frame_stride

    assert frame_stride(0.5, 0.5) == 1 and frame_stride(0.5, 0.125) == 4
    with pytest.raises(EchoUserError, match="0.3 s apart but the model steps 0.5 s"):
        frame_stride(0.5, 0.3, "d.h5")
    with pytest.raises(EchoUserError, match="re-export"):
        frame_stride(0.025, 0.5)  # a coarser dataset cannot be compared frame by frame

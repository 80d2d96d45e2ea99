"""A NaN or Inf never leaves a rollout as a result: the Surrogate refuses to return it."""
import numpy as np
import pytest
import torch

from echo_model.data.normalize import ChannelStats
from echo_model.errors import EchoUserError
from echo_model.rollout import create_untrained

torch.set_num_threads(1)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_rollout_output_with_inf_is_refused():
    pts = np.random.default_rng(0).uniform(0, 1, (40, 2))
    obs = np.zeros((1, 40, 1), np.float32)
    ok = create_untrained([("p", 1)], 2)
    assert np.isfinite(ok.rollout(pts, obs, 2).mean).all()
    # a model whose de-normalisation overflows float32 (a damaged or absurd header)
    bad = create_untrained([("p", 1)], 2, stats=ChannelStats(np.zeros(1), np.full(1, 1e300)))
    with pytest.raises(EchoUserError, match="produced NaN/Inf"):
        bad.rollout(pts, obs, 2)

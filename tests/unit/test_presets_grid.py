"""The automatic latent grid follows the domain's shape (a channel flow needs no --grid)."""
from __future__ import annotations

import doctest

import echo_model.presets as presets
from echo_model.presets import grid_for_domain


def test_doctest():
    assert doctest.testmod(presets).failed == 0


def test_square_and_cubic_domains_keep_the_preset_grid():
    assert grid_for_domain((32, 32), (3.0, 3.0), 4) == (32, 32)
    assert grid_for_domain((16, 16, 16), (1, 1, 1), 4) == (16, 16, 16)


def test_elongated_domains_get_square_cells_with_a_floor_on_the_short_axis():
    assert grid_for_domain((32, 32), (2.2, 0.41), 4) == (64, 16)
    assert grid_for_domain((32, 32), (0.41, 2.2), 4) == (16, 64)
    g = grid_for_domain((32, 32), (100.0, 1.0), 4)
    assert g[1] == 16 and g[0] % 4 == 0  # never fewer than 4 latent nodes
    assert grid_for_domain((32, 32, 32), (4.0, 1.0, 1.0), 4) == (80, 20, 20)  # ~ the same node count
    assert grid_for_domain((16, 16, 16), (4.0, 1.0, 1.0), 4) == (16, 16, 16)  # the floor binds: kept


def test_the_automatic_grid_gives_a_latent_every_dit_preset_can_patch():
    """A 7.88 x 3.88 domain (OpenFOAM's porousBlockage tutorial) got a 44 x 24 grid, latent 11 x 6:
    the autoencoder trained, then `train all` stopped at stage 3 ("not divisible by the DiT patch")."""
    import numpy as np

    from echo_model.data.normalize import ChannelStats, Domain
    from echo_model.data.store import DatasetInfo
    from echo_model.nn.dit import DIT_PRESETS
    from echo_model.train.runs import AutoencoderRun
    from echo_model.train.stage_ae import build_autoencoder

    info = DatasetInfo(name="d", field_layout=[("U", 2), ("p", 1)], n_trajectories=1,
                       domain=Domain(lo=np.array([-2.0, -2.0]), hi=np.array([5.88, 1.88])),
                       stats=ChannelStats(np.zeros(3), np.ones(3)), split={"train": np.array([0])})
    ae = build_autoencoder(AutoencoderRun(data="d.h5", run="r"), info)
    latent = ae.config.latent_grid
    for name, dit in DIT_PRESETS.items():
        assert all(g % dit.patch_space == 0 for g in latent), (name, latent)

"""echo_model.fitcheck.prepare_rollout: the one set of fit checks the CLI, the pyvista API and (piece by
piece) EchoRollout run before a rollout."""
from types import SimpleNamespace

import numpy as np
import pytest

from echo_model.data.normalize import Domain
from echo_model.fitcheck import FitError, ParamUse, prepare_rollout


def _model(**kw):
    base = dict(dt=0.1, domain=Domain([0, 0], [1, 1]), param_names=["Re"], param_mean=[100.0], param_std=[30.0],
                meta={"train_horizon_frames": 8})
    return SimpleNamespace(**{**base, **kw})


def _points(lo=0.0, hi=1.0, n=100):
    return np.random.default_rng(0).uniform(lo, hi, (n, 2))


def test_a_fitting_input_has_no_warnings_and_keeps_its_parameters():
    check = prepare_rollout(_model(), _points(), 8, params={"Re": ParamUse(120.0, "test")}, times=[0.0, 0.1, 0.2])
    assert check.warnings == [] and check.values() == {"Re": 120.0} and check.params["Re"].source == "test"


def test_each_check_speaks():
    check = prepare_rollout(_model(), _points(0.0, 1.2), 9, times=[0.0, 0.2])
    text = "\n".join(check.warnings)
    assert "outside the model's training domain" in text  # the mesh
    assert "time spacing is 0.2 but the model's dt is 0.1" in text  # the time steps
    assert "the forecast runs 9 frames" in text  # the horizon
    assert "parameter Re is not given" in text and check.values() == {"Re": 100.0}  # the training mean


@pytest.mark.parametrize("kw, params, text", [
    (dict(dt=0.0), {}, "dt = 0.0"),
    ({}, {"Rey": ParamUse(1.0, "test")}, "conditioned on ['Re']"),
    ({}, {"Re": ParamUse(float("nan"), "test")}, "not a finite number"),
    ({}, {"Re": ParamUse(1e4, "test")}, "cannot extrapolate that far"),
])
def test_what_cannot_mean_anything_is_refused(kw, params, text):
    with pytest.raises(FitError, match=text.replace("[", r"\[").replace("]", r"\]")):
        prepare_rollout(_model(**kw), _points(), 4, params=params)


def test_a_mesh_far_outside_the_domain_is_refused():
    with pytest.raises(FitError, match="cannot predict there"):
        prepare_rollout(_model(), _points(5.0, 6.0), 4)

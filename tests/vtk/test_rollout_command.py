"""`echopv rollout` writes a .pvd + .vtu series that reads back (plain VTK, untrained tiny model)."""
import json

import numpy as np
import pytest
import torch

from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.rollout import create_untrained
from echo_paraview.cli import main as echopv
from echo_paraview.io.pvd import read_series, write_pvd

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rollcmd")
    n = 10
    x = np.arange(n) / (n - 1) * 2.0
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    f = np.stack([np.cos(pts[:, 0] + 0.1 * t) for t in range(4)])[..., None].repeat(2, -1)
    traj = Trajectory(pts, f, 10.0 + 0.1 * np.arange(4), [("U", 2)], params={"nu": 0.01})
    data = tmp / "d.h5"
    write_dataset(data, [traj], name="t", domain=Domain([0, 0], [2, 2]))
    model = tmp / "m.safetensors"
    create_untrained([("U", 2)], 2, domain=Domain([0, 0], [2, 2]), dt=0.1, param_names=["nu"]).save(model)
    pvd = write_pvd(traj, tmp / "input.pvd")
    return tmp, data, model, pvd


def test_rollout_from_dataset_with_ensemble(files):
    tmp, data, model, _ = files
    out = tmp / "out1"
    assert echopv(["rollout", str(model), "--dataset", str(data), "--traj", "0", "--start", "2", "--frames", "5",
                   "--samples", "2", "--out", str(out)]) == 0
    pred = read_series(out / "prediction.pvd")
    assert pred.n_frames == 5 and pred.n_points == 100
    names = [n for n, _ in pred.field_layout]
    assert "U" in names and "U_std" in names
    np.testing.assert_allclose(pred.times, 10.2 + 0.1 * np.arange(1, 6), atol=1e-9)
    info = json.loads((out / "prediction.json").read_text())
    assert info["n_samples"] == 2


def test_rollout_from_pvd_on_query_mesh(files):
    tmp, _, model, pvd = files
    q = np.random.default_rng(0).uniform(0, 2, (30, 2))
    qtraj = Trajectory(q, np.zeros((1, 30, 1), np.float32), [0.0], [("dummy", 1)])
    mesh = write_pvd(qtraj, tmp / "query.pvd")
    vtu = sorted((tmp / "query").glob("*.vtu"))[0]
    out = tmp / "out2"
    assert echopv(["rollout", str(model), "--input", str(pvd), "--query-mesh", str(vtu), "--out", str(out),
                   "--frames", "3", "--name", "p"]) == 0
    pred = read_series(out / "p.pvd")
    assert pred.n_frames == 3 and pred.n_points == 30 and pred.field_layout == [("U", 2)]
    assert mesh.exists()


def test_rollout_errors(files, capsys):
    tmp, data, model, _ = files
    assert echopv(["rollout", str(model), "--dataset", str(data), "--start", "4", "--out", str(tmp / "o")]) == 2
    assert "lower --start" in capsys.readouterr().err


@pytest.mark.parametrize("extra, text", [
    (["--start", "4"], "lower --start"),
    (["--traj", "1"], "give 0 to 0"),
    (["--other-fields"], "give a dataset with the model's fields"),
], ids=["start", "traj", "fields"])
def test_rollout_input_mistakes_are_user_errors(files, extra, text):
    """Raised as EchoUserError by the command itself (not a ValueError that only the CLI turns into one line)."""
    import argparse

    from echo_model.errors import EchoUserError
    from echo_paraview import rollout_command

    tmp, data, model, _ = files
    if extra == ["--other-fields"]:
        other = tmp / "other_fields.h5"
        pts = np.random.default_rng(0).uniform(0, 2, (20, 2))
        write_dataset(other, [Trajectory(pts, np.zeros((4, 20, 1), np.float32), 0.1 * np.arange(4), [("p", 1)])],
                      name="o", domain=Domain([0, 0], [2, 2]))
        data, extra = other, []
    parser = argparse.ArgumentParser()
    rollout_command.add_arguments(parser)
    args = parser.parse_args([str(model), "--dataset", str(data), "--out", str(tmp / "o"), *extra])
    with pytest.raises(EchoUserError, match=text):
        rollout_command.run(args)


def test_rollout_past_the_training_horizon_warns_and_still_writes(files, capsys):
    tmp, data, _, _ = files
    sur = create_untrained([("U", 2)], 2, domain=Domain([0, 0], [2, 2]), dt=0.1, param_names=["nu"])
    sur.meta["train_horizon_frames"] = 4
    model = sur.save(tmp / "m_horizon.safetensors")
    for frames, warned in ((4, False), (5, True)):
        out = tmp / f"out_h{frames}"
        assert echopv(["rollout", str(model), "--dataset", str(data), "--frames", str(frames), "--out", str(out)]) == 0
        err = capsys.readouterr().err
        assert ("warning: the forecast runs 5 frames (0.5 time units) but the longest training trajectory spans "
                "4 frames" in err) is warned
        assert read_series(out / "prediction.pvd").n_frames == frames


def test_rollout_runs_the_fit_checks_of_the_filter(files, capsys):
    """The CLI calls echo_model.fitcheck.prepare_rollout: the mesh against the training domain, the
    dataset's parameters against the training range (before, it checked only the horizon)."""
    tmp, data, _, _ = files
    sur = create_untrained([("U", 2)], 2, domain=Domain([0, 0], [1, 1]), dt=0.1, param_names=["nu"])
    model = sur.save(tmp / "m_small_domain.safetensors")
    assert echopv(["rollout", str(model), "--dataset", str(data), "--frames", "2", "--out", str(tmp / "o_dom")]) == 2
    err = capsys.readouterr().err
    assert "outside the model's training domain" in err and "Traceback" not in err
    near = create_untrained([("U", 2)], 2, domain=Domain([0, 0], [1.9, 2]), dt=0.1, param_names=["nu"])
    near.meta.update(param_mean=[0.012], param_std=[0.0005])
    model = near.save(tmp / "m_near.safetensors")
    assert echopv(["rollout", str(model), "--dataset", str(data), "--frames", "2", "--out", str(tmp / "o_near")]) == 0
    err = capsys.readouterr().err
    assert "warning: 10.0% of the input's points lie outside the model's training domain" in err
    assert "warning: parameter nu = 0.01 (from the input's parameters) is outside the training mean +- 2 std" in err

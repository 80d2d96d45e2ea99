"""pyvista_api.rollout(task=...): the tasks beyond the forecast on the committed vorticity model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pv = pytest.importorskip("pyvista")

from echo_model.data.store import TrajectoryStore  # noqa: E402
from echo_model.errors import EchoUserError  # noqa: E402
from echo_model.rollout import create_untrained  # noqa: E402
from echo_paraview import pyvista_api as epv  # noqa: E402

torch.set_num_threads(1)
MODEL = "sample_cases/ns2d_vorticity/model_tiny.safetensors"
DATA = "sample_cases/ns2d_vorticity/ns2d_64.h5"


@pytest.fixture(scope="module")
def traj():
    with TrajectoryStore(DATA) as store:
        return store[20]


def test_interpolate_saved_meshes(traj):
    saved = [epv.read_dataset(DATA, 20, time=float(t)) for t in traj.times[0:9:4]]
    series = epv.rollout(saved, MODEL, task="interpolate", steps=2)  # the gap from their TimeValue
    assert series.n_blocks == 9
    assert epv.time_values(series) == pytest.approx(list(traj.times[:9]))
    np.testing.assert_array_equal(series[4]["vorticity_pred"], traj.fields[4, :, 0])
    assert not np.array_equal(series[2]["vorticity_pred"], traj.fields[2, :, 0])
    for m in saved:  # without times: gap= says how far apart they are
        m.field_data.remove("TimeValue")
    series = epv.rollout(saved, MODEL, task="interpolate", gap=4, steps=2)
    assert epv.time_values(series) == pytest.approx(list(0.5 * np.arange(9)))
    with pytest.raises(EchoUserError, match="pass gap="):
        epv.rollout(saved, MODEL, task="interpolate")


def test_sample_and_reconstruct(traj):
    mesh = epv.read_dataset(DATA, 20)
    series = epv.rollout(mesh, MODEL, n_frames=3, task="sample", n_samples=2, steps=2)
    assert series.n_blocks == 3 and "vorticity_std" in series[0].point_data
    probes = np.arange(0, 4096, 10)
    cloud = pv.PolyData(np.c_[traj.points[probes], np.zeros(len(probes))])
    frames = []
    for t in range(2):
        c = cloud.copy()
        c.point_data["vorticity"] = traj.fields[t, probes, 0]
        frames.append(c)
    series = epv.rollout(frames, MODEL, task="reconstruct", query=mesh)
    assert series.n_blocks == 2 and series[1].n_points == 4096
    err = np.linalg.norm(series[1]["vorticity_pred"] - traj.fields[1, :, 0]) / np.linalg.norm(traj.fields[1])
    assert err < 0.05


def test_a_task_the_model_was_not_trained_for_is_refused(tmp_path):
    sur = create_untrained([("vorticity", 1)], 2, param_names=["nu"])
    sur.meta["task_probs"] = {"forward": 1.0, "inverse": 0.0, "interpolation": 0.0, "unconditional": 0.0}
    model = sur.save(tmp_path / "m.safetensors")
    with pytest.raises(EchoUserError, match="task 'inverse'.*inverse mask"):
        epv.rollout(epv.read_dataset(DATA, 0), model, task="inverse")

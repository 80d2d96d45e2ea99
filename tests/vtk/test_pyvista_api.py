"""The pyvista entry point: a pyvista mesh (written and read back with pyvista) rolled forward."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pv = pytest.importorskip("pyvista")

from echo_model.errors import EchoUserError  # noqa: E402
from echo_model.io_well import read_well as import_well, write_well  # noqa: E402
from echo_paraview import pyvista_api as epv  # noqa: E402
from echo_paraview.rollout_filter import EchoRolloutAlgorithm  # noqa: E402
from reader_files import grid_trajectory, write_small_dataset  # noqa: E402


@pytest.fixture
def sphere_file(tmp_path):
    mesh = pv.Sphere(theta_resolution=12, phi_resolution=10)
    mesh.point_data["p"] = mesh.points[:, 0] + 2 * mesh.points[:, 2]
    path = tmp_path / "sphere.vtp"
    mesh.save(path)
    return path


def test_rollout_of_a_pyvista_mesh(sphere_file, model_file, tmp_path):
    mesh = pv.read(sphere_file)
    series = epv.rollout(mesh, model_file, n_frames=3, seed=1)
    assert isinstance(series, pv.MultiBlock) and series.n_blocks == 4
    assert epv.time_values(series) == pytest.approx([0.0, 0.25, 0.5, 0.75])  # the test model's dt
    assert series.keys()[1] == "t=0.25"
    first, last = series[0], series[3]
    assert isinstance(first, pv.PolyData) and first.n_points == mesh.n_points
    np.testing.assert_allclose(first["p_pred"], mesh["p"], atol=1e-6)  # step 0: the input itself
    assert np.isfinite(last["p_pred"]).all() and not np.allclose(last["p_pred"], first["p_pred"])
    # the same VTK algorithm ParaView runs, fed directly: identical values
    alg = EchoRolloutAlgorithm()
    alg.SetInputData(mesh)
    alg.SetCheckpoint(str(model_file))
    alg.SetNumberOfFrames(3)
    alg.SetSeed(1)
    alg.SetDevice("cpu")
    alg.UpdateInformation()
    alg.UpdateTimeStep(0.75)
    direct = pv.wrap(alg.GetOutputDataObject(0))
    np.testing.assert_array_equal(direct["p_pred"], last["p_pred"])
    # saved and read back with pyvista
    series.save(tmp_path / "pred.vtm")
    back = pv.read(tmp_path / "pred.vtm")
    assert epv.time_values(back) == pytest.approx(epv.time_values(series))
    np.testing.assert_allclose(back[3]["p_pred"], last["p_pred"])


def test_rollout_accepts_a_file_name_and_reports_errors(sphere_file, model_file):
    series = epv.rollout(str(sphere_file), model_file, n_frames=1)
    assert series.n_blocks == 2
    with pytest.raises(EchoUserError, match="EchoRollout"):
        epv.rollout(pv.Sphere(), model_file, n_frames=1)  # no point field p
    with pytest.raises(EchoUserError, match="does not exist"):
        epv.rollout(pv.read(sphere_file), "missing.safetensors", n_frames=1)


def test_read_dataset_and_well_as_pyvista(tmp_path):
    ds = write_small_dataset(tmp_path / "d.h5", n_traj=2, n_frames=3)
    frame = epv.read_dataset(ds, trajectory=1, time=0.8)
    assert isinstance(frame, pv.UnstructuredGrid) and frame.n_points == 30
    assert frame.field_data["param_Re"][0] == pytest.approx(101.0)
    assert frame.field_data["TimeValue"][0] == pytest.approx(0.75)  # last step <= 0.8
    well = write_well(tmp_path / "w.hdf5", [grid_trajectory(0, (7, 5))])
    grid = epv.read_well(well)
    assert isinstance(grid, pv.ImageData) and grid.dimensions == (7, 5, 1)
    ref = import_well(well)[0]
    np.testing.assert_array_equal(np.sort(grid["p"]), np.sort(ref.field("p")[0]))
    with pytest.raises(EchoUserError, match="Trajectory is 5"):
        epv.read_dataset(ds, trajectory=5)


def test_pyvista_is_imported_lazily():
    code = "import sys, echo_paraview.pyvista_api, echo_paraview.readers; print('pyvista' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

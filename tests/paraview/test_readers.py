"""The readers inside Debian's ParaView (pvpython through the launcher, plugins auto-loaded).

File > Open detection (`OpenDataFile`), each reader on the committed sample files and on a Well
file written by the project's writer, laziness, a corrupt file, and EchoDatasetReader ->
EchoRollout -> SaveData without `echopv export`. Scripts save arrays as .npy under tmp_path;
the comparisons run here, against the project's own readers (TrajectoryStore, read_well).
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from echo_model.data.store import TrajectoryStore
from echo_model.io_well import read_well, write_well
from reader_files import grid_trajectory, write_small_dataset

pytestmark = pytest.mark.paraview

REPO = Path(__file__).resolve().parents[2]
NS2D = REPO / "sample_cases/ns2d_vorticity/ns2d_64.h5"
CYL = REPO / "sample_cases/cylinder/cylinder_coarse.h5"
MODEL = REPO / "sample_cases/ns2d_vorticity/model_tiny.safetensors"


def _result(run) -> dict:
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT:")]
    assert lines, f"no RESULT line (rc={run.returncode})\n{run.output[-4000:]}"
    return json.loads(lines[-1][len("RESULT:"):])


DETECT = r'''
import json, os
from paraview.simple import *
res = {{}}
for f in {files!r}:
    try:
        r = OpenDataFile(f)
        res[os.path.basename(f)] = r.GetXMLName() if r is not None else None
    except RuntimeError as e:  # 5.11 raises when no reader accepts the file
        res[os.path.basename(f)] = "none: " + str(e)[:60]
print("RESULT:" + json.dumps(res))
'''


def test_open_data_file_picks_the_right_reader(run_pv, tmp_path):
    import h5py

    ds = write_small_dataset(tmp_path / "echo.h5", n_traj=1)
    well_h5 = write_well(tmp_path / "well.h5", [grid_trajectory(0)])  # The Well under ECHO's extension
    well_hdf5 = write_well(tmp_path / "well.hdf5", [grid_trajectory(1)])
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["data"] = np.zeros(4)
    other = tmp_path / "other.safetensors"
    header = json.dumps({"__metadata__": {"x": "1"}}).encode()
    other.write_bytes(len(header).to_bytes(8, "little") + header)
    files = [str(p) for p in (ds, well_h5, well_hdf5, tmp_path / "plain.h5", MODEL, other)]
    run = run_pv("pvpython", DETECT.format(files=files))
    assert run.returncode == 0, run.output[-4000:]
    res = _result(run)
    assert res["echo.h5"] == "EchoDatasetReader"
    assert res["well.h5"] == "WellReader" and res["well.hdf5"] == "WellReader"
    assert res["model_tiny.safetensors"] == "EchoModelReader"
    # other HDF5 / safetensors files are left to other readers (none of ours takes them)
    assert res["plain.h5"] not in ("EchoDatasetReader", "WellReader")
    assert res["other.safetensors"] != "EchoModelReader"


SAMPLES = r'''
import json, os
import numpy as np
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy
out, res = {out!r}, {{}}

def save(tag, proxy, t, names):
    proxy.UpdatePipeline(t)
    d = sm.Fetch(proxy)
    for n in names:
        np.save(os.path.join(out, f"{{tag}}_{{n}}.npy"), vtk_to_numpy(d.GetPointData().GetArray(n)))
    fd = d.GetFieldData()
    return d, {{fd.GetAbstractArray(i).GetName(): str(fd.GetAbstractArray(i).GetVariantValue(0).ToString())
               for i in range(fd.GetNumberOfArrays())}}

ns = EchoDatasetReader(FileName={ns2d!r}, Trajectory=5)
ns.UpdatePipelineInformation()
res["ns_times"] = list(ns.TimestepValues)
ns.UpdatePropertyInformation()
res["ns_info"] = ns.GetProperty("TrajectoryInfo").GetElement(0)
d, res["ns_fd"] = save("ns", ns, res["ns_times"][7], ["vorticity"])
res["ns_cls"], res["ns_cells"] = d.GetClassName(), d.GetNumberOfCells()
res["ns_arrays"] = list(ns.PointArrays)

cyl = OpenDataFile({cyl!r})
cyl.UpdatePipelineInformation()
res["cyl_times"] = list(cyl.TimestepValues)
d, res["cyl_fd"] = save("cyl", cyl, res["cyl_times"][-1], [n for n in cyl.PointArrays])
res["cyl_ncomp"] = {{n: d.GetPointData().GetArray(n).GetNumberOfComponents() for n in cyl.PointArrays}}
res["cyl_cells"] = d.GetNumberOfCells()

w = WellReader(FileName={well!r}, Sample=1)
w.UpdatePipelineInformation()
res["well_times"] = list(w.TimestepValues)
d, res["well_fd"] = save("well", w, res["well_times"][2], ["u", "p", "S"])
res["well_cls"], res["well_dims"] = d.GetClassName(), list(d.GetDimensions())
res["well_ncomp"] = {{n: d.GetPointData().GetArray(n).GetNumberOfComponents() for n in ("u", "p", "S")}}

nu = OpenDataFile({wellnu!r})
nu.UpdatePipeline(0.5)
d = nu.GetClientSideObject().GetOutputDataObject(0)  # 5.11's Fetch pads a rectilinear grid's
res["wellnu_cls"], res["wellnu_x"] = d.GetClassName(), vtk_to_numpy(d.GetXCoordinates()).tolist()  # coordinates
np.save(os.path.join(out, "wellnu_U.npy"), vtk_to_numpy(d.GetPointData().GetArray("U")))

lazy = EchoDatasetReader(FileName={long!r}, Trajectory=1)
lazy.UpdatePipelineInformation()
alg = lazy.GetClientSideObject()  # builtin session: the Python algorithm itself
res["lazy_after_open"] = list(alg.frames_read)
lazy.UpdatePipeline(list(lazy.TimestepValues)[40])
res["lazy_after_update"] = [list(x) for x in alg.frames_read]

m = EchoModelReader(FileName={model!r})
m.UpdatePipeline()
t = sm.Fetch(m)
res["model_rows"] = {{t.GetColumn(1).GetValue(i): t.GetColumn(2).GetValue(i) for i in range(t.GetNumberOfRows())
                      if t.GetColumn(0).GetValue(i) == "summary"}}

bad = EchoDatasetReader(FileName={corrupt!r})
bad.UpdatePipeline()
print("ALIVE after a corrupt file", flush=True)
print("RESULT:" + json.dumps(res))
'''


def test_readers_on_sample_files(run_pv, tmp_path):
    trajs = [grid_trajectory(s, (7, 5), 4, (("u", 2), ("p", 1), ("S", 4))) for s in range(2)]
    well = write_well(tmp_path / "w.hdf5", trajs)
    long = write_small_dataset(tmp_path / "long.h5", n_traj=2, n_frames=100, shape=(4, 4))
    axes = [np.array([0.0, 0.1, 0.3, 0.7]), np.linspace(0, 1, 3), np.linspace(0, 2, 5)]  # x not uniform
    wellnu = write_well(tmp_path / "nonuniform.hdf5", [grid_trajectory(0, n_frames=3, layout=(("U", 3),),
                                                                       spacing=axes)])
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(NS2D.read_bytes()[:4000])
    run = run_pv("pvpython", SAMPLES.format(out=str(tmp_path), ns2d=str(NS2D), cyl=str(CYL), well=str(well),
                                           long=str(long), model=str(MODEL), corrupt=str(corrupt),
                                           wellnu=str(wellnu)))
    assert run.returncode == 0, run.output[-4000:]
    res = _result(run)
    load = lambda tag, n: np.load(tmp_path / f"{tag}_{n}.npy")  # noqa: E731

    with TrajectoryStore(NS2D) as store:
        assert res["ns_times"] == pytest.approx(store.times(5).tolist())
        np.testing.assert_array_equal(load("ns", "vorticity"), store.read_fields(5, [7])[0][:, 0])
        assert float(res["ns_fd"]["param_nu"]) == pytest.approx(store.params(5)["nu"])
        assert res["ns_cells"] == store.cells(5).n_cells
    assert res["ns_cls"] == "vtkUnstructuredGrid" and res["ns_arrays"] == ["vorticity"]
    assert res["ns_info"].startswith("trajectory 5 of 26 (")

    with TrajectoryStore(CYL) as store:  # OpenDataFile picked our reader; trajectory 0 by default
        assert res["cyl_times"] == pytest.approx(store.times(0).tolist())
        last = store.read_fields(0, [store.n_frames(0) - 1])[0]
        start = 0
        for name, k in store.info.field_layout:
            assert res["cyl_ncomp"][name] == k
            np.testing.assert_array_equal(load("cyl", name).reshape(-1, k), last[:, start:start + k])
            start += k
        cells = store.cells(0)  # this case stores no cells: one vertex per point
        assert res["cyl_cells"] == (cells.n_cells if cells is not None else store.n_points(0))
        for p, v in store.params(0).items():
            assert float(res["cyl_fd"][f"param_{p}"]) == pytest.approx(v)

    ref = read_well(well)[1]
    assert res["well_times"] == pytest.approx(ref.times.tolist())
    assert res["well_cls"] == "vtkImageData" and res["well_dims"] == [7, 5, 1]
    assert res["well_ncomp"] == {"u": 2, "p": 1, "S": 4}
    for name in ("u", "p", "S"):  # VTK order (x fastest) -> The Well's (y fastest)
        k = res["well_ncomp"][name]
        vtk_vals = load("well", name).reshape(5, 7, k).transpose(1, 0, 2).reshape(-1, k)
        np.testing.assert_array_equal(vtk_vals, ref.field(name)[2].reshape(ref.n_points, k))

    assert res["wellnu_cls"] == "vtkRectilinearGrid"
    np.testing.assert_allclose(res["wellnu_x"], axes[0], rtol=1e-6)
    ref_nu = read_well(wellnu)[0]  # t = 0.5 is frame 1; VTK order (x fastest) -> "ij" (z fastest)
    vtk_u = load("wellnu", "U").reshape(5, 3, 4, 3).transpose(2, 1, 0, 3).reshape(-1, 3)
    np.testing.assert_array_equal(vtk_u, ref_nu.field("U")[1])
    assert res["lazy_after_open"] == [] and res["lazy_after_update"] == [[1, 40]]
    assert res["model_rows"]["fields"] == "vorticity[1]" and res["model_rows"]["dt"] == "0.5"
    assert "ALIVE after a corrupt file" in run.output
    assert "ERROR: In EchoDatasetReader" in run.output and "cannot be read as HDF5" in run.output


PIPELINE = r'''
import json
from paraview.simple import *
ds = EchoDatasetReader(FileName={ns2d!r}, Trajectory={traj})
r = EchoRollout(Input=ds, Checkpoint={model!r}, NumberOfFrames=2, Device="cpu", NumberOfThreads=1)
r.UpdatePipelineInformation()
steps = list(r.TimestepValues)
predicted = r.GetClientSideObject().GetPredictedTimes()
SaveData({pvd!r}, proxy=r, WriteTimeSteps=1)
used = r.GetClientSideObject().GetUsedParameters()
print("RESULT:" + json.dumps({{"steps": steps, "predicted": list(predicted),
                              "used": {{k: list(v) for k, v in used.items()}}}}))
'''


def test_dataset_reader_into_rollout_and_save_data_without_export(run_pv, tmp_path):
    traj = 20
    pvd = tmp_path / "pred.pvd"
    run = run_pv("pvpython", PIPELINE.format(ns2d=str(NS2D), traj=traj, model=str(MODEL), pvd=str(pvd)),
                 timeout=400)
    assert run.returncode == 0, run.output[-4000:]
    res = _result(run)
    with TrajectoryStore(NS2D) as store:
        t0, nu = float(store.times(traj)[0]), store.params(traj)["nu"]
        reader_times = store.times(traj).tolist()
    assert res["predicted"] == pytest.approx([t0 + 0.5, t0 + 1.0])  # the model's dt from the first frame
    assert res["steps"] == pytest.approx(reader_times)  # the reader's own steps stay (forecast times among them)
    assert res["used"]["nu"][0] == pytest.approx(nu) and res["used"]["nu"][1] == "input field data param_nu"
    entries = ET.parse(pvd).getroot().findall(".//DataSet")
    assert [float(e.get("timestep")) for e in entries] == pytest.approx(res["steps"])
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridReader

    def arrays(entry) -> dict:
        rd = vtkXMLUnstructuredGridReader()
        rd.SetFileName(str(pvd.parent / entry.get("file")))
        rd.Update()
        pd = rd.GetOutput().GetPointData()
        return {pd.GetArrayName(i): vtk_to_numpy(pd.GetArray(i)) for i in range(pd.GetNumberOfArrays())}

    frames = [arrays(e) for e in entries]
    with TrajectoryStore(NS2D) as store:
        truth = store.read_fields(traj, [0, 1, 2])[:, :, 0]  # dataset frames are 0.5 apart, like the model's dt
    np.testing.assert_allclose(frames[0]["vorticity_pred"], truth[0], atol=1e-6)  # step 0 = the input frame
    for k in (1, 2):  # the reader's later frames reach the filter as the truth to compare with
        np.testing.assert_allclose(frames[k]["vorticity_truth"], truth[k], atol=1e-6)
        assert np.isfinite(frames[k]["vorticity_pred"]).all()
    assert not np.allclose(frames[1]["vorticity_pred"], frames[0]["vorticity_pred"])
    assert "ERROR" not in run.output, run.output[-4000:]

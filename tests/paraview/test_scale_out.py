"""EchoRollout on ParaView's own scale-out engines.

* pvserver: `echopv pvserver` (the launcher loads the plugin on the server), a pvpython client
  connects over loopback, applies EchoRollout to a file that the server reads, fetches the result;
  it equals the same pipeline in the client's builtin session.
* MPI pvbatch: `mpiexec -n 2 echopv pvbatch` on the cylinder case, the input partitioned across the
  ranks by RedistributeDataSet; EchoRollout gathers the field on rank 0, rolls out once and
  scatters back: every point's prediction equals the serial run's. A single-piece file read by two
  ranks (one of them empty) is refused on both ranks with the fix, instead of hanging.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.paraview
REPO = Path(__file__).resolve().parents[2]


def paraview_required() -> bool:  # as tests/conftest.py: CI sets it and then nothing may be skipped
    return os.environ.get("ECHOPV_REQUIRE_PARAVIEW", "") not in ("", "0")

PVSERVER_CLIENT = r'''
import json, sys
from paraview.simple import *
import paraview.servermanager as sm
from vtkmodules.util.numpy_support import vtk_to_numpy
port, ckpt, vtp = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def rollout():
    r = EchoRollout(Input=XMLPolyDataReader(FileName=[vtp]), Checkpoint=ckpt, NumberOfFrames=2, Device="cpu")
    r.UpdatePipelineInformation()
    times = list(r.TimestepValues)
    r.UpdatePipeline(times[-1])
    d = sm.Fetch(r)
    return r, times, vtk_to_numpy(d.GetPointData().GetArray("p_pred")).tolist()

_, builtin_times, builtin = rollout()
Connect("localhost", port)
r, times, remote = rollout()
print("RESULT:" + json.dumps({"remote": sm.ActiveConnection.IsRemote(), "times": times, "p_pred": remote,
                              "builtin_times": builtin_times, "builtin": builtin,
                              "algorithm_on_client": r.GetClientSideObject() is not None}))
'''

MPI_SCRIPT = r'''
import json, sys
from paraview.simple import *
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkParallelCore import vtkMultiProcessController
pvd, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]
c = vtkMultiProcessController.GetGlobalController()
rank, size = c.GetLocalProcessId(), c.GetNumberOfProcesses()
r = EchoRollout(Input=RedistributeDataSet(Input=PVDReader(FileName=pvd)), Checkpoint=ckpt, NumberOfFrames=3,
                NumberOfSamples=2, Device="cpu")
r.UpdatePipelineInformation()
r.UpdatePipeline(r.GetClientSideObject().GetPredictedTimes()[-1])  # the output also keeps the reader's steps
alg = r.GetClientSideObject()  # --symmetric: each rank's own piece
d = alg.GetOutputDataObject(0)
pd = d.GetPointData()
json.dump({"ranks": size, "n_rollouts": alg.n_rollouts, "points": vtk_to_numpy(d.GetPoints().GetData()).tolist(),
           **{k: vtk_to_numpy(pd.GetArray(k)).tolist() for k in ("p_pred", "U_pred", "p_std")}},
          open(f"{out}.{rank}.json", "w"))
'''


UNSPLIT_SCRIPT = r'''
import sys
from paraview.simple import *
r = EchoRollout(Input=PVDReader(FileName=sys.argv[1]), Checkpoint=sys.argv[2], NumberOfFrames=2, Device="cpu")
r.UpdatePipelineInformation()
r.UpdatePipeline(r.GetClientSideObject().GetPredictedTimes()[-1])
print("ALIVE", flush=True)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tool_args: list[str], env_extra: dict | None = None, mpi: int = 0, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "echo_paraview.cli", *tool_args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    if mpi:
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            if paraview_required():
                pytest.fail("mpiexec is missing (Debian's ParaView brings OpenMPI): run `bash scripts/setup.sh`")
            pytest.skip("mpiexec is not installed")
        # OpenMPI refuses root and more ranks than cores unless told; MPICH ignores these variables
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMPI_MCA_rmaps_base_oversubscribe="1")
        cmd = [mpiexec, "-n", str(mpi), *cmd]
    return subprocess.Popen(cmd, cwd=str(REPO), env=env, start_new_session=True, text=True, **kw)


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"ran over {timeout} s:\n{(out or '')[-4000:]}")
    return out or ""


def _sphere_file(path: Path) -> Path:
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
    from vtkmodules.vtkFiltersSources import vtkSphereSource
    from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter

    src = vtkSphereSource()
    src.SetThetaResolution(16)
    src.SetPhiResolution(12)
    src.Update()
    pd = src.GetOutput()
    pts = vtk_to_numpy(pd.GetPoints().GetData())
    arr = numpy_to_vtk((pts[:, 0] + 2 * pts[:, 2]).astype(np.float32), deep=1)
    arr.SetName("p")
    pd.GetPointData().AddArray(arr)
    w = vtkXMLPolyDataWriter()
    w.SetFileName(str(path))
    w.SetInputData(pd)
    assert w.Write() == 1
    return path


def test_pvserver_rollout_from_a_pvpython_client(tmp_path, model_file):
    vtp = _sphere_file(tmp_path / "sphere.vtp")  # read by the server, never by the client
    port = _free_port()
    server = _launch(["pvserver", f"--server-port={port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        banner = ""
        while time.time() < deadline and "Accepting connection" not in banner:
            line = server.stdout.readline()
            if not line:
                break
            banner += line
        assert "Accepting connection" in banner, banner
        script = tmp_path / "client.py"
        script.write_text(PVSERVER_CLIENT)
        client = _launch(["pvpython", str(script), str(port), str(model_file), str(vtp)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = _finish(client, 240)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT:")]
    assert lines, out[-4000:]
    res = json.loads(lines[-1][len("RESULT:"):])
    assert res["remote"] is True and res["algorithm_on_client"] is False  # the filter ran on the server
    assert res["times"] == pytest.approx([0.0, 0.25, 0.5]) and res["times"] == res["builtin_times"]
    assert len(res["p_pred"]) == 16 * (12 - 2) + 2
    np.testing.assert_allclose(res["p_pred"], res["builtin"], rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def cylinder(tmp_path_factory):
    """Trajectory 0 of the cylinder sample as a .pvd series, and a model file for its fields and domain."""
    from echo_model.data.store import TrajectoryStore
    from echo_model.rollout import create_untrained
    from echo_paraview.io.exporter import export_dataset

    tmp = tmp_path_factory.mktemp("cylinder")
    data = REPO / "sample_cases" / "cylinder" / "cylinder_coarse.h5"
    (pvd,) = export_dataset(data, tmp / "series", indices=[0], every=8, progress=False)
    with TrajectoryStore(data) as store:
        info = store.info
    model = tmp / "cylinder_model.safetensors"
    create_untrained(info.field_layout, dim=2, dt=0.2, domain=info.domain, stats=info.stats, seed=0).save(model)
    return pvd, model


def _pieces(prefix: Path, n: int) -> list[dict]:
    return [json.loads(Path(f"{prefix}.{r}.json").read_text()) for r in range(n)]


@pytest.mark.slow
def test_mpi_pvbatch_2_ranks_on_the_cylinder_equals_serial(tmp_path, cylinder):
    pvd, model = cylinder
    script = tmp_path / "mpi.py"
    script.write_text(MPI_SCRIPT)
    for name, ranks in (("serial", 0), ("mpi", 2)):
        proc = _launch(["pvbatch", "--symmetric", str(script), str(pvd), str(model), str(tmp_path / name)],
                       mpi=ranks, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = _finish(proc, 300)
        assert proc.returncode == 0, out[-4000:]
    (serial,) = _pieces(tmp_path / "serial", 1)
    parts = _pieces(tmp_path / "mpi", 2)
    assert [p["ranks"] for p in parts] == [2, 2] and serial["ranks"] == 1
    sizes = [len(p["points"]) for p in parts]
    assert min(sizes) > 0.3 * len(serial["points"])  # really partitioned: each rank holds a part
    assert sum(sizes) == len(serial["points"]) == 8376
    assert [p["n_rollouts"] for p in parts] == [1, 1]
    ref = {tuple(pt): i for i, pt in enumerate(serial["points"])}
    scale = float(np.abs(serial["U_pred"]).max())
    for part in parts:
        idx = [ref[tuple(pt)] for pt in part["points"]]  # each rank's points, in its own order
        for key in ("p_pred", "U_pred", "p_std"):
            np.testing.assert_allclose(np.asarray(part[key]), np.asarray(serial[key])[idx], rtol=0,
                                       atol=1e-5 * scale, err_msg=key)


@pytest.mark.slow
def test_mpi_pvbatch_with_an_empty_rank_is_refused_not_hung(tmp_path, cylinder):
    pvd, model = cylinder
    script = tmp_path / "unsplit.py"
    script.write_text(UNSPLIT_SCRIPT)
    proc = _launch(["pvbatch", str(script), str(pvd), str(model)], mpi=2, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
    out = _finish(proc, 300)
    assert proc.returncode == 0 and "ALIVE" in out, out[-4000:]
    assert "rank(s) [1] hold no part of the input" in out and "RedistributeDataSet" in out, out[-4000:]

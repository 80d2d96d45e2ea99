"""Issue 24, group 4: EchoTrain's Stop never signals a process that is not the training job.

With a RUN/train.pid naming a live unrelated process (here `sleep 60`, leading its own process group,
the worst case) and no pipeline.json, Refresh used to say "running" and Stop killed that group. The
job is now identified by its start time and command line (RUN/train.pid records both when EchoTrain
starts it) and, for an older record holding only a pid, by the run lock's owner."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from echo_model.train.layout import PID, PIPELINE_CONFIG
from echo_paraview import job_identity
from echo_paraview.training import TrainingJob

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")


@pytest.fixture
def spawn():
    procs = []

    def _spawn(args, **kw):
        proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, **kw)
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:  # only the processes this test started, by their own pid
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _assert_alive(proc):
    time.sleep(0.2)
    assert proc.poll() is None, "the foreign process was signalled"


def _wait_cmdline(pid, word, timeout=30.0):
    t0 = time.time()
    while word not in job_identity.command_line(pid) and time.time() - t0 < timeout:
        time.sleep(0.05)
    assert word in job_identity.command_line(pid)


@pytest.mark.parametrize("record", ["bare", "json"])
def test_stop_spares_a_foreign_process_named_by_train_pid(tmp_path, spawn, record):
    sleeper = spawn(["sleep", "60"])
    _wait_cmdline(sleeper.pid, "60")
    if record == "bare":
        (tmp_path / PID).write_text(str(sleeper.pid))
    else:  # even with its true start time: its command line is not the job's
        (tmp_path / PID).write_text(json.dumps({"pid": sleeper.pid, "start_ticks": job_identity.start_ticks(sleeper.pid)}))
    job = TrainingJob(tmp_path)
    assert not job.running()
    assert job.status().state != "running"
    job.stop(timeout=1.0)
    _assert_alive(sleeper)


_FAKE_JOB = "import time; time.sleep(60)"
_LOCK_HOLDER = ("import fcntl, json, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, json.dumps({'pid': os.getpid()}).encode()); "
                "open(sys.argv[2], 'w').close(); time.sleep(60)")


def test_stop_signals_the_identified_job(tmp_path, spawn):
    config = tmp_path / PIPELINE_CONFIG
    fake = spawn([sys.executable, "-c", _FAKE_JOB, "train", "all", "--config", str(config)])
    _wait_cmdline(fake.pid, "--config")
    job_identity.write_record(tmp_path / PID, fake.pid, config)
    job = TrainingJob(tmp_path)
    assert job.running()
    job.stop(timeout=5.0)
    assert fake.wait(timeout=10) == -signal.SIGTERM


def test_a_recycled_pid_is_not_the_job(tmp_path, spawn):
    config = tmp_path / PIPELINE_CONFIG
    fake = spawn([sys.executable, "-c", _FAKE_JOB, "train", "all", "--config", str(config)])
    _wait_cmdline(fake.pid, "--config")
    record = job_identity.write_record(tmp_path / PID, fake.pid, config)
    record["start_ticks"] -= 1  # the job that wrote the record started earlier: this pid is another process
    (tmp_path / PID).write_text(json.dumps(record))
    job = TrainingJob(tmp_path)
    assert not job.running()
    job.stop(timeout=1.0)
    _assert_alive(fake)


@pytest.mark.parametrize("holds_lock", [True, False])
def test_an_older_bare_pid_needs_the_lock_owner(tmp_path, spawn, holds_lock):
    config = tmp_path / PIPELINE_CONFIG
    ready = tmp_path / "ready"
    lock = tmp_path / ("train.lock" if holds_lock else "other.lock")
    proc = spawn([sys.executable, "-c", _LOCK_HOLDER, str(lock), str(ready), "train", "all", "--config", str(config)])
    t0 = time.time()
    while not ready.exists() and time.time() - t0 < 30:
        time.sleep(0.05)
    (tmp_path / PID).write_text(str(proc.pid))
    job = TrainingJob(tmp_path)
    assert job.running() is holds_lock
    job.stop(timeout=5.0)
    if holds_lock:
        assert proc.wait(timeout=10) == -signal.SIGTERM
    else:
        _assert_alive(proc)


def test_started_job_records_its_start_time(tmp_path, spawn):
    sleeper = spawn(["sleep", "60"])
    record = job_identity.write_record(tmp_path / PID, sleeper.pid, tmp_path / PIPELINE_CONFIG)
    assert job_identity.read_record(tmp_path / PID) == record
    assert record["start_ticks"] == job_identity.start_ticks(sleeper.pid) and record["start_ticks"] > 0

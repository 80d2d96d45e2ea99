"""Training out of process, for ParaView: a detached `echopv train all` and a cheap status read.

ParaView runs RequestData on the GUI thread (vtkPythonAlgorithm in the client process), so the
filter never trains: `TrainingJob.start` spawns the venv's python (ECHOPV_PYTHON, set by the
launcher; inside pvpython `sys.executable` is not a usable python) in its own session, logging
to RUN/train.log, and returns at once. `status()` reads RUN/pipeline.json, the current stage's
progress.json and whether the process still lives; it never blocks.

    job = TrainingJob()
    job.start("data.h5", "runs/pv", TrainSettings(ae_steps=1500, dit_steps=9000, threads=1))
    job.status().text      # "dit 1200/9000, loss 3.1e-01, eta 4 min (stage 4/4)"

No VTK here: the dataset export (`export_training_dataset`) takes Trajectories.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Sequence

from echo_model.errors import EchoUserError
from echo_model.threads import apply_omp_policy
from echo_model.train.layout import LOG as LOG_FILE
from echo_model.train.layout import PID as PID_FILE
from echo_model.train.layout import PIPELINE_CONFIG
from echo_model.train.layout import PIPELINE_STATUS as PIPELINE_JSON
from echo_model.train.layout import read_progress, read_status
from echo_model.train.runs import MIN_FRAMES, PipelineRun, add_arguments_from, check_values, to_argv, to_json

from . import job_identity
from .resources import CHECKOUT, in_checkout


class TrainingError(EchoUserError):
    """A problem the user can fix; the message names the problem and the fix."""


_PIPELINE_DEFAULTS = {f.name: f.default for f in fields(PipelineRun)}


@dataclass(frozen=True)
class TrainSettings:
    """What EchoTrain asks for; the step counts default to `echopv train all`'s (one place: `PipelineRun`)."""

    preset: str = _PIPELINE_DEFAULTS["preset"]
    ae_steps: int = _PIPELINE_DEFAULTS["ae_steps"]
    refine_steps: int = _PIPELINE_DEFAULTS["refine_steps"]
    dit_steps: int = _PIPELINE_DEFAULTS["dit_steps"]
    threads: int = 1
    frames: int = 0  # 0: the preset's window, shortened to the data
    grid: tuple[int, ...] = ()  # () = the preset's latent grid
    extra_args: tuple[str, ...] = ()  # more `echopv train all` options, parsed into the PipelineRun

    def pipeline(self, dataset_path: str | os.PathLike, run_dir: str | os.PathLike) -> PipelineRun:
        """The `PipelineRun` these settings describe, built from the typed fields; only ExtraArguments
        (text the user typed) go through the option parser, here in ParaView, so a typo is reported
        at Start instead of in the child's log."""
        run = PipelineRun(data=str(dataset_path), run=str(run_dir), preset=self.preset, ae_steps=int(self.ae_steps),
                          refine_steps=int(self.refine_steps), dit_steps=int(self.dit_steps), progress=False,
                          threads=int(self.threads) if self.threads > 0 else None,
                          frames=int(self.frames) if self.frames > 0 else None,
                          grid=tuple(int(g) for g in self.grid) or None)
        if self.extra_args:
            run = replace(run, **self._extra_values(run))
        check_values(PipelineRun, asdict(run), lambda name: f"EchoTrain {name}")
        return run

    def _extra_values(self, run: PipelineRun) -> dict:
        """The fields ExtraArguments sets, parsed with `echopv train all`'s own options."""
        import argparse

        parser = argparse.ArgumentParser(prog="EchoTrain ExtraArguments", add_help=False, exit_on_error=False)
        add_arguments_from(parser, PipelineRun, optional=("data", "run"))
        try:
            ns, unknown = parser.parse_known_args(list(self.extra_args))
        except (argparse.ArgumentError, SystemExit) as exc:
            raise TrainingError(f"ExtraArguments {' '.join(self.extra_args)!r}: {exc}") from None
        if unknown:
            raise TrainingError(f"ExtraArguments: unknown option(s) {' '.join(unknown)}; see `echopv train all --help`")
        untouched = vars(parser.parse_known_args([])[0])
        return {k: tuple(v) if isinstance(v, list) else v for k, v in vars(ns).items()
                if v != untouched[k] and k not in ("data", "run")}  # only what the text sets


def skill_lines(model: str) -> list[str]:
    """The finished model's skill report in short lines: a summary first, then one per field."""
    if not model or not Path(model).is_file():
        return []
    from echo_model.bundle import read_meta  # torch: only once a model exists
    from echo_model.skill import report_from_meta

    try:
        rep = report_from_meta(read_meta(model))
    except (OSError, ValueError, EchoUserError):
        return []
    if rep is None:
        return []
    short = ", ".join(f"{f.name} {f.model / max(f.persistence, 1e-30):.2f}x persistence" for f in rep.fields)
    return [f"skill: {short} over {rep.n_frames} frames ({rep.source.split(':')[0]})", *rep.lines()]


@dataclass
class TrainStatus:
    state: str = "idle"  # idle | running | done | failed | stopped
    stage: str = ""
    stage_index: int = 0
    n_stages: int = 0
    step: int = 0
    total: int = 0
    loss: float | None = None
    eta_s: float | None = None
    model: str = ""
    error: str = ""
    log_tail: list[str] = field(default_factory=list)
    skill: list[str] = field(default_factory=list)  # the model's skill report, when done

    @property
    def text(self) -> str:
        """One line for ParaView's Status property."""
        if self.state == "idle":
            return "idle: set the inputs and press Start"
        if self.state == "done":
            return f"done: model {self.model}" + (f" | {self.skill[0]}" if self.skill else "")
        if self.state in ("failed", "stopped"):
            detail = self.error or (self.log_tail[-1] if self.log_tail else "")
            word = "interrupted" if self.state == "stopped" else "failed"
            return word + (f" in {self.stage}" if self.stage else "") + (f": {detail}" if detail else "")
        if self.n_stages:
            where = f"{self.stage} ({self.stage_index + 1}/{self.n_stages})"
        else:
            where = "checking the dataset" if self.stage == "check" else "starting"
        parts = [f"running {where}"]
        if self.total:
            parts.append(f"step {self.step}/{self.total}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3e}")
        if self.eta_s is not None:
            parts.append(f"eta {self.eta_s:.0f} s")
        return ", ".join(parts)


def training_python() -> str:
    """The interpreter that has torch: ECHOPV_PYTHON, else the repository's .venv, else this python
    when it is a plain python (not pvpython/pvbatch, whose sys.executable is not runnable as python)."""
    env = os.environ.get("ECHOPV_PYTHON")
    if env:
        if not Path(env).is_file():
            raise TrainingError(f"ECHOPV_PYTHON={env} does not exist; point it at the venv's python "
                                "(start ParaView with `echopv paraview`, which sets it)")
        return env
    venv = CHECKOUT / ".venv" / "bin" / "python"
    if in_checkout() and venv.is_file():
        return str(venv)
    exe = Path(sys.executable or "")
    if exe.is_file() and exe.name.startswith("python"):
        return str(exe)
    raise TrainingError("no training interpreter: set ECHOPV_PYTHON to the venv's python "
                        "(start ParaView with `echopv paraview`, or run `bash scripts/setup.sh`)")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # ParaView's sitecustomize and appended paths belong to ParaView's python, not the venv's
    for k in ("PYTHONPATH", "PYTHONHOME", "ECHOPV_APPEND_PATHS"):
        env.pop(k, None)
    apply_omp_policy(env)  # idle torch threads sleep: ParaView shares the cores
    env["PYTHONUNBUFFERED"] = "1"  # the log shows progress as it happens
    return env


def _tail(path: Path, n: int = 8) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    # progress bars rewrite lines with \r: keep the last state of each line
    lines = [ln.rsplit("\r", 1)[-1].rstrip() for ln in text.splitlines()]
    return [ln for ln in lines if ln.strip()][-n:]


def _interrupted(log: Path) -> bool:
    """The log's last line is the CLI's 'echopv: interrupted' (Stop, Ctrl-C)."""
    tail = _tail(log, 1)
    return bool(tail) and tail[-1].strip() == "echopv: interrupted"


class TrainingJob:
    """One `echopv train all` run in RUN_DIR, started detached; status() reads its files."""

    def __init__(self, run_dir: str | os.PathLike | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir else None
        self._proc: subprocess.Popen | None = None
        self._stopped = False

    def command(self, config_path: str | os.PathLike) -> list[str]:
        return [training_python(), "-m", "echo_paraview.cli", "train", "all", "--config", str(config_path)]

    def start(self, dataset_path: str | os.PathLike, run_dir: str | os.PathLike,
              settings: TrainSettings = TrainSettings()) -> int:
        """Spawn the training process and return its pid at once (TrainingError if it cannot start)."""
        if self.running() and self.status().state in ("done", "failed"):
            self._wait_exit(10.0)  # it wrote its verdict and is only shutting down
        if self.running():
            raise TrainingError(f"training is already running in {self.run_dir} (pid {self._pid()}); "
                                "press Stop or wait for it to finish")
        if not Path(dataset_path).is_file():
            raise TrainingError(f"dataset {dataset_path} does not exist; pick an ECHO dataset (.h5) or leave "
                                "Dataset empty to export the input's time series")
        self.run_dir = Path(run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg = settings.pipeline(Path(dataset_path).resolve(), self.run_dir)
        config_path = self.run_dir / PIPELINE_CONFIG
        config_path.write_text(to_json(cfg))
        cmd = self.command(config_path)
        # a previous run's verdict must not be read as this run's
        (self.run_dir / PIPELINE_JSON).unlink(missing_ok=True)
        with open(self.run_dir / LOG_FILE, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n"
                      f"    (equivalent: echopv train all {' '.join(to_argv(cfg))})\n".encode())
            log.flush()
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          env=_child_env(), cwd=str(self.run_dir), start_new_session=True,
                                          close_fds=True)
        job_identity.write_record(self.run_dir / PID_FILE, self._proc.pid, config_path)  # pid + start time
        self._stopped = False
        return self._proc.pid

    def _pid(self) -> int | None:
        """The pid RUN/train.pid names (not yet checked to be the job: `running` does that)."""
        if self._proc is not None:
            return self._proc.pid
        if self.run_dir is None:
            return None
        record = job_identity.read_record(self.run_dir / PID_FILE)
        return None if record is None else int(record["pid"])

    def running(self) -> bool:
        """Whether this run's job is alive: our own child, or the process RUN/train.pid names when its start
        time and command line show it is the job (job_identity.py); a foreign or recycled pid is not."""
        if self._proc is not None:
            return self._proc.poll() is None  # poll() also reaps a finished child
        if self.run_dir is None:
            return False
        record = job_identity.read_record(self.run_dir / PID_FILE)
        if not job_identity.is_job(record, self.run_dir, self.run_dir / PIPELINE_CONFIG):
            return False
        st = read_status(self.run_dir)
        return st is None or st.get("pid") in (None, record["pid"])  # pipeline.json agrees

    def _wait_exit(self, timeout: float) -> bool:
        t0 = time.time()
        while self.running() and time.time() - t0 < timeout:
            time.sleep(0.05)
        return not self.running()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the training to stop (SIGTERM to its process group; SIGKILL after `timeout`)."""
        pid = self._pid()
        if pid is None or not self.running():  # running() identifies the job: never signal another process
            return
        self._stopped = True
        if not self._signal(pid, signal.SIGTERM):
            return
        if not self._wait_exit(timeout) and self.running():  # identified again: the pid may have moved on
            self._signal(pid, signal.SIGKILL)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    @staticmethod
    def _signal(pid: int, sig: int) -> bool:
        """Signal the job's process group (start_new_session: its pgid is its pid), or the job alone when it
        somehow is not a group leader; False when it is gone."""
        try:
            if job_identity.owns_its_group(pid):
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def status(self) -> TrainStatus:
        if self.run_dir is None:
            return TrainStatus()
        pipe = read_status(self.run_dir)
        running = self.running()
        if pipe is None and not running and self._pid() is None:
            return TrainStatus()
        st = TrainStatus(state="running")
        if pipe:
            st.stage = str(pipe.get("stage") or "")
            st.stage_index = int(pipe.get("stage_index") or 0)
            st.n_stages = int(pipe.get("n_stages") or 0)
            st.model = str(pipe.get("model") or "")
            st.error = str(pipe.get("error") or "")
            prog = read_progress(Path(pipe["progress"]).parent) if pipe.get("progress") else None
            if prog and prog.get("stage") == st.stage:
                st.step, st.total = int(prog.get("step") or 0), int(prog.get("total") or 0)
                st.loss = prog.get("loss")
                st.eta_s = prog.get("eta_s")
            if pipe.get("state") == "done" and not _interrupted(self.run_dir / LOG_FILE):
                st.state, st.skill = "done", skill_lines(st.model)
                return st
            if pipe.get("state") == "done":  # a later run of this folder was interrupted
                st.state, st.model, st.stage = "stopped", "", ""
                st.error = f"the last run ended with 'echopv: interrupted' (see {self.run_dir / LOG_FILE})"
            if pipe.get("state") == "failed":
                st.state = "stopped" if self._stopped else "failed"
        if st.state == "running" and not running:
            # the process is gone but never wrote a verdict (killed, crashed before the first write)
            st.state = "stopped" if self._stopped else "failed"
            if not st.error:
                code = self._proc.returncode if self._proc is not None else None
                st.error = "the training process exited" + (f" with code {code}" if code is not None else "") \
                    + f"; see {self.run_dir / LOG_FILE}"
        if st.state in ("failed", "stopped"):
            st.log_tail = _tail(self.run_dir / LOG_FILE)
        return st


def export_training_dataset(trajectories: Sequence, path: str | os.PathLike, name: str = "paraview") -> Path:
    """Write Trajectories (echo_model.data.trajectory) as an ECHO dataset; all of them train."""
    from echo_model.data.store import write_dataset

    trajectories = list(trajectories)
    if not trajectories:
        raise TrainingError("nothing to export: no trajectory")
    n = len(trajectories)
    for i, t in enumerate(trajectories):
        if t.fields.shape[0] < MIN_FRAMES:
            raise TrainingError(f"trajectory {i} has {t.fields.shape[0]} time step(s); training needs at least "
                                f"{MIN_FRAMES} (use a temporal input, e.g. a .pvd series, or set Dataset to an ECHO .h5)")
    split = {"train": list(range(n)), "val": [], "test": []}
    write_dataset(path, trajectories, name=name, split=split,
                  description="exported from ParaView by the EchoTrain filter")
    return Path(path)

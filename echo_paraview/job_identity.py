"""Which process is EchoTrain's training job: never more than a pid's word for it.

EchoTrain's Stop sends SIGTERM to a process group. A pid alone names whatever process has it now:
RUN/train.pid could be stale (the job ended, the pid was recycled by another program) or written by
hand, and Stop used to signal that process's whole group. A process counts as the job only when

* it is alive and not a zombie,
* its start time (/proc/PID/stat, clock ticks since boot) equals the one recorded when the job was
  started (RUN/train.pid holds {"pid", "start_ticks", "config"}), so a recycled pid never matches,
* its command line is `... echo_paraview.cli train all --config RUN/train_config.json` (this run's),
* and, for a record without a start time (written by an older echo-paraview), it holds RUN/train.lock
  (the kernel's flock owner: `echo_model.train.lock.lock_holder`).

No VTK here; Linux's /proc (elsewhere nothing is identified, so nothing is signalled).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from echo_model.atomic import write_text_atomic
from echo_model.train.lock import lock_holder


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (/proc/PID/stat field 22), None if gone or a zombie."""
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            after_comm = fh.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    if after_comm[0] == "Z":  # finished, not yet reaped: not running
        return None
    try:
        return int(after_comm[19])  # fields 3.. follow the command name; starttime is field 22
    except (IndexError, ValueError):
        return None


def command_line(pid: int) -> list[str]:
    """The process's arguments (/proc/PID/cmdline), [] if unreadable."""
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as fh:
            raw = fh.read()
    except (OSError, ValueError):
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def write_record(path: Path, pid: int, config: Path) -> dict:
    """RUN/train.pid for a job just started: its pid, start time and the config its command names."""
    record = {"pid": int(pid), "start_ticks": start_ticks(pid), "config": str(config)}
    write_text_atomic(path, json.dumps(record))
    return record


def read_record(path: Path) -> dict | None:
    """The pid record, or None; a bare pid (older files) gives {"pid": n}."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if isinstance(obj, int) and not isinstance(obj, bool):
        obj = {"pid": obj}
    if not isinstance(obj, dict) or not isinstance(obj.get("pid"), int) or obj["pid"] <= 0:
        return None
    return obj


def _runs_this_config(pid: int, config: Path) -> bool:
    args = command_line(pid)
    return ("train" in args and "all" in args and "--config" in args
            and any(a == str(config) or Path(a) == config for a in args))


def is_job(record: dict | None, run_dir: Path, config: Path) -> bool:
    """Whether the record's process is this run's training job (see the module docstring).

    Parameters
    ----------
    record : dict or None
        From `read_record` (RUN/train.pid).
    run_dir : Path
        The run directory (its train.lock, for records without a start time).
    config : Path
        RUN/train_config.json, which the job's command line names.

    Returns
    -------
    bool
        True only for the live process that started as the job; a recycled or foreign pid is False.
    """
    if not record:
        return False
    pid = int(record["pid"])
    ticks = start_ticks(pid)
    if ticks is None or not _runs_this_config(pid, config):
        return False
    if record.get("start_ticks") is not None:
        return ticks == record["start_ticks"]
    return lock_holder(run_dir) == pid  # an older record: the kernel's lock owner vouches for it


def owns_its_group(pid: int) -> bool:
    """The job runs in its own session (start_new_session): its process group is its pid."""
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


__all__ = ["command_line", "is_job", "owns_its_group", "read_record", "start_ticks", "write_record"]

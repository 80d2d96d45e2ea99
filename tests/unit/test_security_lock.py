"""Issue 24, group 3: RUN/train.lock is opened without following links and must be a regular file.

A symlinked lock used to truncate the file it pointed to; a directory or a FIFO in its place gave
a traceback (or, for lock_holder on a FIFO, a hang)."""
from __future__ import annotations

import os

import pytest

from echo_model.errors import EchoUserError
from echo_model.train.lock import LOCK_NAME, RunLock, lock_holder


def test_symlinked_lock_does_not_empty_its_target(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).symlink_to(victim)
    with pytest.raises(EchoUserError) as info:
        RunLock(run).acquire()
    msg = str(info.value)
    assert str(run / LOCK_NAME) in msg and "symbolic link" in msg and "remove" in msg
    assert victim.read_text() == "do not truncate me\n"
    assert lock_holder(run) is None
    assert victim.read_text() == "do not truncate me\n"


def test_dangling_symlink_lock_creates_nothing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    target = tmp_path / "created_by_lock"
    (run / LOCK_NAME).symlink_to(target)
    with pytest.raises(EchoUserError, match="symbolic link"):
        RunLock(run).acquire()
    assert not target.exists()


def test_lock_that_is_a_directory_is_refused(tmp_path):
    (tmp_path / LOCK_NAME).mkdir()
    with pytest.raises(EchoUserError) as info:
        RunLock(tmp_path).acquire()
    assert "directory" in str(info.value) and str(tmp_path / LOCK_NAME) in str(info.value)
    assert lock_holder(tmp_path) is None


def test_lock_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / LOCK_NAME)
    with pytest.raises(EchoUserError) as info:
        RunLock(tmp_path).acquire()
    assert "not a regular file" in str(info.value) and "remove" in str(info.value)
    assert lock_holder(tmp_path) is None  # O_RDONLY on a FIFO used to block forever


def test_regular_lock_still_works(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.held and lock_holder(tmp_path) == os.getpid()
    assert (tmp_path / LOCK_NAME).is_file()


def test_lock_that_is_a_symlink_loop_is_refused(tmp_path):
    (tmp_path / LOCK_NAME).symlink_to(LOCK_NAME)
    with pytest.raises(EchoUserError, match="symbolic link"):
        RunLock(tmp_path).acquire()
    assert lock_holder(tmp_path) is None

"""A supervisor killed without cleaning up leaves its shared directory: the next one removes it,
and nothing that is not a dead relay's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trio_relay.workers import SUPERVISOR_PID_FILE, remove_stale_shared_dirs


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def shared_dir(parent: Path, name: str, pid: int | None) -> Path:
    path = parent / name
    path.mkdir()
    (path / "session-slots.bin").write_bytes(b"\0" * 64)
    if pid is not None:
        (path / SUPERVISOR_PID_FILE).write_text(str(pid))
    return path


def test_only_the_directories_of_dead_supervisors_are_removed(tmp_path: Path) -> None:
    dead = shared_dir(tmp_path, "trio-relay-dead", dead_pid())
    alive = shared_dir(tmp_path, "trio-relay-alive", os.getpid())
    bench = shared_dir(tmp_path, "trio-relay-bench-logs", None)  # no pid file: not a relay's
    other = shared_dir(tmp_path, "someone-else", dead_pid())
    assert remove_stale_shared_dirs(str(tmp_path)) == [str(dead)]
    assert not dead.exists()
    assert alive.exists() and bench.exists() and other.exists()


def test_a_pid_file_that_is_not_a_number_is_left_alone(tmp_path: Path) -> None:
    odd = shared_dir(tmp_path, "trio-relay-odd", None)
    (odd / SUPERVISOR_PID_FILE).write_text("not a pid")
    assert remove_stale_shared_dirs(str(tmp_path)) == []
    assert odd.exists()


def test_a_link_named_like_a_shared_directory_is_not_followed(tmp_path: Path) -> None:
    elsewhere = shared_dir(tmp_path, "not-a-relay", dead_pid())
    (tmp_path / "trio-relay-link").symlink_to(elsewhere)
    assert remove_stale_shared_dirs(str(tmp_path)) == []
    assert elsewhere.exists()

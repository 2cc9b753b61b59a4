"""Child processes the benchmark starts (servers, generator shards) and their ``/proc`` figures.

CPU is ``utime + stime`` from ``/proc/PID/stat`` (summed over a process and its descendants, so
``--workers N`` counts the supervisor and every worker); memory is ``VmRSS`` from
``/proc/PID/status``. Only processes started here are ever signalled, each by its own pid.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


class LineReader:
    """Lines from a child's unbuffered stdout pipe, with a timeout (no threads)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.buffer = b""

    def readline(self, timeout_s: float) -> str | None:
        """The next line, or None on timeout or end of file."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode(errors="replace")


class Child:
    """A child process with its stdout read line by line and its stderr kept in a log file."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        stdin: bool = False,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=dict(env) if env is not None else None,
            cwd=cwd or log_dir,
            bufsize=0,
        )
        self.lines = LineReader(self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while True:
            line = self.lines.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(
                    f"{self.name} did not print {pattern!r} within {timeout_s:g} s; "
                    f"stdout: {seen[-5:]}; log tail: {self.log_tail()}"
                )
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def send_line(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (the relay and the fake drain and exit); SIGKILL this pid after a timeout."""
        pids = descendants(self.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids[1:]:  # workers the supervisor did not stop in time: by pid, never by name
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def child_env(extra: Mapping[str, str] | None = None, root: Path = ROOT) -> dict[str, str]:
    """This environment, with ``root``'s packages first on the path (before the venv's
    editable install, which points at the main checkout), then ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


# --- /proc ------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            except OSError:
                continue
            found += [int(p) for p in text.split()]
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the relay's supervisor and its workers)."""
    result, queue = [], [pid]
    while queue:
        current = queue.pop()
        result.append(current)
        queue += _children(current)
    return result


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every core spent not idle, since boot (from the ``cpu`` line of /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK  # user nice system idle iowait irq softirq steal


def rss_kb(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            total += int(match.group(1))
    return total


def listeners(port: int) -> int:
    """How many sockets listen on ``port`` (SO_REUSEPORT workers each have one)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count

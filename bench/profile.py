"""Profiles of the relay under load, with py-spy (``pip install py-spy``).

:func:`record` runs ``py-spy record`` on the relay (and, with ``--workers N``, its workers)
during the measured window; ``.svg`` gives a flame graph, any other name the raw collapsed
stacks, which :func:`summarise` turns into the top functions by share of samples: *self* (the
function itself was running) and *inclusive* (it was on the stack). ``python -m bench.profile
FILE`` prints that summary for a raw file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+?)(?::\d+)?\)$")


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def record(pid: int, duration_s: float, out: Path, subprocesses: bool) -> subprocess.Popen[bytes]:
    exe = py_spy()
    if exe is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    command = [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s)))]
    command += ["--rate", "100", "-o", str(out)]
    command += ["--format", "flamegraph" if out.suffix == ".svg" else "raw"]
    if subprocesses:
        command.append("--subprocesses")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('func')} ({path})"


def _package(name: str) -> str:
    """``func (trio/_core/_run.py)`` -> ``trio``; ``func (base64.py)`` -> ``base64``."""
    path = name.rsplit(" (", 1)[-1].rstrip(")")
    first = path.split("/", 1)[0]
    return first.removesuffix(".py") or path


# The relay's tasks (trio_relay/session.py) and trio-websocket's per-connection reader task.
TASKS = (
    ("Session._client_reader", "client-reader (browser frames in)"),
    ("Session._audio_pump", "audio-pump (coalesce, base64, send upstream)"),
    ("Session._client_writer", "client-writer (browser frames out)"),
    ("Session._connect_and_serve", "upstream-reader (events in, translate)"),
    ("WebSocketConnection._reader_task", "trio-websocket reader tasks (recv + wsproto parse)"),
    ("Relay._handle", "HTTP/handshake"),
)


def _task(frames: list[str]) -> str:
    for prefix, label in TASKS:
        if any(f.startswith(prefix) for f in frames):
            return label
    return "Trio scheduler, I/O wait, other"


def summarise(raw: str, top: int = 15) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        tasks[_task(frames)] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "samples by relay task:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in tasks.most_common()]
    lines += ["", "self time by package:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in packages.most_common(10)]
    lines += ["", "top functions by self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "top functions by inclusive time (on the stack):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m bench.profile RAW_FILE [TOP]", file=sys.stderr)
        return 2
    top = int(argv[1]) if len(argv) > 1 else 15
    print(summarise(Path(argv[0]).read_text(), top))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``--workers N``: N relay processes sharing one port through ``SO_REUSEPORT``, as one relay.

The supervisor reserves the port (so ``--port 0`` works), creates the relay's shared directory
(prometheus_client's multiprocess files, the shared session slots; removed when it exits),
starts the workers as child processes (``python -m trio_relay --reuse-port --worker-index I``,
with ``PROMETHEUS_MULTIPROC_DIR`` in their environment), restarts one that dies (first marking
it dead for the metrics and freeing its session slots), and on SIGTERM/SIGINT forwards SIGTERM
so each worker drains its own sessions, waiting for them all.

The kernel spreads new connections over the workers; a session lives in one worker for its
whole life. What must hold for the relay as a whole is shared through the directory: metrics
(a scrape of any worker reports all of them) and the session caps.

A worker exits when its supervisor dies, however it dies: it holds the read end of a pipe whose
only write end the supervisor holds, and the end of file it sees when the kernel closes that is
handled as a SIGTERM. (``PR_SET_PDEATHSIG`` would not do: it fires when the *thread* that
forked the worker exits, and Trio starts processes from its worker threads, which it retires
when idle.)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import structlog
import trio
from prometheus_client import multiprocess

from .config import RelayConfig, WorkerPlace
from .errors import ConfigError
from .log import get_logger
from .shared_slots import clear_worker_column, create_slot_file
from .shared_tickets import create_ticket_file

log = get_logger("trio_relay.workers")

RESTART_DELAY_S = 1.0
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) with SO_REUSEPORT: fixes the port for workers to share."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def worker_command(config: RelayConfig, port: int, index: int, lifeline_fd: int) -> Sequence[str]:
    return [
        sys.executable,
        "-m",
        "trio_relay",
        "--host",
        config.host,
        "--port",
        str(port),
        "--reuse-port",
        "--worker-index",
        str(index),
        "--supervisor-fd",
        str(lifeline_fd),
    ]


def worker_place(index: int, supervisor_fd: int | None) -> WorkerPlace:
    """A worker's place from its command line and the environment its supervisor gave it."""
    shared_dir = os.environ.get(MULTIPROC_DIR_VARIABLE, "")
    if not os.path.isdir(shared_dir):
        raise ConfigError(
            "--worker-index",
            f"is for the workers a supervisor starts (--workers N): {MULTIPROC_DIR_VARIABLE} "
            "is not set to its shared directory",
        )
    if supervisor_fd is None or not _is_open(supervisor_fd):
        raise ConfigError("--supervisor-fd", "must be the lifeline its supervisor passed on")
    return WorkerPlace(index, shared_dir)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def label_worker_logs(place: WorkerPlace) -> None:
    """Every line this worker logs from here on, its sessions' included, says which it is."""
    structlog.contextvars.bind_contextvars(worker=place.index)


async def exit_when_supervisor_gone(lifeline_fd: int) -> None:
    """In a worker: when the supervisor's end of the lifeline closes, stop as on SIGTERM."""
    await trio.lowlevel.wait_readable(lifeline_fd)  # readable only at end of file: never written
    log.warning("supervisor gone: draining, then exiting", supervisor_fd=lifeline_fd)
    os.kill(os.getpid(), signal.SIGTERM)


async def _wait_until_listening(host: str, port: int, limit_s: float = 30.0) -> None:
    """Until a worker accepts connections (the workers start in the background)."""
    with trio.move_on_after(limit_s):
        while True:
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError:
                await trio.sleep(0.05)  # a worker is still starting: nothing to wait on but time
                continue
            await stream.aclose()
            return
    log.warning("no worker accepted connections in time", limit_s=limit_s)


SHARED_DIR_PREFIX = "trio-relay-"
SUPERVISOR_PID_FILE = "supervisor.pid"


def remove_stale_shared_dirs(parent: str) -> list[str]:
    """Remove the shared directories of relays whose supervisor is gone without cleaning up
    (killed with SIGKILL, say); which ones were removed. A directory counts as a relay's only
    with its supervisor's pid file in it, and as stale only when that process no longer exists."""
    removed = []
    for path in Path(parent).glob(f"{SHARED_DIR_PREFIX}*"):
        try:
            # Only a real directory of this user's (never through a link someone else made).
            if path.is_symlink() or path.lstat().st_uid != os.getuid():
                continue
            pid = int((path / SUPERVISOR_PID_FILE).read_text())
        except (OSError, ValueError):
            continue  # not a relay's shared directory, or not ours to read
        if _process_exists(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


async def supervise(config: RelayConfig) -> None:
    stale = remove_stale_shared_dirs(tempfile.gettempdir())
    if stale:
        log.info("removed shared directories of relays that did not stop cleanly", paths=stale)
    shared_dir = tempfile.mkdtemp(prefix=SHARED_DIR_PREFIX)
    (Path(shared_dir) / SUPERVISOR_PID_FILE).write_text(str(os.getpid()))
    lifeline_read, lifeline_write = os.pipe()  # both close-on-exec; the read end is passed on
    try:
        create_slot_file(shared_dir, config.workers)
        create_ticket_file(shared_dir)
        with ExitStack() as reserved:
            port = reserved.enter_context(reserve_port(config.host, config.port))
            # METRICS_PORT=0 too is one port for the whole relay, not one per worker.
            metrics = (
                None
                if config.metrics_port is None
                else reserved.enter_context(reserve_port(config.host, config.metrics_port))
            )
            await _supervise(config, port, metrics, shared_dir, lifeline_read)
    finally:
        os.close(lifeline_read)
        os.close(lifeline_write)
        shutil.rmtree(shared_dir, ignore_errors=True)


async def _supervise(
    config: RelayConfig,
    reserved: socket.socket,
    metrics_reserved: socket.socket | None,
    shared_dir: str,
    lifeline_fd: int,
) -> None:
    port = reserved.getsockname()[1]
    grace = config.limits.drain_grace_s + 2 * config.limits.close_timeout_s + 5
    # Our own value wins over one inherited: each relay has a directory of its own.
    environment = {**os.environ, MULTIPROC_DIR_VARIABLE: shared_dir}
    metrics_note = ""
    if metrics_reserved is not None:
        metrics_port = metrics_reserved.getsockname()[1]
        environment["METRICS_PORT"] = str(metrics_port)  # the port reserved, if 0 was asked
        metrics_note = f" (/metrics on port {metrics_port})"

    async def stop_gracefully(process: trio.Process) -> None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(grace):
            await process.wait()
            return
        log.warning("worker did not stop in time; killing it", pid=process.pid, grace_s=grace)
        process.kill()

    async def keep_running(index: int) -> None:
        run = partial(
            trio.run_process,
            worker_command(config, port, index, lifeline_fd),
            check=False,
            deliver_cancel=stop_gracefully,
            start_new_session=True,
            env=environment,
            pass_fds=(lifeline_fd,),
        )
        while True:
            async with trio.open_nursery() as nursery:
                process: trio.Process = await nursery.start(run)
            # Dead: its live gauges no longer count, nor do its sessions' slots. Its counters'
            # files stay, so the relay's counters never go backwards.
            multiprocess.mark_process_dead(process.pid, shared_dir)  # type: ignore[no-untyped-call]
            clear_worker_column(shared_dir, index)
            log.error(
                "worker exited; restarting",
                worker=index,
                pid=process.pid,
                returncode=process.returncode,
                delay_s=RESTART_DELAY_S,
            )
            await trio.sleep(RESTART_DELAY_S)

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            for index in range(config.workers):
                nursery.start_soon(keep_running, index)
            await _wait_until_listening(config.host, port)
            print(
                f"trio-relay supervisor: {config.workers} workers on "
                f"ws://{config.host}:{port}/realtime{metrics_note}",
                flush=True,
            )
            async for signum in signals:
                log.info(
                    "signal: stopping workers gracefully",
                    signal=signal.Signals(signum).name,
                    workers=config.workers,
                )
                nursery.cancel_scope.cancel()
                break

"""``--workers N``: N relay processes sharing one port through ``SO_REUSEPORT``.

The supervisor reserves the port (so ``--port 0`` works), starts the workers as child processes
(``python -m trio_relay --reuse-port --workers 1``), restarts one that dies, and on
SIGTERM/SIGINT forwards SIGTERM so each worker drains its own sessions, waiting for them all.
The kernel spreads new connections over the workers; a session lives in one worker for its
whole life, so no state is shared between them.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Sequence

import trio

from .config import RelayConfig
from .log import get_logger

log = get_logger("trio_relay.workers")

RESTART_DELAY_S = 1.0


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


def worker_command(config: RelayConfig, port: int) -> Sequence[str]:
    return [
        sys.executable,
        "-m",
        "trio_relay",
        "--host",
        config.host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--reuse-port",
    ]


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


async def supervise(config: RelayConfig) -> None:
    with reserve_port(config.host, config.port) as reserved:
        port = reserved.getsockname()[1]
        command = worker_command(config, port)
        grace = config.limits.drain_grace_s + 2 * config.limits.close_timeout_s + 5

        async def stop_gracefully(process: trio.Process) -> None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(grace):
                await process.wait()
                return
            log.warning("worker did not stop in time; killing it", pid=process.pid, grace_s=grace)
            process.kill()

        async def keep_running(index: int) -> None:
            while True:
                result = await trio.run_process(
                    command, check=False, deliver_cancel=stop_gracefully, start_new_session=True
                )
                log.error(
                    "worker exited; restarting",
                    worker=index,
                    returncode=result.returncode,
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
                    f"ws://{config.host}:{port}/realtime",
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

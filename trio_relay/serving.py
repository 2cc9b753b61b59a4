"""Serving the relay as a process: what :func:`serve_relay` sets up before the relay's first
connection and holds until it stops.

Loads the tools and the frontend, registers the configuration's secrets for redaction, opens the
upstream target (or the bundled fake), lifts the open file limit, opens the TCP listeners
(shared by workers with ``SO_REUSEPORT``), and runs the relay's listeners, ticker and metrics
flush in one nursery. What a connection gets is :class:`trio_relay.server.Relay`'s business.
"""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import trio

from .config import DEFAULT_OPENAI_MODEL, Limits, RelayConfig, UpstreamTarget, fake_target
from .credentials import EntraTokenSource
from .log import get_logger
from .redact import register, register_config
from .server import Listener, Relay
from .static import StaticFiles, load_static_files
from .tools.loading import load_toolbox
from .tools.toolbox import Toolbox
from .upstream import UpstreamConnector

# The relay's own logger: start-up lines log as they did before serving had a module of its own.
log = get_logger("trio_relay.server")

LISTEN_BACKLOG = 4096
# File descriptors beyond connections and sessions: listeners, logs, the upstream's DNS, ...
SPARE_FDS = 64


def raise_open_file_limit(limits: Limits) -> None:
    """Lift the soft limit on open files to the hard one, and warn when even that is below what
    the connection and session caps may need (each session holds two sockets)."""
    needed = limits.max_connections + 2 * limits.max_sessions + SPARE_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, needed) if hard == resource.RLIM_INFINITY else hard
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    if soft < needed:
        log.warning(
            "the open file limit is below what MAX_CONNECTIONS and MAX_SESSIONS may need: raise "
            "it (ulimit -n, or the container's nofile limit) or lower those caps",
            limit=soft,
            needed=needed,
        )


@asynccontextmanager
async def open_upstream_target(config: RelayConfig) -> AsyncIterator[UpstreamTarget]:
    """The configured upstream, or the bundled fake upstream run on an ephemeral loopback port."""
    if config.upstream is not None:
        yield config.upstream
        return
    from fake_upstream import FakeUpstreamOptions, open_fake_upstream  # only the fake backend

    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        log.info("running on the bundled fake upstream (no credentials configured)", url=fake.url)
        yield fake_target(fake.url, DEFAULT_OPENAI_MODEL)


async def open_listeners(host: str, port: int, *, reuse_port: bool) -> list[trio.SocketListener]:
    """TCP listeners; with ``reuse_port`` several worker processes share one port (Linux)."""
    if not reuse_port:
        return await trio.open_tcp_listeners(port, host=host)
    family, kind, proto, _, address = (
        await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    )[0]
    sock = trio.socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        await sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return [trio.SocketListener(sock)]


async def _load_frontend(config: RelayConfig) -> StaticFiles | None:
    """The frontend, read once before serving and off the event loop (an application that
    embeds the relay may be serving already); from then on every file is in memory."""
    if config.static_dir is None:
        return None
    static = await trio.to_thread.run_sync(
        partial(load_static_files, config.static_dir, max_bytes=config.limits.static_max_bytes)
    )
    if static is not None:
        log.info(
            "serving the frontend",
            dir=str(static.root),
            files=len(static.files),
            bytes=static.bytes_held,
        )
    return static


async def serve_relay(
    config: RelayConfig,
    *,
    listeners: Sequence[Listener] | None = None,
    metrics_listeners: Sequence[Listener] | None = None,
    connector: UpstreamConnector | None = None,
    toolbox: Toolbox | None = None,
    task_status: trio.TaskStatus[Relay] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or :meth:`Relay.shutdown`. ``task_status.started`` gets the relay.

    By default the relay listens on ``config.host``/``config.port`` (and ``metrics_port``) and
    reaches the upstream over the network. ``listeners`` and ``metrics_listeners`` replace the
    TCP listeners (they are closed on exit like those), and ``connector`` replaces the network
    to the upstream: tests serve the relay on in-memory streams this way (``tests/harness.py``).
    ``toolbox``: the server-side tools; by default those ``config.tools`` names (``TOOLS``,
    ``MCP_SERVERS``), loaded now.
    The frontend (``config.static_dir``) is read into memory first; over
    ``STATIC_MAX_BYTES`` that raises :class:`~trio_relay.errors.ConfigError` before any listener.
    """
    if toolbox is None:
        toolbox = load_toolbox(config.tools, os.environ)
    tokens = (
        EntraTokenSource(scope=config.upstream.entra_scope)
        if config.upstream is not None and config.upstream.use_entra_id
        else None
    )
    register_config(config)  # its secrets never reach a log or a browser (trio_relay.redact)
    for server in toolbox.mcp_servers:
        register(*server.secrets)
    static = await _load_frontend(config)
    async with open_upstream_target(config) as target:
        relay = Relay(config, target, tokens, connector=connector, toolbox=toolbox, static=static)
        relay.task = trio.lowlevel.current_task()
        if listeners is not None:
            relay.listeners = list(listeners)
        else:
            raise_open_file_limit(config.limits)
            relay.listeners = [
                *await open_listeners(config.host, config.port, reuse_port=config.reuse_port)
            ]
        if metrics_listeners is not None:
            relay.metrics_listeners = list(metrics_listeners)
        elif config.metrics_port is not None:
            relay.metrics_listeners = [
                *await open_listeners(
                    config.host, config.metrics_port, reuse_port=config.reuse_port
                )
            ]
        with relay.serve_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(relay.metrics.flush_traffic_periodically)
                await nursery.start(relay.ticker.run)
                # serve_listeners backs off when accept fails for want of file descriptors.
                await nursery.start(trio.serve_listeners, relay.handle_connection, relay.listeners)
                if relay.metrics_listeners:
                    await nursery.start(
                        trio.serve_listeners,
                        relay.handle_metrics_connection,
                        relay.metrics_listeners,
                    )
                    log.info("serving /metrics and /healthz", port=relay.metrics_port)
                task_status.started(relay)

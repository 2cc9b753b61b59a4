"""The relay's listener: plain HTTP and the ``/realtime`` WebSocket on one port.

Each TCP connection's request head is read with h11 (size-capped, within the handshake timeout).
A WebSocket upgrade to ``/realtime`` is handed, with the bytes already read, to
``trio_websocket.wrap_server_stream`` and becomes a :class:`~trio_relay.session.Session`; anything
else is answered as plain HTTP by :func:`trio_relay.http.route`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import h11
import trio
from trio_websocket import WebSocketConnection, wrap_server_stream

from .config import RelayConfig, UpstreamTarget, fake_target
from .credentials import EntraTokenSource
from .http import REALTIME_PATH, Response, StaticFiles, route, text
from .session import Session

log = logging.getLogger("trio_relay.server")

MAX_REQUEST_HEAD_BYTES = 16 * 1024
CLIENT_RECEIVE_BUFFER_BYTES = 64 * 1024
CLIENT_MESSAGE_QUEUE = 16


class ReplayStream(trio.abc.Stream):
    """A stream that first yields bytes already read from it (the request head), then the rest."""

    def __init__(self, stream: trio.abc.Stream, already_read: bytes) -> None:
        self._stream = stream
        self._pending = already_read

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._pending:
            size = len(self._pending) if max_bytes is None else max_bytes
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


class Relay:
    """Everything a connection handler needs: configuration, upstream target, shared state."""

    def __init__(
        self, config: RelayConfig, target: UpstreamTarget, tokens: EntraTokenSource | None
    ) -> None:
        self.config = config
        self.target = target
        self.tokens = tokens
        self.static = StaticFiles.at(config.static_dir)
        self.ready = True
        self.active_sessions = 0
        self.sessions_total = 0

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        try:
            await self._handle(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer went away mid-request: nothing to answer
        finally:
            await trio.aclose_forcefully(stream)

    async def _handle(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
        while True:
            raw = bytearray()
            request = None
            with trio.move_on_after(self.config.limits.handshake_timeout_s):
                request = await _read_request(stream, conn, raw)
            if request is None:
                return  # too slow, or closed before a full request head: just drop it
            if isinstance(request, Response):
                await _send_response(stream, conn, request, keep_alive=False, head_only=False)
                return
            target = urlsplit(request.target.decode("latin-1"))
            method = request.method.decode("ascii", "replace")
            if _is_websocket_upgrade(request) and target.path == REALTIME_PATH:
                await self._serve_websocket(stream, bytes(raw))
                return
            if _is_websocket_upgrade(request):
                response = text(404, "no WebSocket endpoint here; use /realtime")
            else:
                response = route(method, target.path, ready=self.ready, static=self.static)
            keep_alive = (
                conn.their_http_version == b"1.1"
                and method in ("GET", "HEAD")
                and not (_is_websocket_upgrade(request))
            )
            await _send_response(
                stream, conn, response, keep_alive=keep_alive, head_only=method == "HEAD"
            )
            if not keep_alive or conn.our_state is not h11.DONE:
                return
            if not await _finish_request(stream, conn):
                return
            conn.start_next_cycle()

    async def _serve_websocket(self, stream: trio.abc.Stream, head: bytes) -> None:
        limits = self.config.limits
        async with trio.open_nursery() as nursery:  # the WebSocket's reader task lives here
            request = await wrap_server_stream(
                nursery,
                ReplayStream(stream, head),
                message_queue_size=CLIENT_MESSAGE_QUEUE,
                max_message_size=limits.max_message_bytes,
                receive_buffer_size=CLIENT_RECEIVE_BUFFER_BYTES,
            )
            client: WebSocketConnection = await request.accept()
            self.active_sessions += 1
            self.sessions_total += 1
            try:
                await Session(client, self.config, self.target, self.tokens).run()
            finally:
                self.active_sessions -= 1
                nursery.cancel_scope.cancel()


async def _read_request(
    stream: trio.abc.Stream, conn: h11.Connection, raw: bytearray
) -> h11.Request | Response | None:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            return text(exc.error_status_hint, f"bad request: {exc}")
        if isinstance(event, h11.Request):
            return event
        if event is h11.NEED_DATA:
            data = bytes(await stream.receive_some(MAX_REQUEST_HEAD_BYTES))
            raw += data
            conn.receive_data(data)  # b"" tells h11 the peer closed
            continue
        return None  # ConnectionClosed, or anything unexpected before a request


async def _finish_request(stream: trio.abc.Stream, conn: h11.Connection) -> bool:
    """Read the rest of a GET (no body expected) so the connection can serve the next request."""
    while conn.their_state is not h11.DONE:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = bytes(await stream.receive_some(MAX_REQUEST_HEAD_BYTES))
            conn.receive_data(data)
        elif isinstance(event, h11.ConnectionClosed):
            return False
    return True


async def _send_response(
    stream: trio.abc.Stream,
    conn: h11.Connection,
    response: Response,
    *,
    keep_alive: bool,
    head_only: bool,
) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    data = conn.send(
        h11.Response(status_code=response.status, headers=response.head(keep_alive=keep_alive))
    )
    if response.body and not head_only:
        data += conn.send(h11.Data(data=response.body))
    data += conn.send(h11.EndOfMessage())
    await stream.send_all(data)


def _is_websocket_upgrade(request: h11.Request) -> bool:
    for name, value in request.headers:
        if name == b"upgrade" and value.lower() == b"websocket":
            return True
    return False


@asynccontextmanager
async def open_upstream_target(config: RelayConfig) -> AsyncIterator[UpstreamTarget]:
    """The configured upstream, or the bundled fake upstream run on an ephemeral loopback port."""
    if config.upstream is not None:
        yield config.upstream
        return
    from fake_upstream import open_fake_upstream  # only the fake backend needs it

    async with open_fake_upstream() as fake:
        log.info("running on the bundled fake upstream at %s (no credentials configured)", fake.url)
        yield fake_target(fake.url, "gpt-realtime")


async def serve_relay(
    config: RelayConfig,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled. ``task_status.started`` gets the bound listeners."""
    tokens = (
        EntraTokenSource() if config.upstream is not None and config.upstream.use_entra_id else None
    )
    async with open_upstream_target(config) as target:
        relay = Relay(config, target, tokens)
        listeners = await trio.open_tcp_listeners(config.port, host=config.host)
        await trio.serve_listeners(relay.handle_connection, listeners, task_status=task_status)


def bound_port(listeners: list[trio.SocketListener]) -> int:
    port: int = listeners[0].socket.getsockname()[1]
    return port




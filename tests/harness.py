"""Test helpers: a relay served on a loopback port or in memory, a scripted browser, synthetic
speech.

In memory (:func:`serve_in_memory`), the relay accepts connections from a :class:`MemoryListener`
and reaches the fake upstream through a connector that hands the fake one end of an in-memory
stream pair (:meth:`FakeUpstream.handle`): no socket anywhere, so a test may run on
``autojump_clock`` and time the relay's timeouts exactly, in virtual time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import attrs
import h11
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    open_websocket_url,
    wrap_client_stream,
)

from fake_upstream import FakeUpstream
from trio_relay.config import RelayConfig, UpstreamTarget
from trio_relay.probe import speech_like_pcm
from trio_relay.server import Relay
from trio_relay.serving import serve_relay
from trio_relay.tools.toolbox import Toolbox
from trio_relay.upstream import UpstreamConnector
from trio_relay.websocket import WebSocket, accept

__all__ = ["speech_like_pcm"]

STEP_TIMEOUT_S = 5.0

HEAD_END = b"\r\n\r\n"


async def read_head(stream: trio.abc.Stream) -> bytes:
    head = b""
    while HEAD_END not in head:
        head += await stream.receive_some(4096)
    return head


async def start_relay(nursery: trio.Nursery, config: RelayConfig) -> int:
    """Serve ``config`` on an ephemeral loopback port in ``nursery``; return the port."""
    relay = await serve(nursery, config)
    return relay.port


async def serve(nursery: trio.Nursery, config: RelayConfig) -> Relay:
    relay: Relay = await nursery.start(serve_relay, attrs.evolve(config, host="127.0.0.1", port=0))
    return relay


class MemoryConnection(trio.abc.HalfCloseableStream):
    """The relay's end of an in-memory connection; ``peer`` is the client address it plays
    (read by :func:`trio_relay.edge.peer_address`)."""

    def __init__(self, stream: trio.abc.HalfCloseableStream, peer: str) -> None:
        self.stream = stream
        self.peer = peer

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.stream.aclose()


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose connections are in-memory stream pairs: :meth:`connect` is the client's
    side, :meth:`accept` the server's."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[MemoryConnection](0)

    async def connect(self, peer: str = "memory") -> trio.abc.Stream:
        """A new connection from ``peer``, once the server has accepted it (raises
        ``trio.BrokenResourceError`` once the listener is closed)."""
        client, server = trio.testing.memory_stream_pair()
        await self._send.send(MemoryConnection(server, peer))
        return client

    async def accept(self) -> trio.abc.Stream:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio.ClosedResourceError("the listener is closed") from None

    async def aclose(self) -> None:
        self._receive.close()
        await trio.lowlevel.checkpoint()


def memory_connector(fake: FakeUpstream, nursery: trio.Nursery) -> UpstreamConnector:
    """An upstream connector to ``fake`` over in-memory streams (its connections are served in
    ``nursery``)."""

    async def connect(target: UpstreamTarget) -> trio.abc.Stream:
        ours, theirs = trio.testing.memory_stream_pair()
        nursery.start_soon(fake.handle, theirs)
        return ours

    return connect


@attrs.define
class MemoryRelay:
    """A relay served in memory: :attr:`relay` and the listener its clients connect to."""

    relay: Relay
    listener: MemoryListener
    nursery: trio.Nursery

    def browser(
        self, resource: str = "/realtime", *, peer: str = "memory", **kwargs: Any
    ) -> AbstractAsyncContextManager[Browser]:
        """A browser connected to the relay (``kwargs`` as trio-websocket's
        ``wrap_client_stream``: ``extra_headers``, ``subprotocols``, ``message_queue_size``)."""
        return _memory_browser(self, resource, peer, kwargs)

    async def get(self, path: str, *, peer: str = "memory") -> tuple[int, bytes]:
        """``GET path`` on a connection of its own: the status and the body."""
        stream = await self.listener.connect(peer)
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(method="GET", target=path, headers=[("host", "relay")])
        status, body = 0, b""
        with trio.fail_after(STEP_TIMEOUT_S):
            try:
                await stream.send_all(conn.send(request) + (conn.send(h11.EndOfMessage()) or b""))
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        return status, body
                    else:
                        raise AssertionError(f"unexpected {event!r}")
            finally:
                await trio.aclose_forcefully(stream)


@asynccontextmanager
async def _memory_browser(
    site: MemoryRelay, resource: str, peer: str, kwargs: dict[str, Any]
) -> AsyncIterator[Browser]:
    stream = await site.listener.connect(peer)
    try:
        async with trio.open_nursery() as nursery:
            # Typed for sockets, but speaks over any Trio stream.
            ws = await wrap_client_stream(nursery, stream, "relay", resource, **kwargs)  # type: ignore[arg-type]
            try:
                yield Browser(ws)
            finally:
                with trio.move_on_after(STEP_TIMEOUT_S):
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # As open_websocket_url does: the one error (a rejection from the connection's reader
        # task, or the test's own) is raised as itself.
        raise _the_one_error(group) from None


def _the_one_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        elif not isinstance(error, trio.Cancelled):
            leaves.append(error)
    return leaves[0] if len(leaves) == 1 else group


async def serve_in_memory(
    nursery: trio.Nursery,
    config: RelayConfig,
    fake: FakeUpstream,
    *,
    toolbox: Toolbox | None = None,
) -> MemoryRelay:
    """Serve ``config`` in ``nursery`` on a memory listener, its upstream being ``fake`` over
    memory streams (whatever ``config``'s upstream URL says; its path and query still route);
    ``toolbox``: the relay's server-side tools (default: what ``config.tools`` names)."""
    listener = MemoryListener()
    relay: Relay = await nursery.start(
        partial(
            serve_relay,
            config,
            listeners=[listener],
            metrics_listeners=[],
            connector=memory_connector(fake, nursery),
            toolbox=toolbox,
        )
    )
    return MemoryRelay(relay, listener, nursery)


@attrs.define
class Browser:
    """A scripted browser client speaking the browser protocol."""

    ws: WebSocketConnection
    texts: list[dict[str, Any]] = attrs.Factory(list)
    audio: bytearray = attrs.Factory(bytearray)

    async def send_text(self, text: str, **extra: Any) -> None:
        await self.ws.send_message(json.dumps({"type": "user_message", "text": text, **extra}))

    async def next_message(self) -> dict[str, Any]:
        """The next text message; binary frames on the way are collected in :attr:`audio`."""
        with trio.fail_after(STEP_TIMEOUT_S):
            while True:
                frame = await self.ws.get_message()
                if isinstance(frame, bytes):
                    self.audio += frame
                    continue
                message: dict[str, Any] = json.loads(frame)
                self.texts.append(message)
                return message

    async def until(self, predicate: Any) -> dict[str, Any]:
        with trio.fail_after(STEP_TIMEOUT_S):
            while True:
                message = await self.next_message()
                if predicate(message):
                    return message

    async def closed(self) -> int | None:
        """Read until the relay closes the socket; return its close code."""
        with trio.fail_after(STEP_TIMEOUT_S):
            try:
                while True:
                    await self.next_message()
            except ConnectionClosed as exc:
                return exc.reason.code if exc.reason else None


def is_control(action: str) -> Any:
    return lambda m: m.get("type") == "control" and m.get("action") == action


@asynccontextmanager
async def open_browser(url: str, **kwargs: Any) -> AsyncIterator[Browser]:
    async with open_websocket_url(url, **kwargs) as ws:
        yield Browser(ws)


def frames(pcm: bytes, frame_bytes: int) -> list[bytes]:
    return [pcm[i : i + frame_bytes] for i in range(0, len(pcm), frame_bytes)]


def count_tasks(root: trio.lowlevel.Task | None = None) -> int:
    """Tasks under ``root`` (default: all tasks of the run)."""

    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            walk(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    return walk(root or trio.lowlevel.current_root_task())


@attrs.define
class FakeIdentityEndpoint:
    """An App Service-style managed identity endpoint (``IDENTITY_ENDPOINT``) on loopback."""

    secret_header: str
    token: str
    requests: list[tuple[str, dict[str, str]]] = attrs.Factory(list)
    url: str = ""

    async def serve(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/msi/token"

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(4096))
                continue
            break
        assert isinstance(event, h11.Request)
        headers = {k.decode().lower(): v.decode() for k, v in event.headers}
        self.requests.append((event.target.decode(), headers))
        if headers.get("x-identity-header") != self.secret_header:
            status, body = 401, b'{"error":"bad identity header"}'
        else:
            expires = int(time.time()) + 3600
            body = json.dumps(
                {
                    "access_token": self.token,
                    "expires_on": str(expires),
                    "resource": "https://ai.azure.com",
                    "token_type": "Bearer",
                    "client_id": "00000000-0000-0000-0000-000000000000",
                }
            ).encode()
            status = 200
        head = [("content-type", "application/json"), ("content-length", str(len(body)))]
        data = conn.send(h11.Response(status_code=status, headers=head))
        data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        await stream.aclose()


def open_sockets(ports: set[int]) -> list[tuple[int, int]]:
    """This process's TCP sockets whose local or remote port is one of ``ports``, as
    (local port, remote port) pairs: the relay's own sockets, told apart from the test clients'
    by the ports they are bound or connected to (from /proc/net/tcp and /proc/self/fd)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                pair = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16))
                if inode in inodes and (pair[0] in ports or pair[1] in ports):
                    found.append(pair)
    return sorted(found)


async def tcp_accepted_pair(
    nursery: trio.Nursery,
) -> tuple[WebSocket, WebSocketConnection]:
    """Our server side on a real loopback TCP socket (the transport's direct socket path), and a
    trio-websocket client."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client_stream = await trio.open_tcp_stream("127.0.0.1", port)
    server_stream = await listeners[0].accept()
    await listeners[0].aclose()
    server: list[WebSocket] = []

    async def serve() -> None:
        head = await read_head(server_stream)
        websocket = await accept(server_stream, head, max_message_bytes=1 << 20, subprotocol=None)
        assert websocket is not None
        server.append(websocket)

    nursery.start_soon(serve)
    client = await wrap_client_stream(nursery, client_stream, "relay", "/realtime")
    while not server:
        await trio.lowlevel.checkpoint()
    return server[0], client

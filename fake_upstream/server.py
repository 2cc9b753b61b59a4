"""The fake upstream's WebSocket server: a thin Trio shell around the pure parts. It admits or
refuses each handshake (:mod:`.routing`), then moves frames between the socket and an
:class:`~fake_upstream.engine.Engine`, carries out the engine's directives (close, drop, stall,
garbage) and records every connection for tests.

It runs on ``websockets``' own Trio implementation (:mod:`websockets.trio`), never on the
relay's WebSocket layer: on the relay-to-upstream hop the two ends must not share code, or a
framing or handshake bug common to both would be invisible. This module imports nothing from
``trio_relay`` (a test enforces it). Each connection is websockets' ``ServerConnection``
(handshake, framing, its reader task, the closing handshake); this module only plays the part
of websockets' ``serve()`` stream handler, so that it can add what a fake needs: a TLS handshake
of its own (``wss://``), a record per connection, refusals as the real services answer them,
and endings no real server chooses (a dropped TCP connection, a stall). Two things differ from
websockets' own server, both in :class:`_Connection`: the frames of a batch go out in one write
(else the fake, not the relay, would be what a benchmark measures), and a peer that keeps its
end of TCP open after the closing handshake gets PEER_TCP_CLOSE_TIMEOUT_S, then the fake closes it.

Per connection, on top of websockets' reader task: a task that takes messages (a small bounded
channel gives backpressure), and the conversation task, which feeds the engine every message
already taken before each batch of events it sends (one socket write per batch), and sends as
fast as the socket takes them (no pacing). Whatever ends a conversation (a directive, the peer,
:meth:`FakeUpstream.close_all`) is carried out by the connection's own task.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from itertools import chain
from typing import Any, Literal

import attrs
import trio
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.trio.server import Server, ServerConnection

from .batches import MAX_BACKLOG, Ending, next_batch
from .engine import Engine
from .handshake import (
    CLOSE_HANDSHAKE_TIMEOUT_S,
    HANDSHAKE_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    PROTOCOL_LOG,
    READ_AHEAD_FRAMES,
    RequestParts,
    refusal_response,
)
from .options import FakeUpstreamOptions, new_engine
from .protocol import Close, DialectName, Drop, Output, Stall
from .replay import Replayer
from .routing import Refused, Route, admit
from .validation import client_models

SHUTDOWN_CLOSE_TIMEOUT_S = 0.5  # on exit, how long peers get to answer our close 1001
PEER_TCP_CLOSE_TIMEOUT_S = 0.25  # after the closing handshake, for the peer to close TCP
ABNORMAL_CLOSURE = 1006


@attrs.define
class ConnectionRecord:
    """One accepted or refused connection, as the fake saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-case
    backend: Literal["openai", "azure"] | None = None  # None: the path was not understood
    dialect: DialectName | None = None
    received: list[dict[str, Any]] = attrs.Factory(list)  # client events (parsed JSON)
    sent: list[dict[str, Any]] = attrs.Factory(list)  # server events
    # The HTTP status of a refusal: the fake's (routing, faults) or websockets' own (e.g. 426
    # for a request that is no WebSocket handshake, 503 while the fake shuts down).
    rejected_status: int | None = None
    closed: trio.Event = attrs.Factory(trio.Event)  # the connection has ended
    close_code: int | None = None  # 1006: it ended without a close frame


class _Connection(ServerConnection):
    """websockets' server connection, with what the fake learnt of it during the handshake."""

    record: ConnectionRecord | None = None  # the request was read
    route: Route | None = None  # ... and admitted

    async def send_data(self) -> None:
        """websockets writes each frame with a ``send_all`` of its own (a scheduler round each);
        the fake writes what a batch framed at once. An empty chunk means the end of our side
        of the stream (the closing handshake is over), as for websockets."""
        async with self.send_lock:
            pending = bytearray()
            for data in self.protocol.data_to_send():
                if data:
                    pending += data
                    continue
                if pending:
                    await self.stream.send_all(pending)
                    pending.clear()
                await self._end_of_stream()
            if pending:
                await self.stream.send_all(pending)

    async def _end_of_stream(self) -> None:
        # websockets half-closes and then waits for the peer's end of TCP, with no bound where
        # nothing else waits (trio-websocket clients never close theirs first, for one): the
        # fake gives the peer PEER_TCP_CLOSE_TIMEOUT_S, then closes the stream itself.
        if not isinstance(self.stream, trio.abc.HalfCloseableStream):  # TLS
            await self.stream.aclose()
            return
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_eof()
        self.nursery.start_soon(self._close_unless_closed, PEER_TCP_CLOSE_TIMEOUT_S)

    async def _close_unless_closed(self, timeout_s: float) -> None:
        with trio.move_on_after(timeout_s):
            await self.stream_closed.wait()
        if not self.stream_closed.is_set():
            await self.close_stream()


@attrs.define(eq=False)
class _Conversation:
    """An accepted connection that :meth:`FakeUpstream.close_all` may end: it cancels ``scope``
    and leaves ``closing`` for the connection's own task to carry out."""

    record: ConnectionRecord
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    closing: Close | None = None


class FakeUpstream:
    def __init__(
        self,
        options: FakeUpstreamOptions,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.options = options
        self.ssl_context = ssl_context  # None: ws://, else wss:// with this server context
        self.host = host
        self.connections: list[ConnectionRecord] = []
        self.port = 0
        self._new_connection = trio.Event()
        self._open: set[_Conversation] = set()  # accepted, not stalled, not yet ended
        # websockets' connections ask their Server whether it is closing (then a handshake
        # under way is answered 503); the listeners are served by open_fake_upstream.
        self._server = Server([], self.handle, PROTOCOL_LOG)

    @property
    def url(self) -> str:
        scheme = "ws" if self.ssl_context is None else "wss"
        return f"{scheme}://{self.host}:{self.port}"

    async def wait_for_connection(self, n: int = 1) -> ConnectionRecord:
        """The ``n``-th connection (1-based), once it exists."""
        while len(self.connections) < n:
            await self._new_connection.wait()
        return self.connections[n - 1]

    def _add_record(self, record: ConnectionRecord) -> None:
        self.connections.append(record)
        self._new_connection.set()
        self._new_connection = trio.Event()

    async def handle(self, stream: trio.abc.Stream) -> None:
        """One connection on any Trio stream (serve_tcp's handler), from the TLS handshake (if
        any) to the end. A request that never completes within HANDSHAKE_TIMEOUT_S, a failed
        TLS handshake and bytes that are no HTTP request are dropped unanswered, unrecorded."""
        websocket: _Connection | None = None
        try:
            async with trio.open_nursery() as nursery:  # websockets' reader task runs here
                try:
                    with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
                        if self.ssl_context is not None:
                            stream = trio.SSLStream(
                                stream, self.ssl_context, server_side=True, https_compatible=True
                            )
                            await stream.do_handshake()
                        websocket = self._connection(nursery, stream)
                        await websocket.handshake(self._admit, server_header=None)
                    if websocket is not None and websocket.record is not None:
                        await self._after_handshake(websocket, websocket.record)
                except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed):
                    pass  # the peer went away (or refused our certificate) during a handshake
                finally:
                    # The reader task ends once the stream is closed (at once if it is already).
                    await trio.aclose_forcefully(stream)
        finally:
            if websocket is not None and websocket.record is not None:
                websocket.record.closed.set()

    async def _after_handshake(self, websocket: _Connection, record: ConnectionRecord) -> None:
        """Record a refusal (the fake's or websockets' own), or serve the conversation."""
        response = websocket.response
        if response is not None and response.status_code != 101:
            record.rejected_status = record.rejected_status or response.status_code
        elif websocket.route is not None and websocket.state is OPEN:
            await self._serve(websocket, websocket.route, record)

    def _connection(self, nursery: trio.Nursery, stream: trio.abc.Stream) -> _Connection:
        protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES, logger=PROTOCOL_LOG)
        return _Connection(
            nursery,
            stream,
            protocol,
            self._server,
            ping_interval=None,  # the real services send no pings; the relay may
            close_timeout=CLOSE_HANDSHAKE_TIMEOUT_S,
            max_queue=READ_AHEAD_FRAMES,
        )

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' ``process_request``: record the request; refuse it with the response
        the real service would give, or let websockets accept it (None)."""
        assert isinstance(connection, _Connection)
        parts = RequestParts.of(request)
        record = ConnectionRecord(parts.path, parts.query, parts.headers)
        connection.record = record
        self._add_record(record)
        try:
            route = admit(parts.path, parts.query, parts.headers, self.options.api_key)
        except Refused as refused:
            if refused.route is not None:
                record.backend, record.dialect = refused.route.backend, refused.route.dialect
            record.rejected_status = refused.status
            return refusal_response(refused)
        record.backend, record.dialect = route.backend, route.dialect
        connection.route = route
        return None

    async def _serve(self, websocket: _Connection, found: Route, record: ConnectionRecord) -> None:
        """Converse; then end the connection as the conversation (or close_all) says."""
        conversation = _Conversation(record)
        self._open.add(conversation)
        # What happens if the fake shuts down mid-conversation: the TCP connection just goes.
        ending: Ending = Drop()
        try:
            with conversation.scope:
                ending = await self._converse(websocket, found, record, conversation)
        finally:
            self._open.discard(conversation)
            try:
                if conversation.closing is not None:
                    with trio.CancelScope(shield=True):
                        await _end(
                            websocket, conversation.closing, record, SHUTDOWN_CLOSE_TIMEOUT_S
                        )
                else:
                    await _end(websocket, ending, record, CLOSE_HANDSHAKE_TIMEOUT_S)
            finally:
                if record.close_code is None:
                    record.close_code = _close_code(websocket)

    async def _converse(
        self,
        websocket: _Connection,
        found: Route,
        record: ConnectionRecord,
        conversation: _Conversation,
    ) -> Ending:
        engine = new_engine(found, self.options, trio.current_time)
        frames_in, frames = trio.open_memory_channel[str | bytes](READ_AHEAD_FRAMES)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._take_messages, websocket, frames_in, record)
            ending = await self._run_engine(engine, websocket, frames, record)
            if isinstance(ending, Stall):
                # Never answer again, not even close_all's close. Messages are still taken
                # until READ_AHEAD_FRAMES wait (then websockets stops reading, and the peer's
                # sends block), so a peer that leaves first is still noticed.
                self._open.discard(conversation)
            else:
                nursery.cancel_scope.cancel()  # the caller ends the connection
        return ending

    async def _take_messages(
        self,
        websocket: _Connection,
        frames_in: trio.MemorySendChannel[str | bytes],
        record: ConnectionRecord,
    ) -> None:
        async with frames_in:
            while True:
                try:
                    frame = await websocket.recv()
                except ConnectionClosed:
                    return
                if self.options.record_events and isinstance(frame, str):
                    try:
                        record.received.append(json.loads(frame))
                    except ValueError:
                        record.received.append({"unparsed": frame})
                await frames_in.send(frame)

    async def _run_engine(
        self,
        engine: Engine | Replayer,
        websocket: _Connection,
        frames: trio.MemoryReceiveChannel[str | bytes],
        record: ConnectionRecord,
    ) -> Ending:
        """Feed the engine and send what it says until the peer leaves (None) or a directive
        ends the conversation (that directive, for the caller to carry out once messages are
        no longer taken)."""
        opening: Iterator[Output] = iter(engine.open())  # session.created
        while True:
            # Every message already taken goes in before the next events go out, so that a
            # cancel or a barge-in lands between two writes, as on the real service.
            while engine.backlog < MAX_BACKLOG:
                try:
                    engine.receive_frame(frames.receive_nowait())
                except trio.WouldBlock:
                    break
                except trio.EndOfChannel:
                    return None
            said: Iterator[Output] = iter(engine.next_output, None)  # until it has no more
            sent = record.sent if self.options.record_events else None
            batch, ending = next_batch(chain(opening, said), sent)
            if batch:
                try:
                    await _send_texts(websocket, batch)
                except ConnectionClosed:
                    return None
            if ending is not None:
                return ending
            if not batch:  # nothing to say until the next client frame (or a paced event)
                with trio.move_on_at(engine.wake_at or float("inf")):
                    try:
                        engine.receive_frame(await frames.receive())
                    except trio.EndOfChannel:
                        return None

    async def close_all(
        self, code: int = 1001, reason: str = "fake upstream shutting down"
    ) -> None:
        """Close every open connection, giving peers a short time to answer. This cancels each
        conversation and its own task sends the close (see :meth:`_serve`); this waits for
        them, bounded."""
        closing = list(self._open)
        for conversation in closing:
            conversation.closing = Close(code, reason)
            conversation.scope.cancel()
        with trio.move_on_after(SHUTDOWN_CLOSE_TIMEOUT_S):
            for conversation in closing:
                await conversation.record.closed.wait()

    def stop_admitting(self) -> None:
        """From now on, websockets answers every opening handshake 503."""
        self._server.closing = True


async def _send_texts(websocket: ServerConnection, texts: list[str]) -> None:
    """Frame every text, then write. A turn is about twenty events: a write each would make the
    fake, rather than the relay, what a benchmark of hundreds of sessions measures."""
    async with websocket.send_context():
        for text in texts:
            websocket.protocol.send_text(text.encode())


async def _end(
    websocket: _Connection, ending: Ending, record: ConnectionRecord, close_timeout_s: float
) -> None:
    """Carry out how a conversation ended, then close the stream."""
    if isinstance(ending, Drop):
        record.close_code = ABNORMAL_CLOSURE  # no close frame: the TCP connection just goes
        await trio.aclose_forcefully(websocket.stream)
        return
    if isinstance(ending, Close):
        record.close_code = ending.code
        code, reason = ending.code, ending.reason
    else:
        # The peer has gone, is closing, or (stalled) left: finish the handshake under way.
        code, reason = 1000, ""
    with trio.move_on_after(close_timeout_s):
        await websocket.aclose(code, reason)
    await trio.aclose_forcefully(websocket.stream)  # a peer that never answered the close


def _close_code(websocket: ServerConnection) -> int:
    """The peer's close code, else ours (e.g. 1009 for an oversized message), else 1006."""
    frame = websocket.protocol.close_rcvd or websocket.protocol.close_sent
    return ABNORMAL_CLOSURE if frame is None else int(frame.code)


@asynccontextmanager
async def open_fake_upstream(
    host: str = "127.0.0.1",
    port: int = 0,
    options: FakeUpstreamOptions | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[FakeUpstream]:
    """Serve the fake upstream until the block exits; then close every connection (1001) and
    the listener, leaving no task behind. With ``ssl_context`` (a server context holding the
    certificate), it serves ``wss://``."""
    fake = FakeUpstream(options or FakeUpstreamOptions(), host=host, ssl_context=ssl_context)
    if fake.options.validate_client_events:
        # Importing the openai models takes about a second: pay it now, not in a session.
        client_models("ga")
        client_models("beta")
    async with trio.open_nursery() as nursery:
        listeners: list[trio.SocketListener] = await nursery.start(
            partial(trio.serve_tcp, fake.handle, port, host=host)
        )
        fake.port = listeners[0].socket.getsockname()[1]
        try:
            yield fake
        finally:
            with trio.CancelScope(shield=True):
                fake.stop_admitting()
                await fake.close_all()
            nursery.cancel_scope.cancel()

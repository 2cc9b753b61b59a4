"""The fake upstream's WebSocket server: a thin Trio shell around the pure parts. It admits or
refuses each handshake (:mod:`.routing`), then moves frames between the socket and an
:class:`~fake_upstream.engine.Engine`, carries out the engine's directives (close, drop, stall,
garbage) and records every connection for tests.

It runs on the relay's own WebSocket layer (:mod:`trio_relay.websocket`), not trio-websocket:
that one runs a reader task and a channel per connection of its own, under ours, and made the
fake rather than the relay the ceiling of a benchmark of hundreds of sessions. Here the request
head is read and parsed (h11) by this module, refused with a plain HTTP response or handed to
:func:`~trio_relay.websocket.accept` with the bytes already read.

Per connection, two tasks: a reader that only reads frames (a small bounded channel gives
backpressure), and the conversation task, which feeds the engine every frame already read
before each batch of events it sends (one socket write per batch), and sends as fast as the
socket takes them (no pacing). Only one task may read a WebSocket, and closing one reads (the
peer's close reply), so whatever ends a connection (a directive, the peer, :meth:`close_all`)
stops the reader first and is then carried out by the connection's own task.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from http import HTTPStatus
from itertools import chain
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import attrs
import h11
import trio

from trio_relay.websocket import ConnectionClosed, WebSocket, accept

from .engine import Engine
from .faults import fault_for
from .protocol import Close, DialectName, Drop, Garbage, Output, Stall
from .routing import Refused, Route, admit
from .timing import TimingOptions
from .validation import client_models

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # larger client messages are closed with 1009
MAX_HEAD_BYTES = 16 * 1024  # a longer request head is dropped unanswered
HANDSHAKE_TIMEOUT_S = 10.0  # how long a client gets to send its request head
READ_AHEAD_FRAMES = 16  # client frames read before the engine takes them
MAX_BACKLOG = 256  # the engine takes no more frames while this many outputs wait
SHUTDOWN_CLOSE_TIMEOUT_S = 0.5  # on exit, how long peers get to answer our close 1001
CLOSE_HANDSHAKE_TIMEOUT_S = 2.0  # how long a peer gets to answer a scripted close
ABNORMAL_CLOSURE = 1006
INVALID_HANDSHAKE = 400  # recorded for a request websockets refused (it answered it itself)
EVENTS_PER_WRITE = 8  # events framed into one socket write (a client frame can land between)

# How a conversation ended: a directive to carry out, or None (the peer has gone or is closing).
Ending = Close | Drop | Stall | None


@attrs.frozen
class FakeUpstreamOptions:
    # The exact key required (Bearer token or api-key); None: any non-empty credential.
    api_key: str | None = attrs.field(default=None, repr=False)
    # Benchmark mode: every N bytes of appended audio is one complete turn, without a VAD.
    turn_trigger_bytes: int | None = None
    validate_client_events: bool = True
    reply_audio_ms: int = 1000  # benchmark mode: the length of every answer
    # Keep every event of every connection (tests); off for long demos and benchmarks.
    record_events: bool = True
    # Orders and pacing for connections whose model names no variant (fake_upstream/timing.py).
    timing: TimingOptions = TimingOptions()


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
    rejected_status: int | None = None  # 400 also for any request that is no WebSocket handshake
    closed: trio.Event = attrs.Factory(trio.Event)  # the connection has ended
    close_code: int | None = None  # 1006: it ended without a close frame


@attrs.define(eq=False)
class _Conversation:
    """An accepted connection that :meth:`FakeUpstream.close_all` may end: it cancels ``scope``
    and leaves ``closing`` for the connection's own task to carry out."""

    record: ConnectionRecord
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    closing: Close | None = None


class FakeUpstream:
    def __init__(self, options: FakeUpstreamOptions) -> None:
        self.options = options
        self.connections: list[ConnectionRecord] = []
        self.port = 0
        self._new_connection = trio.Event()
        self._open: set[_Conversation] = set()  # accepted, not stalled, not yet ended

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def wait_for_connection(self, n: int = 1) -> ConnectionRecord:
        """The ``n``-th connection (1-based), once it exists."""
        while len(self.connections) < n:
            await self._new_connection.wait()
        return self.connections[n - 1]

    def _add_record(self, record: ConnectionRecord) -> None:
        self.connections.append(record)
        self._new_connection.set()
        self._new_connection = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        """serve_tcp's handler: one connection, from the request head to the end."""
        try:
            head = await _read_head(stream)
            if head is not None:
                await self._handshake(stream, *head)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed):
            pass  # the peer went away during the handshake
        finally:
            await trio.aclose_forcefully(stream)

    async def _handshake(
        self, stream: trio.SocketStream, raw: bytes, conn: h11.Connection, request: h11.Request
    ) -> None:
        """Record the request, refuse it or accept it, and converse until the end."""
        target = urlsplit(request.target.decode("latin-1"))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        record = ConnectionRecord(target.path, dict(parse_qsl(target.query)), headers)
        self._add_record(record)
        try:
            try:
                found = admit(record.path, record.query, headers, self.options.api_key)
            except Refused as refused:
                if refused.route is not None:
                    record.backend, record.dialect = refused.route.backend, refused.route.dialect
                record.rejected_status = refused.status
                await _refuse(stream, conn, refused)
                return
            record.backend, record.dialect = found.backend, found.dialect
            websocket = await accept(
                stream, raw, max_message_bytes=MAX_MESSAGE_BYTES, subprotocol=None
            )
            if websocket is None:
                record.rejected_status = INVALID_HANDSHAKE
                return
            await self._serve(websocket, found, record)
        finally:
            record.closed.set()

    async def _serve(self, websocket: WebSocket, found: Route, record: ConnectionRecord) -> None:
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
        websocket: WebSocket,
        found: Route,
        record: ConnectionRecord,
        conversation: _Conversation,
    ) -> Ending:
        engine = Engine(
            found.dialect,
            found.model,
            fault=fault_for(found.model),
            turn_trigger_bytes=self.options.turn_trigger_bytes,
            reply_audio_ms=self.options.reply_audio_ms,
            validate=self.options.validate_client_events,
            timing=self.options.timing,
            clock=trio.current_time,
        )
        frames_in, frames = trio.open_memory_channel[str | bytes](READ_AHEAD_FRAMES)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_frames, websocket, frames_in, record)
            ending = await self._run_engine(engine, websocket, frames, record)
            if isinstance(ending, Stall):
                # Never answer again, not even close_all's close. The reader goes on until
                # READ_AHEAD_FRAMES frames wait unread (then the peer's sends block), so a peer
                # that leaves first is still noticed.
                self._open.discard(conversation)
            else:
                nursery.cancel_scope.cancel()  # stop reading: only then may the caller close
        return ending

    async def _read_frames(
        self,
        websocket: WebSocket,
        frames_in: trio.MemorySendChannel[str | bytes],
        record: ConnectionRecord,
    ) -> None:
        async with frames_in:
            while True:
                try:
                    frame = await websocket.receive()
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
        engine: Engine,
        websocket: WebSocket,
        frames: trio.MemoryReceiveChannel[str | bytes],
        record: ConnectionRecord,
    ) -> Ending:
        """Feed the engine and send what it says until the peer leaves (None) or a directive
        ends the conversation (that directive, for the caller to carry out once the reader has
        stopped)."""
        opening: Iterator[Output] = iter(engine.open())  # session.created
        while True:
            # Every frame already read goes in before the next events go out, so that a cancel
            # or a barge-in lands between two writes, as on the real service.
            while engine.backlog < MAX_BACKLOG:
                try:
                    engine.receive_frame(frames.receive_nowait())
                except trio.WouldBlock:
                    break
                except trio.EndOfChannel:
                    return None
            said: Iterator[Output] = iter(engine.next_output, None)  # until it has no more
            batch, ending = self._next_batch(chain(opening, said), record)
            if batch:
                try:
                    # A turn is about twenty events: a write each would make the fake, rather
                    # than the relay, what a benchmark of hundreds of sessions measures.
                    await websocket.send_many(batch)
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

    def _next_batch(
        self, outputs: Iterator[Output], record: ConnectionRecord
    ) -> tuple[list[str], Ending]:
        """Up to EVENTS_PER_WRITE texts to send (events, and garbage as it is), and the
        directive that ends the conversation after them, if one came."""
        batch: list[str] = []
        for output in outputs:
            if isinstance(output, dict):
                if self.options.record_events:
                    record.sent.append(output)
                batch.append(json.dumps(output, separators=(",", ":")))
            elif isinstance(output, Garbage):
                batch.append(output.text)
            else:
                return batch, output
            if len(batch) == EVENTS_PER_WRITE:
                break
        return batch, None

    async def close_all(
        self, code: int = 1001, reason: str = "fake upstream shutting down"
    ) -> None:
        """Close every open connection, giving peers a short time to answer. Each connection's
        reader is busy receiving, and closing reads too, so this cancels each conversation and
        its own task sends the close (see :meth:`_serve`); this waits for them, bounded."""
        closing = list(self._open)
        for conversation in closing:
            conversation.closing = Close(code, reason)
            conversation.scope.cancel()
        with trio.move_on_after(SHUTDOWN_CLOSE_TIMEOUT_S):
            for conversation in closing:
                await conversation.record.closed.wait()


async def _end(
    websocket: WebSocket, ending: Ending, record: ConnectionRecord, close_timeout_s: float
) -> None:
    """Carry out how a conversation ended (its reader has stopped), then close the stream."""
    if isinstance(ending, Close):
        record.close_code = ending.code
        await websocket.aclose(ending.code, ending.reason, close_timeout_s=close_timeout_s)
    elif isinstance(ending, Drop):
        record.close_code = ABNORMAL_CLOSURE  # no close frame: the TCP connection just goes
        await trio.aclose_forcefully(websocket.stream)
    else:
        # The peer has gone, is closing, or (stalled) left: finish the handshake under way.
        await websocket.aclose(close_timeout_s=close_timeout_s)


def _close_code(websocket: WebSocket) -> int:
    """The peer's close code, else ours (e.g. 1009 for an oversized message), else 1006."""
    frame = websocket.protocol.close_rcvd or websocket.protocol.close_sent
    return ABNORMAL_CLOSURE if frame is None else int(frame.code)


async def _read_head(stream: trio.SocketStream) -> tuple[bytes, h11.Connection, h11.Request] | None:
    """The raw bytes read (the request head, maybe with the first frames behind it), the h11
    state that parsed them, and the request; None (answer nothing, just close) for a head that
    is malformed, longer than MAX_HEAD_BYTES, cut short, or not complete within
    HANDSHAKE_TIMEOUT_S."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    raw = bytearray()
    with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return None
            if isinstance(event, h11.Request):
                return bytes(raw), conn, event
            if event is not h11.NEED_DATA:
                return None  # the peer closed before a whole head
            data = await stream.receive_some(MAX_HEAD_BYTES)
            raw += data
            conn.receive_data(data)  # b"": the peer closed
    return None


async def _refuse(stream: trio.SocketStream, conn: h11.Connection, refused: Refused) -> None:
    """Answer a refused handshake with plain HTTP, as the real services do (the caller then
    closes the connection)."""
    try:
        phrase = HTTPStatus(refused.status).phrase.encode()
    except ValueError:
        phrase = b""
    headers = [
        *refused.headers,
        (b"content-length", str(len(refused.body)).encode()),
        (b"connection", b"close"),
    ]
    response = h11.Response(status_code=refused.status, headers=headers, reason=phrase)
    events = (response, h11.Data(data=refused.body), h11.EndOfMessage())
    await stream.send_all(b"".join(conn.send(event) or b"" for event in events))


@asynccontextmanager
async def open_fake_upstream(
    host: str = "127.0.0.1", port: int = 0, options: FakeUpstreamOptions | None = None
) -> AsyncIterator[FakeUpstream]:
    """Serve the fake upstream until the block exits; then close every connection (1001) and
    the listener, leaving no task behind."""
    fake = FakeUpstream(options or FakeUpstreamOptions())
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
                await fake.close_all()
            nursery.cancel_scope.cancel()

"""The fake upstream's WebSocket server: a thin Trio shell around the pure parts. It admits or
refuses each handshake (:mod:`.routing`), then moves frames between the socket and an
:class:`~fake_upstream.engine.Engine`, carries out the engine's directives (close, drop, stall,
garbage) and records every connection for tests.

Per connection, two tasks: a reader that only reads frames (a small bounded channel gives
backpressure), and the conversation task, which feeds the engine every frame already read
before each event it sends, and sends as fast as the socket takes them (no pacing).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
    serve_websocket,
)
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

from .engine import Engine
from .faults import fault_for
from .protocol import Close, DialectName, Drop, Garbage, Output, Stall
from .routing import Refused, Route, admit
from .validation import client_models

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # larger client messages are closed with 1009
READ_AHEAD_FRAMES = 16  # client frames read before the engine takes them
MAX_BACKLOG = 256  # the engine takes no more frames while this many outputs wait
SHUTDOWN_CLOSE_TIMEOUT_S = 0.5  # on exit, how long peers get to answer our close 1001
CLOSE_HANDSHAKE_TIMEOUT_S = 2.0  # how long a peer gets to answer a scripted close
ABNORMAL_CLOSURE = 1006
EVENTS_PER_WRITE = 8  # events framed into one socket write (a client frame can land between)


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
    rejected_status: int | None = None
    closed: trio.Event = attrs.Factory(trio.Event)  # the connection has ended
    close_code: int | None = None


class FakeUpstream:
    def __init__(self, options: FakeUpstreamOptions) -> None:
        self.options = options
        self.connections: list[ConnectionRecord] = []
        self.port = 0
        self._new_connection = trio.Event()
        self._open: set[WebSocketConnection] = set()  # accepted, not stalled, not yet ended

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

    async def handle(self, request: WebSocketRequest) -> None:
        """serve_websocket's handler: one connection, from handshake to end."""
        target = urlsplit(request.path)
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
                await request.reject(
                    refused.status, extra_headers=list(refused.headers), body=refused.body
                )
                return
            record.backend, record.dialect = found.backend, found.dialect
            connection = await request.accept()
            self._open.add(connection)
            try:
                await self._converse(connection, found, record)
            finally:
                self._open.discard(connection)
                if record.close_code is None and connection.closed is not None:
                    record.close_code = connection.closed.code
        except ConnectionClosed as exc:
            if record.close_code is None and exc.reason is not None:
                record.close_code = exc.reason.code
        finally:
            record.closed.set()

    async def _converse(
        self, connection: WebSocketConnection, found: Route, record: ConnectionRecord
    ) -> None:
        engine = Engine(
            found.dialect,
            found.model,
            fault=fault_for(found.model),
            turn_trigger_bytes=self.options.turn_trigger_bytes,
            reply_audio_ms=self.options.reply_audio_ms,
            validate=self.options.validate_client_events,
        )
        for output in engine.open():
            if not await self._send(connection, output, record):
                return
        frames_in, frames = trio.open_memory_channel[str | bytes](READ_AHEAD_FRAMES)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_frames, connection, frames_in, record)
            ending = await self._run_engine(engine, connection, frames, record)
            nursery.cancel_scope.cancel()  # stop reading
        if isinstance(ending, Stall):
            self._open.discard(connection)  # it will never answer a close: do not wait for one
            await _wait_for_peer_close(connection)

    async def _read_frames(
        self,
        connection: WebSocketConnection,
        frames_in: trio.MemorySendChannel[str | bytes],
        record: ConnectionRecord,
    ) -> None:
        async with frames_in:
            while True:
                try:
                    frame = await connection.get_message()
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
        connection: WebSocketConnection,
        frames: trio.MemoryReceiveChannel[str | bytes],
        record: ConnectionRecord,
    ) -> Output | None:
        """Feed the engine and send what it says until the peer leaves (None) or a directive
        ends the conversation (that directive)."""
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
            batch: list[str] = []
            output = engine.next_output()
            while isinstance(output, dict):
                if self.options.record_events:
                    record.sent.append(output)
                batch.append(json.dumps(output, separators=(",", ":")))
                if len(batch) == EVENTS_PER_WRITE:
                    break
                output = engine.next_output()
            if batch and not await _send_texts(connection, batch):
                return None
            if isinstance(output, dict):
                continue
            if output is None:
                if not batch:
                    try:
                        engine.receive_frame(await frames.receive())
                    except trio.EndOfChannel:
                        return None
            elif not await self._send(connection, output, record):
                return output

    async def _send(
        self, connection: WebSocketConnection, output: Output, record: ConnectionRecord
    ) -> bool:
        """Send one output; False once the conversation is over (by this output, or because
        the peer has gone)."""
        try:
            if isinstance(output, dict):
                if self.options.record_events:
                    record.sent.append(output)
                await connection.send_message(json.dumps(output, separators=(",", ":")))
            elif isinstance(output, Garbage):
                await connection.send_message(output.text)
            elif isinstance(output, Close):
                record.close_code = output.code
                with trio.move_on_after(CLOSE_HANDSHAKE_TIMEOUT_S):
                    await connection.aclose(output.code, output.reason)
                return False
            elif isinstance(output, Drop):
                # No close frame: the TCP connection just goes away. trio-websocket has no
                # public way to do that, so this reaches for its stream.
                record.close_code = ABNORMAL_CLOSURE
                await trio.aclose_forcefully(connection._stream)
                return False
            elif isinstance(output, Stall):
                return False
        except ConnectionClosed:
            return False
        return True

    async def close_all(
        self, code: int = 1001, reason: str = "fake upstream shutting down"
    ) -> None:
        """Close every open connection, giving peers a short time to answer."""
        with trio.move_on_after(SHUTDOWN_CLOSE_TIMEOUT_S):
            async with trio.open_nursery() as nursery:
                for connection in list(self._open):
                    nursery.start_soon(connection.aclose, code, reason)


async def _send_texts(connection: WebSocketConnection, texts: list[str]) -> bool:
    """Send several text messages in one socket write; False if the peer has gone.

    A turn is about twenty events, and a write each would make the fake, rather than the relay,
    what a benchmark of hundreds of sessions measures. trio-websocket writes one message per
    call, so this frames them with the connection's wsproto state and writes under its stream
    lock, as its own ``_send`` does; without those internals it sends them one by one."""
    if connection.closed is not None:
        return False
    framing = getattr(connection, "_wsproto", None)
    lock = getattr(connection, "_stream_lock", None)
    if framing is None or lock is None:
        try:
            for text in texts:
                await connection.send_message(text)
        except ConnectionClosed:
            return False
        return True
    try:
        data = b"".join(framing.send(TextMessage(data=text)) for text in texts)
        async with lock:
            await connection._stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError, LocalProtocolError):
        return False
    return True


async def _wait_for_peer_close(connection: WebSocketConnection) -> None:
    # trio-websocket has no public "wait until closed"; its close-handshake event is set once
    # the peer's close frame or the end of the TCP stream has been read.
    closed = getattr(connection, "_close_handshake", None)
    if isinstance(closed, trio.Event):
        await closed.wait()
    else:
        await trio.sleep_forever()


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
        server: WebSocketServer = await nursery.start(
            partial(
                serve_websocket,
                fake.handle,
                host,
                port,
                ssl_context=None,
                max_message_size=MAX_MESSAGE_BYTES,
            )
        )
        fake.port = server.port
        try:
            yield fake
        finally:
            with trio.CancelScope(shield=True):
                await fake.close_all()
            nursery.cancel_scope.cancel()

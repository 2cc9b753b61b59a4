"""WebSocket connections on Trio streams, driven by the ``websockets`` package's Sans-I/O protocol.

Why not trio-websocket (or ``websockets.trio``): both run a reader task per connection that
hands every message to the application through a channel, so each frame costs two task
wake-ups and a channel hop before the session sees it. Here the session's own tasks drive the
protocol: :meth:`WebSocket.receive` reads the socket only when no message is buffered, and one
read can bring many frames (a burst of upstream events, or the microphone frames the
client-reader let gather), which then cost no I/O and no wake-up at all. ``websockets`` parses,
validates and masks frames (in C where it matters); this module only moves bytes and assembles
fragmented messages. ``python -m bench floor`` measures the stacks side by side.

On a TCP socket (see :mod:`trio_relay.transport`) a send that the socket takes at once does not
yield, and :meth:`WebSocket.receive_ready` reads what gathered while the caller slept without a
second wake-up; :meth:`WebSocket.receive` is a checkpoint per socket read.

Concurrency: one task may receive while others send; sends are serialised by a lock (the
receiving task also sends: pongs and the close reply).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from urllib.parse import urlsplit

import attrs
import trio
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, OPEN, SERVER, Protocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from .transport import RECEIVE_BYTES, transport_for

INVALID_DATA = 1007

# websockets logs every frame and handshake header at DEBUG (credentials included) and every
# connection at INFO; the relay logs sessions itself. Only its warnings and errors get through.
PROTOCOL_LOG = logging.getLogger("trio_relay.websocket.protocol")
PROTOCOL_LOG.setLevel(logging.WARNING)


@attrs.frozen
class Close:
    code: int
    reason: str


class ConnectionClosed(Exception):
    """The WebSocket is closed (or closing): what each side said, if anything.

    ``received`` is the peer's close frame (None: the connection dropped without one);
    ``sent`` is ours (e.g. 1009 when the peer sent a message over the size limit)."""

    def __init__(self, received: Close | None, sent: Close | None) -> None:
        super().__init__(f"WebSocket closed (received {received}, sent {sent})")
        self.received = received
        self.sent = sent


class HandshakeFailed(Exception):
    """The server refused the opening handshake (``status`` is its HTTP status) or answered
    something that is not a WebSocket handshake (``status`` is None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class WebSocket:
    """One open WebSocket connection over ``stream`` (see the module doc)."""

    def __init__(self, stream: trio.abc.Stream, protocol: Protocol) -> None:
        self.stream = stream
        self.transport = transport_for(stream)
        self.protocol = protocol
        self._messages: deque[str | bytes] = deque()
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._send_lock = trio.Lock()
        self._receiving = False
        self._broken = False  # a write was interrupted: the stream may hold half a frame
        self._unsent = b""  # framed, not written yet (see _take_writes)
        self._eof_unsent = False

    @property
    def subprotocol(self) -> str | None:
        return self.protocol.subprotocol

    @property
    def open(self) -> bool:
        return self.protocol.state is OPEN and not self._broken

    def receive_nowait(self) -> str | bytes | None:
        """The next message if one was already read from the socket, else None (no I/O)."""
        return self._messages.popleft() if self._messages else None

    async def receive_ready(self) -> str | bytes | None:
        """The next message if one can be had without waiting: already read, or in what the
        socket holds right now (one read). None when nothing is ready, the stream cannot be read
        without waiting, or the connection is closing (:meth:`receive` then says how). Yields
        only to answer the peer (a pong, a close) when the socket cannot take the answer."""
        if self._messages:
            return self._messages.popleft()
        if self._receiving or self.protocol.state is not OPEN or self._broken:
            return None
        data = self.transport.receive_nowait()
        if data is None:
            return None
        self._process(data)
        await self._write_pending()
        return self._messages.popleft() if self._messages else None

    async def receive(self) -> str | bytes:
        """The next message: text as ``str``, binary as ``bytes``. Reads the socket only when no
        message is buffered. Raises :class:`ConnectionClosed` once the connection is closing."""
        if self._messages:
            return self._messages.popleft()
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this WebSocket")
        self._receiving = True
        try:
            while not self._messages:
                if self.protocol.state is not OPEN or self._broken:
                    raise self._closed()
                await self._read()
        finally:
            self._receiving = False
        return self._messages.popleft()

    async def send(self, message: str | bytes, *, timeout_s: float = math.inf) -> None:
        await self.send_many((message,), timeout_s=timeout_s)

    async def send_many(
        self, messages: Iterable[str | bytes], *, timeout_s: float = math.inf
    ) -> None:
        """Send messages in order, with one socket write for all of them (and, first, whatever
        :meth:`send_many_nowait` left unsent: ``send_many([])`` writes just that). Yields only
        when the socket cannot take it all at once; if it has not within ``timeout_s``, raises
        ``trio.TooSlowError`` and the connection is broken (it may hold half a frame)."""
        self._frame(messages)
        await self._write_pending(timeout_s)

    def send_many_nowait(self, messages: Iterable[str | bytes]) -> bool:
        """Send messages in order without waiting or yielding; True when the socket took them
        all at once. Otherwise (the socket is full, another task is writing, or the stream
        cannot be written without waiting) the rest stays queued here, ahead of anything sent
        later, and :attr:`unsent` is true until a :meth:`send_many` writes it."""
        self._frame(messages)
        self._take_writes()
        if self._send_lock.locked() or self._eof_unsent or self._broken:
            return False
        try:
            sent = self.transport.send_nowait(memoryview(self._unsent))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._broken = True
            raise self._closed() from None
        if sent:
            self._unsent = self._unsent[sent:]
        return not self._unsent

    @property
    def unsent(self) -> bool:
        """Bytes queued by :meth:`send_many_nowait` that the socket has not taken yet."""
        return bool(self._unsent) or self._eof_unsent

    def _frame(self, messages: Iterable[str | bytes]) -> None:
        if not self.open:
            raise self._closed()
        for message in messages:
            if isinstance(message, str):
                self.protocol.send_text(message.encode())
            else:
                self.protocol.send_binary(message)

    async def aclose(
        self, code: int = 1000, reason: str = "", *, close_timeout_s: float = 2.0
    ) -> None:
        """The closing handshake (bounded by ``close_timeout_s``), then close the stream.
        Never raises for a peer that is already gone."""
        try:
            with trio.move_on_after(close_timeout_s):
                if self.open:
                    self.protocol.send_close(code, reason)
                    await self._write_pending()
                # A server closes the TCP connection once the peer's close frame is in; a client
                # waits for the server to close it (RFC 6455, section 7.1.1).
                while not self._broken and not self._handshake_done():
                    await self._read()
        except ConnectionClosed:
            pass  # the peer is gone already
        finally:
            await trio.aclose_forcefully(self.stream)

    def _handshake_done(self) -> bool:
        if self.protocol.state is CLOSED:
            return True
        return self.protocol.side is SERVER and self.protocol.close_rcvd is not None

    def _closed(self) -> ConnectionClosed:
        received, sent = self.protocol.close_rcvd, self.protocol.close_sent
        return ConnectionClosed(
            None if received is None else Close(int(received.code), received.reason),
            None if sent is None else Close(int(sent.code), sent.reason),
        )

    async def _read(self) -> None:
        self._process(await self.transport.receive())
        await self._write_pending()

    def _process(self, data: bytes) -> None:
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._assemble(event)

    def _assemble(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
            opcode = self._fragment_opcode  # type: ignore[assignment]
            if not frame.fin:
                return
            data = b"".join(self._fragments)
            self._fragments, self._fragment_opcode = [], None
        elif opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self._fragments, self._fragment_opcode = [bytes(frame.data)], opcode
                return
            data = bytes(frame.data)
        else:
            return  # ping, pong, close: the protocol already answered what needs answering
        if opcode is Opcode.BINARY:
            self._messages.append(data)
            return
        try:
            self._messages.append(data.decode())
        except UnicodeDecodeError as exc:
            self.protocol.fail(INVALID_DATA, f"{exc.reason} at position {exc.start}")

    async def _send_rest(self, data: memoryview, timeout_s: float) -> None:
        if timeout_s == math.inf:
            await self.transport.send_all(data)
            return
        with trio.move_on_after(timeout_s) as waited:
            await self.transport.send_all(data)
        if waited.cancelled_caught:
            raise trio.TooSlowError(f"the peer took no data for {timeout_s:g} s")

    def _take_writes(self) -> None:
        """Queue the protocol's outgoing bytes behind those not written yet. Everything to be
        written passes through this queue, in the order it was framed; whoever holds the send
        lock writes all of it."""
        writes = self.protocol.data_to_send()
        if writes and writes[-1] == b"":  # the protocol's end of stream, after its last bytes
            self._eof_unsent = True
            writes.pop()
        if writes:
            self._unsent += b"".join(writes)

    async def _write_pending(self, timeout_s: float = math.inf) -> None:
        self._take_writes()
        if not self.unsent:
            return
        try:
            self._send_lock.acquire_nowait()
        except trio.WouldBlock:
            await self._send_lock.acquire()
        try:
            if self._broken:
                return
            data = memoryview(self._unsent)
            eof = self._eof_unsent
            self._unsent, self._eof_unsent = b"", False
            try:
                sent = self.transport.send_nowait(data)
                if sent < len(data):
                    await self._send_rest(data[sent:], timeout_s)
                if eof:
                    await self.transport.send_eof()
            except BaseException:
                self._broken = True  # cancelled or failed mid-write: no more frames on it
                raise
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._closed() from None
        finally:
            self._send_lock.release()


async def accept(
    stream: trio.abc.Stream, request_head: bytes, *, max_message_bytes: int, subprotocol: str | None
) -> WebSocket | None:
    """Answer a WebSocket upgrade whose request head (``request_head``, the raw bytes, which may
    already hold the first frames) was read from ``stream``. Returns None when the request is
    not a valid WebSocket handshake; the client then got a 400 (or 426) and nothing else."""

    def select(_: ServerProtocol, offered: list[str]) -> str | None:
        return subprotocol if subprotocol in offered else None

    protocol = ServerProtocol(
        max_size=max_message_bytes,
        select_subprotocol=select,  # type: ignore[arg-type]
        logger=PROTOCOL_LOG,
    )
    protocol.receive_data(request_head)
    events = protocol.events_received()
    websocket = WebSocket(stream, protocol)
    if not events or not isinstance(events[0], Request):  # websockets refused the head itself
        await websocket._write_pending()
        return None
    response = protocol.accept(events[0])
    if "Server" in response.headers:
        del response.headers["Server"]
    protocol.send_response(response)
    # Frames sent right behind the request head: parsed along with it, or once accepted.
    for event in [*events[1:], *protocol.events_received()]:
        if isinstance(event, Frame):
            websocket._assemble(event)
    await websocket._write_pending()
    return websocket if response.status_code == 101 else None


async def connect(
    stream: trio.abc.Stream,
    url: str,
    headers: Iterable[tuple[str, str]],
    *,
    max_message_bytes: int,
) -> WebSocket:
    """The client side of the opening handshake on ``stream`` (already connected to the host of
    ``url``). Raises :class:`HandshakeFailed` when the server refuses or answers nonsense."""
    protocol = ClientProtocol(parse_uri(url), max_size=max_message_bytes, logger=PROTOCOL_LOG)
    request = protocol.connect()
    request.headers.update(Headers(headers))
    protocol.send_request(request)
    websocket = WebSocket(stream, protocol)
    await websocket._write_pending()
    response: Response | None = None
    while response is None:
        try:
            data = await stream.receive_some(RECEIVE_BYTES)
        except trio.BrokenResourceError:
            data = b""
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events = protocol.events_received()
        for event in events:
            if isinstance(event, Response):
                response = event
            elif isinstance(event, Frame):
                websocket._assemble(event)
        if response is None and protocol.handshake_exc is not None:
            break
        if response is None and not data:
            raise HandshakeFailed(f"{_host(url)} closed the connection during the handshake")
    failure = protocol.handshake_exc
    if isinstance(failure, InvalidStatus):
        raise HandshakeFailed(str(failure), failure.response.status_code)
    if failure is not None or response is None:
        raise HandshakeFailed(f"{_host(url)} did not answer with a WebSocket handshake: {failure}")
    return websocket


def _host(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]

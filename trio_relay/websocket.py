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
receiving task also sends: pongs and the close reply). The receiving task never waits for the
lock: while another task's write is under way, that task writes the answers too, so a peer's
close or EOF is noticed at once even when the write to it is stuck.

Bounds: every write (data, pongs and close replies written while receiving, close frames, the
handshake answer) gives up after ``write_timeout_s`` without progress unless the caller gives its
own timeout, and raises :class:`WriteTimeout`; the connection is then broken. A message counts
toward ``max_message_bytes`` with all its fragments (the ``websockets`` protocol tracks the
total), and a message of more than ``max_message_fragments`` fragments fails the connection with
1009 however small they are.
"""

from __future__ import annotations

import logging
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
MESSAGE_TOO_BIG = 1009
# Defaults for callers that do not pass their own (the relay passes its configured limits).
DEFAULT_WRITE_TIMEOUT_S = 10.0
DEFAULT_MAX_MESSAGE_FRAGMENTS = 1024

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


class WriteTimeout(trio.TooSlowError):
    """The peer took no data for ``timeout_s`` (it stopped reading); the connection is broken
    and ``connection`` says which one it was."""

    def __init__(self, connection: WebSocket, timeout_s: float) -> None:
        super().__init__(f"the peer took no data for {timeout_s:g} s")
        self.connection = connection
        self.timeout_s = timeout_s


class HandshakeFailed(Exception):
    """The server refused the opening handshake (``status`` is its HTTP status) or answered
    something that is not a WebSocket handshake (``status`` is None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class WebSocket:
    """One open WebSocket connection over ``stream`` (see the module doc)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: Protocol,
        *,
        write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
        max_message_fragments: int = DEFAULT_MAX_MESSAGE_FRAGMENTS,
    ) -> None:
        self.stream = stream
        self.transport = transport_for(stream)
        self.protocol = protocol
        self.write_timeout_s = write_timeout_s
        self.max_message_fragments = max_message_fragments
        self._messages: deque[str | bytes] = deque()
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._failed = False  # we failed the connection: nothing more it sent is a message
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
        only to answer the peer (a pong, a close) when the socket cannot take the answer; raises
        :class:`WriteTimeout` if it takes none of it within ``write_timeout_s``."""
        if self._messages:
            return self._messages.popleft()
        if self._receiving or self.protocol.state is not OPEN or self._broken:
            return None
        data = self.transport.receive_nowait()
        if data is None:
            return None
        self._process(data)
        await self._write_pending(wait_for_lock=False)
        return self._messages.popleft() if self._messages else None

    async def receive(self) -> str | bytes:
        """The next message: text as ``str``, binary as ``bytes``. Reads the socket only when no
        message is buffered. Raises :class:`ConnectionClosed` once the connection is closing, and
        :class:`WriteTimeout` when the peer does not take a pong or close reply (see
        :meth:`receive_ready`). Pings and unfinished fragmented messages are no message: the
        caller's timeout on ``receive`` runs on through them."""
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

    async def send(self, message: str | bytes, *, timeout_s: float | None = None) -> None:
        await self.send_many((message,), timeout_s=timeout_s)

    async def send_many(
        self, messages: Iterable[str | bytes], *, timeout_s: float | None = None
    ) -> None:
        """Send messages in order, with one socket write for all of them (and, first, whatever
        :meth:`send_many_nowait` left unsent: ``send_many([])`` writes just that). Yields only
        when the socket cannot take it all at once; if the peer takes no data for ``timeout_s``
        (default: ``write_timeout_s``), raises :class:`WriteTimeout` and the connection is broken
        (it may hold half a frame)."""
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
        """The closing handshake (bounded by ``close_timeout_s``, and each write by
        ``write_timeout_s``), then close the stream. Never raises for a peer that is gone or
        does not read."""
        try:
            with trio.move_on_after(close_timeout_s):
                if self.open:
                    self.protocol.send_close(code, reason)
                # Our close frame, or one the protocol queued when it failed the connection.
                await self._write_pending()
                # A server closes the TCP connection once the peer's close frame is in; a client
                # waits for the server to close it (RFC 6455, section 7.1.1).
                while not self._broken and not self._handshake_done():
                    await self._read()
        except (ConnectionClosed, WriteTimeout):
            pass  # the peer is gone already, or does not read: nothing more to say to it
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
        await self._write_pending(wait_for_lock=False)

    def _process(self, data: bytes) -> None:
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self._handle(self.protocol.events_received())

    def _handle(self, events: Iterable[object]) -> None:
        for event in events:
            if self._failed:
                return  # RFC 6455, 7.1.7: no more data from a connection we failed is processed
            if isinstance(event, Frame):
                self._assemble(event)

    def _fail(self, code: int, reason: str) -> None:
        self._failed = True
        self._fragments, self._fragment_opcode = [], None
        self.protocol.fail(code, reason)

    def _assemble(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.CONT:
            # Their bytes count toward max_size in the protocol; their number is bounded here
            # (empty continuation frames cost a wake-up each and never make a message).
            if len(self._fragments) >= self.max_message_fragments:
                self._fail(
                    MESSAGE_TOO_BIG,
                    f"a message of more than {self.max_message_fragments} fragments",
                )
                return
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
            self._fail(INVALID_DATA, f"{exc.reason} at position {exc.start}")

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

    async def _write_pending(
        self, timeout_s: float | None = None, *, wait_for_lock: bool = True
    ) -> None:
        """Write everything queued (see :meth:`_take_writes`), and what others queue while the
        write is under way. The lock's holder is bounded by its timeout, so waiting for the lock
        is too; without ``wait_for_lock`` (a receiving task's pongs and close replies) the bytes
        are left to the holder, which writes them after its own: a peer's close or EOF is then
        seen at once even while a write to it is stuck."""
        self._take_writes()
        if not self.unsent:
            return
        if timeout_s is None:
            timeout_s = self.write_timeout_s
        try:
            self._send_lock.acquire_nowait()
        except trio.WouldBlock:
            if not wait_for_lock:
                return
            await self._send_lock.acquire()
        try:
            if self._broken:  # the write before ours broke the stream: ours cannot go out
                raise self._closed()
            try:
                while self.unsent:
                    data = memoryview(self._unsent)
                    eof = self._eof_unsent
                    self._unsent, self._eof_unsent = b"", False
                    sent = self.transport.send_nowait(data)
                    if sent < len(data):
                        await self.transport.send_all(data[sent:], timeout_s=timeout_s)
                    if eof:
                        await self.transport.send_eof()
                    self._take_writes()  # queued meanwhile by a task that did not wait
            except BaseException:
                self._broken = True  # cancelled or failed mid-write: no more frames on it
                raise
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._closed() from None
        except trio.TooSlowError:
            raise WriteTimeout(self, timeout_s) from None
        finally:
            self._send_lock.release()


async def accept(
    stream: trio.abc.Stream,
    request_head: bytes,
    *,
    max_message_bytes: int,
    subprotocol: str | None,
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
    max_message_fragments: int = DEFAULT_MAX_MESSAGE_FRAGMENTS,
) -> WebSocket | None:
    """Answer a WebSocket upgrade whose request head (``request_head``, the raw bytes, which may
    already hold the first frames) was read from ``stream``. Returns None when no WebSocket
    came of it: the request is not a valid WebSocket handshake (the client then got a 400 or
    426 and nothing else), or the client did not take the answer (it left, or took nothing for
    ``write_timeout_s``). The caller closes ``stream`` either way."""

    def select(_: ServerProtocol, offered: list[str]) -> str | None:
        return subprotocol if subprotocol in offered else None

    protocol = ServerProtocol(
        max_size=max_message_bytes,
        select_subprotocol=select,  # type: ignore[arg-type]
        logger=PROTOCOL_LOG,
    )
    # The head alone first: bytes behind it (frames of a client that did not wait for the 101)
    # are parsed only once the handshake is accepted; a refused handshake's are never read.
    end = request_head.find(b"\r\n\r\n")
    head, early = (
        (request_head, b"") if end < 0 else (request_head[: end + 4], request_head[end + 4 :])
    )
    protocol.receive_data(head)
    events = protocol.events_received()
    websocket = WebSocket(
        stream,
        protocol,
        write_timeout_s=write_timeout_s,
        max_message_fragments=max_message_fragments,
    )
    if not events or not isinstance(events[0], Request):  # websockets refused the head itself
        await _write_answer(websocket)
        return None
    response = protocol.accept(events[0])
    if "Server" in response.headers:
        del response.headers["Server"]
    protocol.send_response(response)
    accepted = response.status_code == 101
    if accepted and early:
        protocol.receive_data(early)
        websocket._handle(protocol.events_received())
    if not await _write_answer(websocket):
        return None
    return websocket if accepted else None


async def _write_answer(websocket: WebSocket) -> bool:
    """The handshake's answer (and anything queued behind it); False if it did not go out."""
    try:
        await websocket._write_pending()
    except (ConnectionClosed, WriteTimeout):
        return False
    return True


async def connect(
    stream: trio.abc.Stream,
    url: str,
    headers: Iterable[tuple[str, str]],
    *,
    max_message_bytes: int,
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
    max_message_fragments: int = DEFAULT_MAX_MESSAGE_FRAGMENTS,
) -> WebSocket:
    """The client side of the opening handshake on ``stream`` (already connected to the host of
    ``url``). Raises :class:`HandshakeFailed` when the server refuses, answers nonsense or
    hangs up, and :class:`WriteTimeout` when it does not take the request. The caller bounds
    the wait for the answer."""
    protocol = ClientProtocol(parse_uri(url), max_size=max_message_bytes, logger=PROTOCOL_LOG)
    request = protocol.connect()
    request.headers.update(Headers(headers))
    protocol.send_request(request)
    websocket = WebSocket(
        stream,
        protocol,
        write_timeout_s=write_timeout_s,
        max_message_fragments=max_message_fragments,
    )
    try:
        await websocket._write_pending()
    except ConnectionClosed:
        raise HandshakeFailed(f"{_host(url)} closed the connection during the handshake") from None
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
        websocket._handle(events)
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

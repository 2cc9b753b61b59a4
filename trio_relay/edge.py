"""One plain-HTTP connection: h11 driven over a Trio stream, with a bound on every wait and write.

- A request (head and body) must arrive within ``handshake_timeout_s`` of when its first byte is
  awaited; between keep-alive requests the first byte must come within ``keepalive_timeout_s``.
- A body is read (and discarded: nothing here takes one) only up to ``max_request_body_bytes``.
- A response is written in chunks, each of which the client must take within ``write_timeout_s``;
  a client that stops reading is abandoned.

What the client sends never raises out of here as anything but the stream's own errors
(``trio.BrokenResourceError``): a request that breaks HTTP/1.1 comes back as the :class:`Response`
to answer it with, a client that is too slow or gone as a :class:`Hangup`.
"""

from __future__ import annotations

import math

import attrs
import h11
import trio

from .config import Limits
from .http import Response, text

MAX_REQUEST_HEAD_BYTES = 16 * 1024
RECEIVE_BYTES = 16 * 1024
# The unit of progress a client reading a response must make within write_timeout_s.
WRITE_CHUNK_BYTES = 64 * 1024

REQUEST_TIMEOUT = "request_timeout"
KEEPALIVE_TIMEOUT = "keepalive_timeout"
WRITE_TIMEOUT = "write_timeout"
PEER_CLOSED = "closed"


@attrs.frozen
class Hangup:
    """The connection ends without an answer: ``reason`` is one of the constants above."""

    reason: str


def bad_request(exc: h11.RemoteProtocolError) -> Response:
    # h11's message may quote the offending header (a credential, say): not echoed, not logged.
    status = exc.error_status_hint if 400 <= exc.error_status_hint < 500 else 400
    return text(status, "bad request: this is not a valid HTTP/1.1 request")


class HttpConnection:
    """The server side of one HTTP/1.1 connection (see the module doc)."""

    def __init__(self, stream: trio.abc.Stream, limits: Limits) -> None:
        self.stream = stream
        self.limits = limits
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
        # The raw bytes of the current request's head as received (and any that came with it):
        # a WebSocket handshake is answered from these.
        self.head = bytearray()
        self.requests = 0
        # Set once the stream is handed to a WebSocket: no HTTP response can follow.
        self.handed_over = False
        self._deadline = math.inf
        self._method = b""  # the current request's

    @property
    def early_data(self) -> bool:
        """Whether bytes beyond the current request's head (a body, the next request, or
        WebSocket frames sent before the handshake's answer) have arrived."""
        return bool(self.h11.trailing_data[0])

    @property
    def can_respond(self) -> bool:
        return not self.handed_over and self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def next_request(self) -> h11.Request | Response | Hangup:
        """The next request's head, the response to a request that is not valid HTTP, or why
        the connection ends here (timeout, or the peer closed between requests)."""
        now = trio.current_time()
        self._deadline = now + self.limits.handshake_timeout_s
        self._method = b""
        pipelined, _ = self.h11.trailing_data
        self.head = bytearray(pipelined)
        idle = self.requests > 0 and not pipelined
        first_byte_deadline = (
            min(self._deadline, now + self.limits.keepalive_timeout_s) if idle else self._deadline
        )
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                return bad_request(exc)
            if isinstance(event, h11.Request):
                self.requests += 1
                self._method = event.method
                return event
            if event is not h11.NEED_DATA:
                return Hangup(PEER_CLOSED)  # ConnectionClosed between requests
            deadline = self._deadline if self.head else first_byte_deadline
            data = await self._receive(deadline)
            if data is None:
                return Hangup(KEEPALIVE_TIMEOUT if idle and not self.head else REQUEST_TIMEOUT)
            self.head += data
            self.h11.receive_data(data)  # b"": the peer closed (h11 then says what that means)

    async def read_body(self) -> Response | Hangup | None:
        """Read the current request's body to its end, discarding it, within the request's
        deadline. None when done; a response (400, 413) or a hangup when the client broke
        HTTP, sent too much, or was too slow."""
        limit = self.limits.max_request_body_bytes
        if self.h11.client_is_waiting_for_100_continue:
            if not await self.write(
                self.h11.send(h11.InformationalResponse(status_code=100, headers=[]))
            ):
                return Hangup(WRITE_TIMEOUT)
        received = 0
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                return bad_request(exc)
            if isinstance(event, h11.Data):
                received += len(event.data)
                if received > limit:
                    return text(413, f"request body over {limit} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return None
            elif event is h11.NEED_DATA:
                data = await self._receive(self._deadline)
                if data is None:
                    return Hangup(REQUEST_TIMEOUT)
                self.h11.receive_data(data)
            else:
                return Hangup(PEER_CLOSED)

    async def respond(self, response: Response, *, keep_alive: bool) -> bool:
        """Write ``response`` (its head only, to a HEAD request); False when the client did not
        take it in time, or it can no longer be sent. Without ``keep_alive``, says
        ``Connection: close``."""
        if not self.can_respond:
            return False
        data = self.h11.send(
            h11.Response(status_code=response.status, headers=response.head(keep_alive=keep_alive))
        )
        if response.body and self._method != b"HEAD":
            data += self.h11.send(h11.Data(data=response.body))
        data += self.h11.send(h11.EndOfMessage())
        return await self.write(data)

    def start_next_request(self) -> bool:
        """After a complete exchange: whether this connection may carry another request."""
        if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        self.h11.start_next_cycle()
        return True

    async def write(self, data: bytes) -> bool:
        """Send ``data``, giving the client ``write_timeout_s`` for each chunk of it."""
        view = memoryview(data)
        for start in range(0, len(view), WRITE_CHUNK_BYTES):
            with trio.move_on_after(self.limits.write_timeout_s) as chunk:
                await self.stream.send_all(view[start : start + WRITE_CHUNK_BYTES])
            if chunk.cancelled_caught:
                return False
        return True

    async def _receive(self, deadline: float) -> bytes | None:
        with trio.move_on_at(deadline):
            return bytes(await self.stream.receive_some(RECEIVE_BYTES))
        return None

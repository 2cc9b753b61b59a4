"""The edge: each connection a listener accepts, capped, bounded, and kept to itself.

:class:`Edge` serves one listener's connections for a :class:`Site` (what the listener answers).
Whatever a connection raises ends that connection only: a 400 when the client broke HTTP (logged
at debug, no traceback), a 500 for a bug of ours (logged with its traceback), where an answer can
still be sent; counted either way. Only cancellation and process-level errors propagate, so the
listener's nursery, and every other connection and session, never sees them. The caps on open
connections (:mod:`trio_relay.connections`) are applied first thing, before any allocation.

:class:`HttpConnection` is h11 driven over a Trio stream, with a bound on every wait and write:

- A request (head and body) must arrive within ``handshake_timeout_s`` of when its first byte is
  awaited; between keep-alive requests the first byte must come within ``keepalive_timeout_s``.
- A body is read (and discarded: nothing here takes one) only up to ``max_request_body_bytes``.
- A response is written in chunks, each of which the client must take within ``write_timeout_s``;
  a client that stops reading is abandoned.

What the client sends never raises out of :class:`HttpConnection` as anything but the stream's
own errors (``trio.BrokenResourceError``): a request that breaks HTTP/1.1 comes back as the
:class:`Response` to answer it with, a client that is too slow or gone as a :class:`Hangup`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Protocol

import attrs
import h11
import trio
from structlog.contextvars import bound_contextvars

from .config import Limits
from .connections import ConnectionTable
from .http import RequestTarget, Response, parse_target, route, text
from .log import get_logger
from .metrics import RelayMetrics

log = get_logger("trio_relay.edge")

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

    def __init__(
        self,
        stream: trio.abc.Stream,
        limits: Limits,
        *,
        on_hand_over: Callable[[], None] = lambda: None,
    ) -> None:
        self.stream = stream
        self.limits = limits
        self.stage = "request"  # where the connection is, for the log and the metrics
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
        # The raw bytes of the current request's head as received (and any that came with it):
        # a WebSocket handshake is answered from these.
        self.head = bytearray()
        self.requests = 0
        # Set once the stream is handed to a WebSocket: no HTTP response can follow.
        self.handed_over = False
        self._on_hand_over = on_hand_over
        self._deadline = math.inf
        self._method = b""  # the current request's

    def hand_over(self) -> None:
        """The stream becomes a WebSocket's (and the connection a session)."""
        self.handed_over = True
        self._on_hand_over()

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


# --- the edge ---------------------------------------------------------------------------------

# What a client can make the HTTP layer raise: a 400, logged without a traceback.
CLIENT_FAULTS = (h11.RemoteProtocolError, UnicodeError)
PEER_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


class Site(Protocol):
    """What one listener serves. The edge calls it only with well-formed requests."""

    def takes_upgrade(self, target: RequestTarget) -> bool:
        """Whether a WebSocket upgrade to ``target`` is this site's to handle."""
        ...

    async def upgrade(
        self, http: HttpConnection, request: h11.Request, target: RequestTarget, peer: str
    ) -> None:
        """Refuse it (``http.respond``) or accept it (``http.hand_over``, then the session)."""
        ...

    async def answer(self, method: str, target: RequestTarget, request: h11.Request) -> Response:
        """The response to a GET or HEAD whose body has been read."""
        ...


class Edge:
    """One listener's connections (see the module doc)."""

    def __init__(
        self, site: Site, limits: Limits, metrics: RelayMetrics, *, per_ip_cap: bool
    ) -> None:
        self.site = site
        self.limits = limits
        self.metrics = metrics
        self.connections = ConnectionTable(
            limits.max_connections, limits.max_connections_per_ip if per_ip_cap else None
        )

    async def handle(self, stream: trio.abc.Stream) -> None:
        """Serve one connection; returns when it is over, whatever happened on it."""
        scope = trio.CancelScope()
        peer = peer_address(stream)
        connection, dropped = self.connections.open(peer, scope.cancel)
        try:
            for victim in dropped:
                assert victim.dropped_for is not None
                victim.cancel()
                self.metrics.connections_dropped.labels(victim.dropped_for).inc()
                log.debug("dropped the oldest connection", ip=victim.ip, cap=victim.dropped_for)
            with scope, bound_contextvars(conn_id=secrets.token_hex(6)):
                release = partial(self.connections.release, connection)
                http = HttpConnection(stream, self.limits, on_hand_over=release)
                owed = await self._serve(http, peer)
                if owed is not None and http.can_respond:
                    with suppress(*PEER_GONE):
                        await http.respond(owed, keep_alive=False)
        except* PEER_GONE:
            pass  # the peer went away while we answered
        except* Exception:
            self.metrics.connection_errors.labels("connection", "server").inc()
            log.exception("connection failed: unexpected error")
        finally:
            self.connections.release(connection)
            await trio.aclose_forcefully(stream)

    async def _serve(self, http: HttpConnection, peer: str) -> Response | None:
        """Serve the connection's requests; the response owed to the client when one of them
        failed (400 for a request that broke HTTP, 500 for a bug of ours), or None."""
        owed: Response | None = None
        try:
            await self._exchange(http, peer)
        except* PEER_GONE:
            pass  # the peer went away mid-request or mid-response: nothing to answer
        except* CLIENT_FAULTS:
            if http.handed_over:  # not from parsing the client's HTTP: ours
                self.metrics.connection_errors.labels(http.stage, "server").inc()
                log.exception("connection failed: unexpected error", stage=http.stage)
            else:
                self.metrics.connection_errors.labels(http.stage, "client").inc()
                log.debug("bad request", stage=http.stage)
                owed = text(400, "bad request: this is not a valid HTTP/1.1 request")
        except* Exception:
            self.metrics.connection_errors.labels(http.stage, "server").inc()
            log.exception("connection failed: unexpected error", stage=http.stage)
            owed = text(500, "internal error")
        return owed

    async def _exchange(self, http: HttpConnection, peer: str) -> None:
        while True:
            http.stage = "request"
            request = await http.next_request()
            if isinstance(request, Hangup):
                self._count_hangup(request)
                return
            if isinstance(request, Response):
                self.metrics.connection_errors.labels(http.stage, "client").inc()
                log.debug("bad request", status=request.status)
                await http.respond(request, keep_alive=False)
                return
            target = parse_target(request.target)
            method = request.method.decode("ascii", "replace")
            upgrade = is_websocket_upgrade(request)
            if target is None:
                response = text(400, "bad request: the target must be a path (or an http URL)")
                await http.respond(response, keep_alive=False)
                return
            if upgrade and self.site.takes_upgrade(target):
                http.stage = "upgrade"
                await self.site.upgrade(http, request, target, peer)
                return
            if method not in ("GET", "HEAD"):
                # Closed without reading the body: nothing here takes one.
                await http.respond(route(method, target.path, static=None), keep_alive=False)
                return
            if upgrade:
                response = text(404, "no WebSocket endpoint here; use /realtime")
                await http.respond(response, keep_alive=False)
                return
            refusal = await http.read_body()
            if isinstance(refusal, Hangup):
                self._count_hangup(refusal)
                return
            if refusal is not None:
                await http.respond(refusal, keep_alive=False)
                return
            http.stage = "response"
            response = await self.site.answer(method, target, request)
            if not await http.respond(response, keep_alive=True):
                self.metrics.connections_dropped.labels(WRITE_TIMEOUT).inc()
                return
            if not http.start_next_request():
                return

    def _count_hangup(self, hangup: Hangup) -> None:
        if hangup.reason in (REQUEST_TIMEOUT, WRITE_TIMEOUT):
            self.metrics.connections_dropped.labels(hangup.reason).inc()


def is_websocket_upgrade(request: h11.Request) -> bool:
    return any(
        name == b"upgrade" and value.lower() == b"websocket" for name, value in request.headers
    )


def peer_address(stream: trio.abc.Stream) -> str:
    """The address at the other end of ``stream``: a socket's peer, or a stream's own ``peer``
    (an in-memory connection in tests says whom it plays); "unknown" otherwise, or when the peer
    is already gone (a reset can come before we ask)."""
    named = getattr(stream, "peer", None)
    if isinstance(named, str):
        return named
    sock = getattr(stream, "socket", None)
    try:
        peer = sock.getpeername() if sock is not None else None
    except OSError:
        peer = None
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"

"""The relay's listener: plain HTTP and the ``/realtime`` WebSocket on one port.

Each TCP connection's request head is read with h11 (size-capped, within the handshake timeout).
A WebSocket upgrade to ``/realtime`` is answered by :func:`trio_relay.websocket.accept`, with the
bytes already read, and becomes a :class:`~trio_relay.session.Session`; anything else is answered
as plain HTTP by :func:`trio_relay.http.route`.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import h11
import trio

from .client_auth import AuthFailed, chosen_subprotocol, find_credential, origin_allowed
from .config import RelayConfig, UpstreamTarget, fake_target
from .credentials import EntraTokenSource
from .errors import ServerShuttingDown, SlowClient, UpstreamUnavailable
from .http import REALTIME_PATH, Response, StaticFiles, route, text
from .limits import SessionSlots
from .log import get_logger
from .metrics import RelayMetrics
from .session import Session
from .ticker import Ticker
from .websocket import accept

log = get_logger("trio_relay.server")

MAX_REQUEST_HEAD_BYTES = 16 * 1024
LISTEN_BACKLOG = 4096
READINESS_TOKEN_TIMEOUT_S = 5.0


class Relay:
    """The running relay: configuration, upstream target, admission state and live sessions."""

    def __init__(
        self, config: RelayConfig, target: UpstreamTarget, tokens: EntraTokenSource | None
    ) -> None:
        self.config = config
        self.limits = config.limits
        self.target = target
        self.tokens = tokens
        self.static = StaticFiles.at(config.static_dir)
        self.ready = True
        self.slots = SessionSlots(self.limits.max_sessions, self.limits.max_sessions_per_ip)
        self.sessions: set[Session] = set()
        self.ticker = Ticker()  # the sessions' shared timer (started by serve_relay)
        self.finished_traffic: Counter[str] = Counter()
        self.metrics = RelayMetrics(self.traffic_totals)
        self.listeners: list[trio.SocketListener] = []
        self._no_sessions = trio.Event()
        self._no_sessions.set()
        self._serve_scope = trio.CancelScope()
        self.task: trio.lowlevel.Task | None = None  # the task serving, root of all relay tasks

    @property
    def port(self) -> int:
        port: int = self.listeners[0].socket.getsockname()[1]
        return port

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
            with trio.move_on_after(self.limits.handshake_timeout_s):
                request = await _read_request(stream, conn, raw)
            if request is None:
                return  # too slow, or closed before a full request head: just drop it
            if isinstance(request, Response):
                await _send_response(stream, conn, request, keep_alive=False, head_only=False)
                return
            target = request.target.decode("latin-1")
            path = urlsplit(target).path
            method = request.method.decode("ascii", "replace")
            upgrade = _is_websocket_upgrade(request)
            if upgrade and path == REALTIME_PATH:
                ip = self._client_ip(stream, request)
                refusal = self._admission(request, target, ip)
                if refusal is not None:
                    reason, response = refusal
                    self.metrics.rejections.labels(reason).inc()
                    await _send_response(stream, conn, response, keep_alive=False, head_only=False)
                    return
                self.slots.take(ip)
                try:
                    await self._serve_websocket(stream, bytes(raw), request)
                finally:
                    self.slots.give_back(ip)
                return
            if upgrade:
                response = text(404, "no WebSocket endpoint here; use /realtime")
            elif path == "/metrics" and method in ("GET", "HEAD"):
                response = Response(200, self.metrics.render(), self.metrics.content_type)
            elif path == "/readyz" and method in ("GET", "HEAD"):
                response = await self._readiness()
            else:
                response = route(method, path, static=self.static)
            keep_alive = (
                conn.their_http_version == b"1.1" and method in ("GET", "HEAD") and not upgrade
            )
            await _send_response(
                stream, conn, response, keep_alive=keep_alive, head_only=method == "HEAD"
            )
            if not keep_alive or conn.our_state is not h11.DONE:
                return
            if not await _finish_request(stream, conn):
                return
            conn.start_next_cycle()

    def _client_ip(self, stream: trio.abc.Stream, request: h11.Request) -> str:
        if self.config.access.trust_forwarded_for:
            for name, value in request.headers:
                if name == b"x-forwarded-for":
                    # The last hop was added by our own ingress; earlier ones are the client's say.
                    return value.decode("latin-1").split(",")[-1].strip()
        socket = getattr(stream, "socket", None)
        peer = socket.getpeername() if socket is not None else ("unknown",)
        return str(peer[0])

    def traffic_totals(self) -> Counter[str]:
        totals = Counter(self.finished_traffic)
        for session in self.sessions:
            session.stats.add_traffic_to(totals)
        return totals

    async def _readiness(self) -> Response:
        """Ready while accepting sessions and, with Entra ID, while a token can be had."""
        if not self.ready:
            return text(503, "draining")
        if self.tokens is not None:
            try:
                with trio.fail_after(READINESS_TOKEN_TIMEOUT_S):
                    await self.tokens.token()
            except (UpstreamUnavailable, trio.TooSlowError) as exc:
                reason = exc.message if isinstance(exc, UpstreamUnavailable) else "timed out"
                return text(503, f"upstream credentials unavailable: {reason}")
        return text(200, "ready")

    def _admission(self, request: h11.Request, target: str, ip: str) -> tuple[str, Response] | None:
        """Why this upgrade must be refused (before accept, before any upstream), or None."""
        access = self.config.access
        if not self.ready:
            return "draining", text(503, "the relay is shutting down; retry shortly", retry_after=5)
        origin = _header(request, b"origin")
        if not origin_allowed(origin, access.allowed_origins):
            log.warning("refused a WebSocket: origin not allowed", origin=origin)
            return "origin", text(403, "origin not allowed")
        try:
            who = access.client_auth.authenticate(
                find_credential(request.headers, target), time.time()
            )
        except AuthFailed as failure:
            log.warning("refused a WebSocket: authentication failed", ip=ip, reason=failure.reason)
            return "auth", text(
                401,
                f"authentication required: {failure.reason}",
                headers=(("www-authenticate", failure.www_authenticate),),
            )
        refusal = self.slots.refusal(ip)
        if refusal is not None:
            log.warning("refused a WebSocket: at capacity", ip=ip, client=who, reason=refusal)
            return "capacity", text(503, refusal, retry_after=5)
        return None

    async def _serve_websocket(
        self, stream: trio.abc.Stream, head: bytes, request: h11.Request
    ) -> None:
        client = await accept(
            stream,
            head,
            max_message_bytes=self.limits.max_message_bytes,
            subprotocol=chosen_subprotocol(request.headers),
            write_timeout_s=self.limits.write_timeout_s,
            max_message_fragments=self.limits.max_message_fragments,
        )
        if client is None:
            return  # no WebSocket: an invalid handshake (answered 400), or the client left
        session = Session(
            client, self.config, self.target, self.tokens, self.metrics, ticker=self.ticker
        )
        self.sessions.add(session)
        self.metrics.active_sessions.inc()
        self._no_sessions = trio.Event()
        try:
            end = await session.run()
            self.metrics.sessions.labels(type(end).__name__).inc()
            if isinstance(end, SlowClient):
                self.metrics.slow_client_closes.inc()
        finally:
            self.sessions.discard(session)
            session.stats.add_traffic_to(self.finished_traffic)
            self.metrics.active_sessions.dec()
            if not self.sessions:
                self._no_sessions.set()

    async def sessions_ended(self) -> None:
        """Wait until no session is running."""
        await self._no_sessions.wait()

    async def shutdown(self) -> None:
        """Graceful drain: refuse new sessions, let in-flight responses finish, close the rest."""
        self.ready = False
        log.info("draining", sessions=len(self.sessions), grace_s=self.limits.drain_grace_s)
        for session in list(self.sessions):
            session.drain()
        with trio.move_on_after(self.limits.drain_grace_s):
            await self._no_sessions.wait()
        for session in list(self.sessions):
            session.stop(ServerShuttingDown("the relay is shutting down; please reconnect"))
        with trio.move_on_after(2 * self.limits.close_timeout_s + 1):
            await self._no_sessions.wait()
        self._serve_scope.cancel()


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


def _header(request: h11.Request, name: bytes) -> str | None:
    for key, value in request.headers:
        if key == name:
            return value.decode("latin-1")
    return None


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
    from fake_upstream import FakeUpstreamOptions, open_fake_upstream  # only the fake backend

    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        log.info("running on the bundled fake upstream (no credentials configured)", url=fake.url)
        yield fake_target(fake.url, "gpt-realtime")


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


async def serve_relay(
    config: RelayConfig,
    *,
    task_status: trio.TaskStatus[Relay] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or :meth:`Relay.shutdown`. ``task_status.started`` gets the relay."""
    tokens = (
        EntraTokenSource() if config.upstream is not None and config.upstream.use_entra_id else None
    )
    async with open_upstream_target(config) as target:
        relay = Relay(config, target, tokens)
        relay.task = trio.lowlevel.current_task()
        relay.listeners = await open_listeners(
            config.host, config.port, reuse_port=config.reuse_port
        )
        with relay._serve_scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(relay.ticker.run)
                await nursery.start(trio.serve_listeners, relay.handle_connection, relay.listeners)
                task_status.started(relay)

"""The relay's site: what its port answers, and the sessions.

Connections are served by :class:`trio_relay.edge.Edge` (caps, bounds, and a failure kept to its
own connection); :class:`Relay` is the site it serves: ``/healthz``, ``/readyz``, ``/metrics``
and the frontend as plain HTTP (:func:`trio_relay.http.route`), and the WebSocket upgrade to
``/realtime``, admitted by :func:`trio_relay.admission.admit` (origin, client credentials,
capacity) before it is answered by :func:`trio_relay.websocket.accept` and becomes a
:class:`~trio_relay.session.Session`. ``METRICS_PORT`` gets an edge of its own, serving
:class:`MetricsSite`.
"""

from __future__ import annotations

from contextlib import suppress

import h11
import structlog
import trio

from .admission import Admitted, admit
from .client_auth import chosen_subprotocol
from .config import RelayConfig, UpstreamTarget
from .connections import ConnectionTable
from .credentials import EntraTokenSource
from .edge import Edge, HttpConnection
from .errors import ServerShuttingDown, SlowClient, UpstreamUnavailable
from .http import (
    NOT_FOUND,
    REALTIME_PATH,
    RequestTarget,
    Response,
    bearer_token_matches,
    forwarded_client,
    route,
    text,
)
from .log import get_logger
from .metrics import RelayMetrics
from .session import Session
from .shared_slots import session_slots
from .shared_tickets import relay_access
from .static import StaticFiles
from .stats import SessionStats
from .ticker import Ticker
from .tools.runner import ToolRunner
from .tools.toolbox import Toolbox
from .upstream import UpstreamConnector
from .websocket import ConnectionClosed, accept

log = get_logger("trio_relay.server")

# What the relay accepts connections from: TCP listeners, or (tests) in-memory ones.
Listener = trio.abc.Listener[trio.abc.Stream]

READINESS_TOKEN_TIMEOUT_S = 5.0


class Relay:
    """The running relay: configuration, upstream target, admission state and live sessions."""

    def __init__(
        self,
        config: RelayConfig,
        target: UpstreamTarget,
        tokens: EntraTokenSource | None,
        *,
        connector: UpstreamConnector | None = None,
        toolbox: Toolbox | None = None,
        static: StaticFiles | None = None,
    ) -> None:
        self.config = config
        self.toolbox = toolbox or Toolbox()
        # One pool of tool threads for the whole process, whatever the number of sessions.
        self.tool_runner = ToolRunner.for_settings(config.tools)
        self.connector = connector  # how sessions reach the upstream; None: the network
        self.limits = config.limits
        self.target = target
        self.tokens = tokens
        self.static = static  # the frontend, loaded by serve_relay; None: not served
        self.ready = True
        self.slots = session_slots(self.limits, config.worker)  # with workers: one shared count
        # With workers, a one-time ticket is one for the whole relay, not one per worker.
        self.access = relay_access(config.access, config.worker)
        self.sessions: set[Session] = set()
        self.ticker = Ticker()  # the sessions' shared timer (started by serve_relay)
        self.metrics = RelayMetrics(self.live_stats, worker=config.worker)
        self.listeners: list[Listener] = []
        self.metrics_listeners: list[Listener] = []
        # Behind a trusted proxy every connection comes from the proxy: no per-address cap.
        per_ip = not config.access.trust_forwarded_for
        self.edge = Edge(self, self.limits, self.metrics, per_ip_cap=per_ip)
        self.metrics_edge = Edge(MetricsSite(self), self.limits, self.metrics, per_ip_cap=per_ip)
        self._no_sessions = trio.Event()
        self._no_sessions.set()
        self.serve_scope = trio.CancelScope()  # serve_relay serves inside it; shutdown cancels it
        self.task: trio.lowlevel.Task | None = None  # the task serving, root of all relay tasks

    @property
    def port(self) -> int:
        return _port(self.listeners[0])

    @property
    def metrics_port(self) -> int | None:
        return _port(self.metrics_listeners[0]) if self.metrics_listeners else None

    @property
    def connections(self) -> ConnectionTable:
        """Open connections to the relay's port that are not sessions."""
        return self.edge.connections

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        """Serve one connection to the relay's port (plain HTTP, or a WebSocket session)."""
        await self.edge.handle(stream)

    async def handle_metrics_connection(self, stream: trio.abc.Stream) -> None:
        """Serve one connection to ``METRICS_PORT``: ``/metrics`` and ``/healthz`` only."""
        await self.metrics_edge.handle(stream)

    # --- the relay's port, as a Site of the edge ---

    def takes_upgrade(self, target: RequestTarget) -> bool:
        return target.path == REALTIME_PATH

    async def answer(self, method: str, target: RequestTarget, request: h11.Request) -> Response:
        path = target.path
        if path == "/metrics":
            return self.metrics_response(request)
        if path == "/readyz":
            return await self._readiness()
        return route(method, path, static=self.static, headers=request.headers)

    async def upgrade(
        self, http: HttpConnection, request: h11.Request, target: RequestTarget, peer: str
    ) -> None:
        ip = self._client_ip(peer, request)
        admitted = admit(
            request,
            target.origin_form,
            ip,
            ready=self.ready,
            access=self.access,
            limits=self.limits,
            toolbox=self.toolbox,
            slots=self.slots,
        )
        if not isinstance(admitted, Admitted):
            reason, response = admitted
            self.metrics.rejections.labels(reason).inc()
            await http.respond(response, keep_alive=False)
            return
        try:  # admit took the slot
            await self._serve_websocket(http, request, admitted)
        finally:
            self.slots.give_back(ip)

    def metrics_response(self, request: h11.Request) -> Response:
        token = self.config.access.metrics_token
        if token is not None and not bearer_token_matches(request.headers, token):
            return text(
                401,
                "/metrics needs Authorization: Bearer <METRICS_TOKEN>",
                headers=(("www-authenticate", 'Bearer realm="trio-relay metrics"'),),
            )
        return Response(200, self.metrics.render(), self.metrics.content_type)

    def _client_ip(self, peer: str, request: h11.Request) -> str:
        access = self.config.access
        if access.trust_forwarded_for:
            return forwarded_client(request.headers, access.trusted_proxy_hops) or peer
        return peer

    def live_stats(self) -> list[SessionStats]:
        return [session.stats for session in self.sessions]

    async def _readiness(self) -> Response:
        """Ready while accepting sessions and, with Entra ID, while a token can be had."""
        if not self.ready:
            return text(503, "draining")
        if self.tokens is not None:
            try:
                with trio.fail_after(READINESS_TOKEN_TIMEOUT_S):
                    await self.tokens.token()
            except (UpstreamUnavailable, trio.TooSlowError) as exc:
                reason = (
                    exc.detail or exc.message
                    if isinstance(exc, UpstreamUnavailable)
                    else "timed out"
                )
                return text(503, f"upstream credentials unavailable: {reason}")
        return text(200, "ready")

    async def _serve_websocket(
        self, http: HttpConnection, request: h11.Request, admitted: Admitted
    ) -> None:
        http.hand_over()  # a session now: the session caps apply, no longer the connection caps
        client = None
        with trio.move_on_after(self.limits.write_timeout_s), suppress(ConnectionClosed):
            client = await accept(
                http.stream,
                bytes(http.head),
                max_message_bytes=self.limits.max_message_bytes,
                subprotocol=chosen_subprotocol(request.headers),
                write_timeout_s=self.limits.write_timeout_s,
                max_message_fragments=self.limits.max_message_fragments,
            )
        if client is None:
            # Not a valid WebSocket handshake (websockets answered 400), or the client did not
            # take the answer in time, or went away meanwhile.
            return
        # On the session's log lines.
        structlog.contextvars.bind_contextvars(client=admitted.who.name)
        http.stage = "session"
        session = Session(
            client,
            self.config,
            self.target,
            self.tokens,
            self.metrics,
            ticker=self.ticker,
            budgets=admitted.budgets,
            connector=self.connector,
            toolbox=admitted.toolbox,
            tool_runner=self.tool_runner,
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
            self.metrics.session_ended(session.stats)
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
        self.serve_scope.cancel()


class MetricsSite:
    """``METRICS_PORT``: ``/metrics`` and ``/healthz``, nothing else."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def takes_upgrade(self, target: RequestTarget) -> bool:
        return False

    async def upgrade(
        self, http: HttpConnection, request: h11.Request, target: RequestTarget, peer: str
    ) -> None:
        raise AssertionError("the metrics port takes no upgrades")

    async def answer(self, method: str, target: RequestTarget, request: h11.Request) -> Response:
        if target.path == "/metrics":
            return self.relay.metrics_response(request)
        return route(method, target.path, static=None) if target.path == "/healthz" else NOT_FOUND


def _port(listener: Listener) -> int:
    if not isinstance(listener, trio.SocketListener):
        raise TypeError(f"the relay serves {type(listener).__name__}, which has no port")
    port: int = listener.socket.getsockname()[1]
    return port

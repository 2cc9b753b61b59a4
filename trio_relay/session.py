"""One browser conversation: one Trio nursery, its tasks, one close path.

::

    session nursery
    |-- client-reader    browser frames -> Translator -> upstream writer (bounded queue;
    |                    microphone audio straight to an idle upstream socket)
    |-- audio-pump       the upstream writer's queue -> input_audio_buffer.append / events
    |-- upstream-reader  upstream events -> Translator -> downstream buffer (byte-bounded)
    `-- client-writer    downstream buffer -> browser

Each part has its module: microphone audio is read and paced where it is read
(:mod:`trio_relay.microphone`; with a set chunk, one wake-up per chunk from the server's shared
:class:`~trio_relay.ticker.Ticker`); what goes upstream, and the pump, is
:mod:`trio_relay.upstream_writer`; the browser's side is a byte-bounded
queue and its writer (:mod:`trio_relay.downstream`); what the session reports goes through
:mod:`trio_relay.observer`; the protocol itself is the pure
:class:`~trio_relay.translator.Translator`.

The session body connects upstream and sends ``session.update`` while the client-reader already
runs (so a browser that leaves during the upstream handshake is noticed at once); ``connected``
goes out after ``session.updated``.

Whichever task ends first records why in :attr:`Session.end` and cancels the nursery; then the
browser gets what is still queued for it (unless it stopped reading), an ``error`` (where there
is something to say) and a close code, and the upstream
socket is closed by :func:`open_upstream`'s exit (shielded, so a cancelled session still
completes the upstream close handshake). Every wait on a peer is bounded.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from functools import partial

import structlog
import trio

from . import realtime
from .browser import (
    AssistantAudio,
    BrowserMessage,
    ErrorMessage,
    InvalidClientMessage,
    check_client_audio,
    parse_client_text,
)
from .budgets import Budgets
from .config import RelayConfig, UpstreamTarget
from .credentials import EntraTokenSource
from .downstream import Downstream, client_gone
from .errors import (
    ClientGone,
    IdleTimeout,
    InternalError,
    ServerShuttingDown,
    SessionEnd,
    SessionExpired,
    SlowClient,
    UpstreamFailed,
    UpstreamUnavailable,
)
from .log import get_logger
from .metrics import RelayMetrics
from .microphone import MicrophoneAudio
from .observer import SessionObserver
from .record import open_recorder
from .stats import SessionStats
from .ticker import Ticker
from .tool_calls import ToolCalls
from .tools.runner import ToolRunner
from .tools.toolbox import Toolbox
from .translator import Actions, ToolInvocation, Translator
from .upstream import UpstreamConnector, closed_error, open_upstream
from .upstream_writer import UpstreamWriter
from .websocket import ConnectionClosed, WebSocket, WriteTimeout

log = get_logger("trio_relay.session")


class Session:
    def __init__(
        self,
        client: WebSocket,
        config: RelayConfig,
        target: UpstreamTarget,
        tokens: EntraTokenSource | None = None,
        metrics: RelayMetrics | None = None,
        *,
        ticker: Ticker | None = None,
        budgets: Budgets | None = None,
        connector: UpstreamConnector | None = None,
        toolbox: Toolbox | None = None,
        tool_runner: ToolRunner | None = None,
    ) -> None:
        self.connector = connector  # None: the network (trio_relay.upstream)
        self.id = f"s-{secrets.token_hex(6)}"  # unique across workers and replicas
        self.metrics = metrics
        self.ticker = ticker or Ticker()  # not running: plain trio.sleep_until
        self.stats = SessionStats(started_at=trio.current_time())
        self._recorder = open_recorder(config.record, self.id, self.stats.started_at)  # or None
        prices = config.prices
        self.observer = SessionObserver(
            self.stats,
            metrics,
            None
            if prices is None
            else prices.for_session(target.model or "", config.session.transcription_model),
        )
        self.client = client
        self.limits = config.limits
        self.target = target
        self.tokens = tokens
        # Budgets and tools: from the configuration, unless a ticket's claims narrowed them.
        tool_settings = config.tools
        tools = ToolCalls(
            toolbox or Toolbox(),
            max_calls_per_response=tool_settings.max_calls_per_response,
            detail=tool_settings.events_detail,
        )
        self.tool_runner = tool_runner or ToolRunner.for_settings(tool_settings)
        self.translator = Translator(
            config.session,
            target.dialect,
            limits=config.limits,
            budgets=budgets,
            tools=tools,
            session_id=self.id,
        )
        self.end: SessionEnd | None = None
        self.ending = trio.Event()  # set when the session's end is decided, before the close
        self.draining = False
        self._nursery: trio.Nursery | None = None
        self.upstream_writer = UpstreamWriter(
            queue_items=self.limits.audio_queue_frames,
            send_timeout_s=self.limits.upstream_send_timeout_s,
            close_timeout_s=self.limits.close_timeout_s,
            stats=self.stats,
            recorder=self._recorder,
            confirmed=lambda: self.translator.connected,
        )
        self.downstream = Downstream(client, self.limits, self._sent_to_client, self._recorder)

    async def run(self) -> SessionEnd:
        """Run the session to its end; return why it ended. The client is closed on return."""
        structlog.contextvars.bind_contextvars(session_id=self.id)
        log.info("session started", backend=self.target.backend.value)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self._recorder is not None:
                nursery.start_soon(self._recorder.write_batches)
            nursery.start_soon(self._task, self._client_reader, name="client-reader")
            nursery.start_soon(self._task, self.downstream.run_writer, name="client-writer")
            await self._task(self._connect_and_serve)  # the upstream-reader
        end = self.end or ClientGone()
        await self.downstream.close(end)
        if self._recorder is not None:
            await self._recorder.close(end, self.limits.close_timeout_s)
        # A client that left is a normal ending, logged with the close code its connection
        # ended with; any other ending with the code the relay closed with.
        log.info(
            "session ended",
            outcome=type(end).__name__,
            reason=end.message or None,
            detail=end.detail or None,
            close_code=end.seen_code if isinstance(end, ClientGone) else int(end.close_code),
            **self.stats.summary(trio.current_time()),
        )
        return end

    def stop(self, end: SessionEnd) -> None:
        """End the session from outside (e.g. the server shutting down)."""
        self._finish(end)

    def drain(self) -> None:
        """End the session as soon as no response is in flight."""
        self.draining = True
        if not self.translator.busy:
            self._finish(ServerShuttingDown("the relay is shutting down; please reconnect"))

    def _finish(self, end: SessionEnd) -> None:
        """The first task to end decides how the session ends; everything else is cancelled."""
        if self.end is None:
            self.end = end
            self.ending.set()
        # A browser frame half-written would corrupt the stream: give it a bounded moment.
        self.downstream.cut_short()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _task(self, body: Callable[[], Awaitable[None]], *, ends: bool = True) -> None:
        """Run one of the session's tasks: how it fails ends the session; so does its return,
        unless it is a task that just ends (``ends=False``: a tool call)."""
        try:
            await body()
        except SessionEnd as end:
            self._finish(end)
        except WriteTimeout as timeout:  # from any write on either socket, pongs included
            self._finish(self._stopped_reading(timeout))
        except Exception:
            log.exception("internal error")
            self._finish(InternalError("the relay hit an internal error; see its log"))
        else:
            if ends:
                self._finish(ClientGone())

    def _stopped_reading(self, timeout: WriteTimeout) -> SessionEnd:
        """A peer that took no data for its write timeout: whose fault it was."""
        if timeout.connection is self.client:
            return SlowClient(
                f"the client stopped reading: it took no data for {timeout.timeout_s:g} s"
            )
        return UpstreamFailed(
            f"the upstream stopped reading: it took no data for {timeout.timeout_s:g} s"
        )

    # --- the upstream side --------------------------------------------------------------------

    async def _connect_and_serve(self) -> None:
        """The upstream side, for at most the session's ``max_session_s`` budget."""
        budget_s = self.translator.budgets.max_session_s
        with trio.move_on_at(self.stats.started_at + budget_s):
            await self._serve_upstream()
        raise SessionExpired(f"the session reached its maximum duration of {budget_s:g} s")

    async def _serve_upstream(self) -> None:
        started = trio.current_time()
        async with open_upstream(self.target, self.tokens, self.limits, self.connector) as upstream:
            await self._configure(upstream)
            self.stats.upstream_connect_s = trio.current_time() - started
            if self.metrics is not None:
                self.metrics.upstream_connect.observe(self.stats.upstream_connect_s)
            assert self._nursery is not None
            self._nursery.start_soon(
                self._task, lambda: self.upstream_writer.run_pump(upstream), name="audio-pump"
            )
            while True:  # the upstream-reader
                await self._apply(await self._next_upstream(upstream))
                if self.draining and not self.translator.busy:
                    raise ServerShuttingDown("the relay is shutting down; please reconnect")

    async def _configure(self, upstream: WebSocket) -> None:
        """``session.update``, then wait for ``session.updated`` before telling the browser."""
        update = realtime.encode_event(self.translator.session_update())
        await self.upstream_writer.send(upstream, [update])
        with trio.move_on_after(self.limits.upstream_session_timeout_s):
            while not self.translator.connected:
                await self._apply(await self._next_upstream(upstream))
            return
        raise UpstreamUnavailable(
            f"the upstream did not confirm the session within "
            f"{self.limits.upstream_session_timeout_s:g} s"
        )

    async def _next_upstream(self, upstream: WebSocket) -> Actions:
        """The next upstream frame's actions, unless the upstream keeps a turn waiting past the
        translator's response deadline (``upstream_response_timeout_s``): then the timeout's.
        The deadline is a scope only while the socket is waited on, not per frame."""
        frame = upstream.receive_nowait()
        if frame is None:
            # Everything the last socket read brought is handled: its browser messages go out
            # together, before the upstream-reader waits for more.
            self.downstream.write_through()
            deadline = self.translator.response_deadline
            if deadline is None:
                frame = await self._receive_upstream(upstream)
            else:
                with trio.move_on_at(deadline) as waited:
                    frame = await self._receive_upstream(upstream)
                if waited.cancelled_caught or frame is None:
                    return self.translator.timed_out(trio.current_time())
        if self._recorder is not None:
            self._recorder.upstream_in(frame)
        self.stats.upstream_in_bytes += len(frame)
        self.stats.upstream_in_frames += 1
        return self.translator.upstream_frame(frame, trio.current_time())

    async def _receive_upstream(self, upstream: WebSocket) -> str | bytes:
        try:
            return await upstream.receive()
        except ConnectionClosed as exc:
            if self._recorder is not None:
                self._recorder.upstream_closed(exc.received)
            raise closed_error(exc) from None

    async def _apply(self, actions: Actions, *, wake_writer: bool = False) -> None:
        """Carry out the translator's actions. From the upstream-reader the browser's messages
        wait for the write-through after the socket read (see :meth:`_next_upstream`); from
        other tasks (a tool call) ``wake_writer`` sends them at once."""
        # In order with the browser's own items (behind anything queued for the pump).
        await self.upstream_writer.events(list(map(realtime.encode_event, actions.to_upstream)))
        for message in actions.to_client:
            self.downstream.queue(message, wake_writer=wake_writer)
        for observation in actions.observations:
            self.observer.observe(observation, trio.current_time())
        assert self._nursery is not None
        for call in actions.start_tools:
            self._nursery.start_soon(
                partial(self._task, partial(self._run_tool, call), ends=False),
                name=f"tool:{call.tool.name}",
            )
        if actions.end is not None:
            raise actions.end

    async def _run_tool(self, call: ToolInvocation) -> None:
        """One tool call, a task of the session's nursery: cancelled with it, and its result
        answered through the translator. A tool's failure is the model's to hear, not the
        session's (the runner catches it); only the answer going upstream can end the session."""
        result = await self.tool_runner.run(call)
        await self._apply(
            self.translator.tool_finished(result, trio.current_time()), wake_writer=True
        )

    def _sent_to_client(self, message: BrowserMessage, size: int) -> None:
        now = trio.current_time()
        if isinstance(message, AssistantAudio):
            self.translator.audio_sent(message, now)
        self.observer.sent_to_client(message, size, now)

    # --- the browser side ---------------------------------------------------------------------

    async def _client_reader(self) -> None:
        """Reads the browser until it goes, or sends no message for ``idle_timeout_s``. The idle
        deadline is one cancel scope for the whole reader, moved on as messages come (at most
        once per hundredth of the timeout), not a scope per read: a streaming microphone sends
        50 messages a second."""
        idle_s = self.limits.idle_timeout_s
        with trio.CancelScope(deadline=trio.current_time() + idle_s) as idle:
            await self._read_client(idle)
        raise IdleTimeout(f"no message from the client for {idle_s:g} s")

    async def _read_client(self, idle: trio.CancelScope) -> None:
        microphone = MicrophoneAudio(self.limits, trio.current_time())
        idle_s = self.limits.idle_timeout_s
        refreshed_at = trio.current_time()
        refresh_s = idle_s / 100
        # The clock is read once per message (three calls deep in Trio, 50 messages a second
        # per streaming microphone): `now` is when the message was taken.
        while True:
            frame = self.client.receive_nowait()
            if frame is None:  # all that the last socket read brought is handled
                now = trio.current_time()
                if audio := microphone.read_all(now):
                    await self.upstream_writer.audio(audio)
                if now < microphone.read_again_at:
                    # A microphone is streaming: let a chunk of its frames gather in the socket
                    # buffer, then read them all with this one wake-up.
                    await self.ticker.sleep_until(microphone.read_again_at)
                    frame = await self._receive_client_ready()
                if frame is None:
                    frame = await self._receive_client()
            if (now := trio.current_time()) - refreshed_at > refresh_s:
                idle.deadline, refreshed_at = now + idle_s, now
            if self._recorder is not None:
                self._recorder.client_in(frame)
            self.stats.client_in_bytes += len(frame)
            self.stats.client_in_frames += 1
            try:
                if isinstance(frame, str):
                    message = parse_client_text(
                        frame, max_text_bytes=self.limits.max_user_text_bytes
                    )
                    if audio := microphone.take():  # the audio came first: it goes first
                        await self.upstream_writer.audio(audio)
                    actions = self.translator.user_message(message, now)
                    await self.upstream_writer.events(
                        list(map(realtime.encode_event, actions.to_upstream))
                    )
                    for reply in actions.to_client:  # rate_limited: nothing went upstream
                        self.downstream.queue(reply)
                    for observation in actions.observations:
                        self.observer.observe(observation, now)
                elif (refused := self.translator.microphone_refused()) is not None:
                    check_client_audio(frame)
                    for reply in refused.to_client:  # TURN_DETECTION=none: typed turns only
                        self.downstream.queue(reply)
                else:
                    check_client_audio(frame)
                    # Faster than real time beyond the burst allowance: stop reading this client.
                    if (delay := microphone.delay(len(frame), now)) > 0:
                        if microphone.chunk_ready:  # a chunk is ready: it need not wait
                            await self.upstream_writer.audio(microphone.take())
                        await trio.sleep(delay)
                    self.stats.audio_in_bytes += len(frame)
                    microphone.append(frame)
            except InvalidClientMessage as exc:
                self.downstream.queue(ErrorMessage(exc.code, exc.message))

    async def _receive_client(self) -> str | bytes:
        """The next browser message. Only messages count as activity: a client that sends just
        pings, or fragments of a message it never finishes, is idle (and a client that does
        not read the pongs is a slow client: :class:`WriteTimeout`, mapped in :meth:`_task`);
        the idle deadline is :meth:`_client_reader`'s."""
        try:
            return await self.client.receive()
        except ConnectionClosed as closed:
            raise client_gone(closed) from None

    async def _receive_client_ready(self) -> str | bytes | None:
        """A browser message already in the socket, if any (None: read with
        :meth:`_receive_client`, which also says how a closing connection ended)."""
        try:
            return await self.client.receive_ready()
        except ConnectionClosed as closed:  # a pong or close reply could not be written
            raise client_gone(closed) from None

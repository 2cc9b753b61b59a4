"""One browser conversation: one Trio nursery, its tasks, one close path.

::

    session nursery
    |-- client-reader    browser frames -> Translator -> to_upstream channel (bounded)
    |-- audio-pump       to_upstream channel -> input_audio_buffer.append / events, upstream
    |-- upstream-reader  upstream events -> Translator -> downstream buffer (byte-bounded)
    `-- client-writer    downstream buffer -> browser

Audio is coalesced where it is read: while a microphone streams, the client-reader reads the
browser's socket once per ``audio_chunk_ms`` and hands the pump everything that one read brought
as one append (the frames wait in the socket buffer meanwhile, never longer than one chunk).
The relay's cost is per message and per wake-up, not per byte, so this is what keeps a session
cheap: one wake-up and one upstream append per chunk instead of one per 20 ms frame. That
wake-up comes from the server's shared :class:`~trio_relay.ticker.Ticker`; the read after it and
the hand-off to the pump do not yield again (:meth:`WebSocket.receive_ready`, ``send_nowait``).

The session body connects upstream and sends ``session.update`` while the client-reader already
runs (so a browser that leaves during the upstream handshake is noticed at once); ``connected``
goes out after ``session.updated``. The client-writer is the only task that waits on the
browser's socket: a browser that stops reading fills its byte-bounded buffer and the session
ends with ``slow_client`` instead of the relay buffering without bound or stalling the upstream.
(While the writer is idle, the upstream-reader sends what one upstream read brought itself if
the socket takes it at once, sparing the writer a wake-up; see :meth:`Session._write_through`.)

Whichever task ends first records why in :attr:`Session.end` and cancels the nursery; then the
browser gets what is still queued for it (unless it stopped reading), an ``error`` (where there
is something to say) and a close code, and the upstream
socket is closed by :func:`open_upstream`'s exit (shielded, so a cancelled session still
completes the upstream close handshake). Every wait on a peer is bounded.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable

import structlog
import trio

from . import realtime
from .browser import (
    AssistantAudio,
    BrowserMessage,
    ErrorMessage,
    InvalidClientMessage,
    TextDelta,
    check_client_audio,
    parse_client_text,
)
from .budgets import Budgets
from .config import RelayConfig, UpstreamTarget
from .credentials import EntraTokenSource
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
from .limits import AudioPacer
from .log import get_logger
from .metrics import RelayMetrics
from .realtime import BYTES_PER_MS
from .record import open_recorder
from .stats import SessionStats
from .ticker import Ticker
from .translator import (
    Actions,
    Observation,
    RateLimited,
    RateLimitsReported,
    ResponseFinished,
    Translator,
    TurnEnded,
    UpstreamErrorReported,
    UsageReported,
)
from .upstream import UpstreamConnector, closed_error, open_upstream
from .websocket import ConnectionClosed, WebSocket, WriteTimeout

log = get_logger("trio_relay.session")

# Largest binary frame the writer makes by merging queued assistant audio (1 s).
MERGED_AUDIO_BYTES = 1000 * BYTES_PER_MS
# Most bytes the writer puts in one socket write (several queued messages go out together).
WRITE_BATCH_BYTES = 256 * 1024

# Items the audio pump sends upstream, in order: PCM to append, or an encoded JSON event.
UpstreamItem = bytes | str


def close_reason(message: str) -> str | None:
    """A close frame's reason is at most 123 bytes of UTF-8: cut at a word, marked with '...'.
    (The ``error`` message sent before the close has the whole text.)"""
    if len(message.encode()) <= 123:
        return message or None
    return message.encode()[:120].decode(errors="ignore").rsplit(" ", 1)[0] + "..."


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
    ) -> None:
        self.connector = connector  # None: the network (trio_relay.upstream)
        self.id = f"s-{secrets.token_hex(6)}"  # unique across workers and replicas
        self.metrics = metrics
        self.ticker = ticker or Ticker()  # not running: plain trio.sleep_until
        self.stats = SessionStats(started_at=trio.current_time())
        self._recorder = open_recorder(config.record, self.id, self.stats.started_at)  # or None
        self._turn_ended_at: float | None = None
        self._awaiting_text = False
        self._awaiting_audio = False
        self.client = client
        self.limits = config.limits
        self.target = target
        self.tokens = tokens
        # Budgets: from the limits, unless the server built them from a ticket's claims.
        self.translator = Translator(
            config.session, target.dialect, limits=config.limits, budgets=budgets
        )
        self.end: SessionEnd | None = None
        self.ending = trio.Event()  # set when the session's end is decided, before the close
        self.draining = False
        self._nursery: trio.Nursery | None = None
        self._to_upstream_send, self._to_upstream_receive = trio.open_memory_channel[UpstreamItem](
            self.limits.audio_queue_frames
        )
        # Bounded in bytes by _queue_downstream; a deque so the writer can merge audio.
        self._downstream: deque[tuple[str | bytes, BrowserMessage]] = deque()
        self._downstream_queued = trio.Event()
        self._downstream_bytes = 0
        self._downstream_limit = self.limits.downstream_buffer_ms * BYTES_PER_MS
        self._inflight_send: trio.CancelScope | None = None
        self._writer_idle = False  # the client-writer waits for messages (nothing in flight)
        # Messages the upstream-reader framed but the socket did not take at once (the writer's).
        self._unflushed: list[tuple[str | bytes, BrowserMessage]] = []

    async def run(self) -> SessionEnd:
        """Run the session to its end; return why it ended. The client is closed on return."""
        structlog.contextvars.bind_contextvars(session_id=self.id)
        log.info("session started", backend=self.target.backend.value)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self._recorder is not None:
                nursery.start_soon(self._recorder.write_batches)
            nursery.start_soon(self._task, self._client_reader)
            nursery.start_soon(self._task, self._client_writer)
            await self._task(self._connect_and_serve)
        end = self.end or ClientGone()
        await self._close_client(end)
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
        if not self.translator.response_active:
            self._finish(ServerShuttingDown("the relay is shutting down; please reconnect"))

    def _finish(self, end: SessionEnd) -> None:
        """The first task to end decides how the session ends; everything else is cancelled."""
        if self.end is None:
            self.end = end
            self.ending.set()
        if self._inflight_send is not None:
            # A browser frame half-written would corrupt the stream: give it a bounded moment.
            self._inflight_send.deadline = trio.current_time() + self.limits.close_timeout_s
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _task(self, body: Callable[[], Awaitable[None]]) -> None:
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
            self._nursery.start_soon(self._task, lambda: self._audio_pump(upstream))
            while True:  # the upstream-reader
                await self._apply(await self._next_upstream(upstream))
                if self.draining and not self.translator.response_active:
                    raise ServerShuttingDown("the relay is shutting down; please reconnect")

    async def _configure(self, upstream: WebSocket) -> None:
        """``session.update``, then wait for ``session.updated`` before telling the browser."""
        update = realtime.encode_event(self.translator.session_update())
        await self._send_upstream(upstream, [update])
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
            self._write_through()
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

    async def _apply(self, actions: Actions) -> None:
        for event in actions.to_upstream:
            # Through the pump, so replies stay in order with the browser's own items.
            await self._to_pump(realtime.encode_event(event))
        for message in actions.to_client:
            self._queue_downstream(message, wake_writer=False)  # see _next_upstream
        for observation in actions.observations:
            self._observe(observation)
        if actions.end is not None:
            raise actions.end

    def _observe(self, observation: Observation) -> None:
        if isinstance(observation, TurnEnded):
            self._turn_started()
            return
        if isinstance(observation, ResponseFinished) and observation.status != "completed":
            # Operators see how often the upstream fails a turn (a few % on a busy Azure).
            log.info(
                "response not completed",
                status=observation.status,
                upstream_code=observation.upstream_code,
                retried=observation.retried,
            )
        elif isinstance(observation, RateLimited):
            log.info("rate limited", budget=observation.budget)
        metrics = self.metrics
        if metrics is None:
            return
        if isinstance(observation, UsageReported):
            for kind, count in observation.tokens.items():
                metrics.tokens.labels(kind).inc(count)
        elif isinstance(observation, RateLimitsReported):
            for name, remaining in observation.remaining.items():
                metrics.rate_limit_remaining.labels(name).set(remaining)
        elif isinstance(observation, UpstreamErrorReported):
            metrics.upstream_errors.labels(observation.code).inc()
        elif isinstance(observation, ResponseFinished):
            metrics.responses.labels(observation.status).inc()
        elif isinstance(observation, RateLimited):
            metrics.rate_limited.labels(observation.budget).inc()

    def _turn_started(self) -> None:
        """The user ended a turn: time the answer's first text and first audio from now."""
        self.stats.turns += 1
        self._turn_ended_at = trio.current_time()
        self._awaiting_text = self._awaiting_audio = True

    def _sent_to_client(self, message: BrowserMessage, size: int) -> None:
        self.stats.client_out_bytes += size
        self.stats.client_out_frames += 1
        if isinstance(message, AssistantAudio):
            self.stats.audio_out_bytes += size
            self.translator.audio_sent(message, trio.current_time())
            if self._awaiting_audio and self._turn_ended_at is not None:
                self._awaiting_audio = False
                elapsed = trio.current_time() - self._turn_ended_at
                if self.stats.first_audio_s is None:
                    self.stats.first_audio_s = elapsed
                if self.metrics is not None:
                    self.metrics.first_audio.observe(elapsed)
        elif isinstance(message, TextDelta) and self._awaiting_text:
            self._awaiting_text = False
            if self.metrics is not None and self._turn_ended_at is not None:
                self.metrics.first_text.observe(trio.current_time() - self._turn_ended_at)

    async def _audio_pump(self, upstream: WebSocket) -> None:
        """Sends what the client-reader and the upstream-reader queued, in order: whatever is
        queued when it wakes goes out in one socket write."""
        while True:
            items = [await self._to_upstream_receive.receive()]
            while len(items) < self.limits.audio_queue_frames:
                try:
                    items.append(self._to_upstream_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            await self._send_upstream(upstream, [_upstream_text(item) for item in items])

    async def _send_upstream(self, upstream: WebSocket, texts: list[str]) -> None:
        if self._recorder is not None:  # before: its answer may be read before this returns
            self._recorder.upstream_out(texts)
        try:
            await upstream.send_many(texts, timeout_s=self.limits.upstream_send_timeout_s)
        except trio.TooSlowError:
            raise UpstreamFailed(
                f"the upstream stopped reading (a send blocked for "
                f"{self.limits.upstream_send_timeout_s:g} s)"
            ) from None
        except ConnectionClosed as exc:
            if self.translator.connected:
                # The upstream-reader will read what the upstream said before closing (an
                # error event, the close code) and end the session with the real cause.
                await trio.sleep(self.limits.close_timeout_s)
            raise closed_error(exc) from None
        self.stats.upstream_out_bytes += sum(map(len, texts))
        self.stats.upstream_out_frames += len(texts)

    # --- the browser side ---------------------------------------------------------------------

    async def _client_reader(self) -> None:
        pacer = AudioPacer(self.limits.audio_burst_ms, trio.current_time())
        gather_s = self.limits.audio_chunk_ms / 1000
        gather_bytes = self.limits.audio_chunk_ms * BYTES_PER_MS
        audio = bytearray()  # microphone audio read, not yet handed to the pump
        read_again_at = -math.inf  # while audio streams: when the socket is read next
        while True:
            frame = self.client.receive_nowait()
            if frame is None:  # all that the last socket read brought is handled
                if audio:
                    # Real-time audio (under two chunks per read) is read once per chunk; a
                    # client sending ahead (a file, a backlog) is read without waiting.
                    streaming = len(audio) < 2 * gather_bytes
                    read_again_at = trio.current_time() + gather_s if streaming else -math.inf
                    await self._to_pump(bytes(audio))
                    audio.clear()
                if trio.current_time() < read_again_at:
                    # A microphone is streaming: let a chunk of its frames gather in the socket
                    # buffer, then read them all with this one wake-up.
                    await self.ticker.sleep_until(read_again_at)
                    frame = await self._receive_client_ready()
                if frame is None:
                    frame = await self._receive_client()
            if self._recorder is not None:
                self._recorder.client_in(frame)
            self.stats.client_in_bytes += len(frame)
            self.stats.client_in_frames += 1
            try:
                if isinstance(frame, str):
                    message = parse_client_text(
                        frame, max_text_bytes=self.limits.max_user_text_bytes
                    )
                    if audio:  # the audio came first: it goes upstream first
                        await self._to_pump(bytes(audio))
                        audio.clear()
                    actions = self.translator.user_message(message, trio.current_time())
                    for event in actions.to_upstream:
                        await self._to_pump(realtime.encode_event(event))
                    for reply in actions.to_client:  # rate_limited: nothing went upstream
                        self._queue_downstream(reply)
                    for observation in actions.observations:
                        self._observe(observation)
                else:
                    check_client_audio(frame)
                    # Faster than real time beyond the burst allowance: stop reading this client.
                    if (delay := pacer.delay(len(frame), trio.current_time())) > 0:
                        if len(audio) >= gather_bytes:  # a chunk is ready: it need not wait
                            await self._to_pump(bytes(audio))
                            audio.clear()
                        await trio.sleep(delay)
                    self.stats.audio_in_bytes += len(frame)
                    audio += frame
            except InvalidClientMessage as exc:
                self._queue_downstream(ErrorMessage(exc.code, exc.message))

    async def _to_pump(self, item: UpstreamItem) -> None:
        """Queue for the audio pump; waits only when the queue is full (the upstream is slow)."""
        try:
            self._to_upstream_send.send_nowait(item)
        except trio.WouldBlock:
            await self._to_upstream_send.send(item)

    async def _receive_client(self) -> str | bytes:
        """The next browser message. Only messages count as activity: a client that sends just
        pings, or fragments of a message it never finishes, is idle (and a client that does
        not read the pongs is a slow client: :class:`WriteTimeout`, mapped in :meth:`_task`)."""
        with trio.move_on_after(self.limits.idle_timeout_s):
            try:
                return await self.client.receive()
            except ConnectionClosed as closed:
                raise client_gone(closed) from None
        raise IdleTimeout(f"no message from the client for {self.limits.idle_timeout_s:g} s")

    async def _receive_client_ready(self) -> str | bytes | None:
        """A browser message already in the socket, if any (None: read with
        :meth:`_receive_client`, which also says how a closing connection ended)."""
        try:
            return await self.client.receive_ready()
        except ConnectionClosed as closed:  # a pong or close reply could not be written
            raise client_gone(closed) from None

    def _queue_downstream(self, message: BrowserMessage, *, wake_writer: bool = True) -> None:
        data = message.encode()
        if self._downstream_bytes + len(data) > self._downstream_limit:
            raise SlowClient(
                f"the client is not reading: more than {self.limits.downstream_buffer_ms} ms "
                "of audio are waiting for it"
            )
        if self._recorder is not None:
            self._recorder.client_out(data)
        self._downstream_bytes += len(data)
        self._downstream.append((data, message))
        if wake_writer:
            self._downstream_queued.set()

    def _write_through(self) -> None:
        """The upstream-reader's shortcut, once per upstream read: while the writer is idle,
        send what is queued now if the browser's socket takes it at once, sparing the writer a
        wake-up (a task switch per upstream read: most of what the relay adds to a text turn).
        Whatever does not go at once is the writer's, as is all waiting: the upstream-reader
        never waits for the browser."""
        if not self._downstream:
            return
        if not self._writer_idle or self._unflushed:
            self._downstream_queued.set()
            return
        batch = self._downstream_batch()
        try:
            sent = self.client.send_many_nowait([data for data, _ in batch])
        except ConnectionClosed as closed:
            raise client_gone(closed) from None
        if sent:
            self._sent_batch(batch)
        else:
            self._unflushed = batch  # framed, partly written: the writer finishes it
        if self._downstream or self._unflushed:
            self._downstream_queued.set()

    async def _client_writer(self) -> None:
        while True:
            if not self._downstream and not self._unflushed:
                self._downstream_queued = trio.Event()
                self._writer_idle = True
                try:
                    await self._downstream_queued.wait()
                finally:
                    self._writer_idle = False
                continue
            # What the upstream-reader framed but could not write goes first (and is all of
            # this write: send_many([]) writes what is left unsent); else the next batch.
            batch, self._unflushed = self._unflushed, []
            messages: list[str | bytes] = []
            if not batch:
                batch = self._downstream_batch()
                messages = [data for data, _ in batch]
            # Shielded: a browser frame half-written would corrupt the stream. Bounded by the
            # write timeout (a client that takes no data: WriteTimeout, see _task) and, once the
            # session is ending, by the close timeout (see _finish).
            with trio.CancelScope(shield=True) as scope:
                self._inflight_send = scope
                try:
                    await self.client.send_many(messages, timeout_s=self.limits.write_timeout_s)
                except ConnectionClosed as closed:
                    raise client_gone(closed) from None
                finally:
                    self._inflight_send = None
            if scope.cancelled_caught:  # cut mid-write (the WebSocket knows it is broken)
                raise ClientGone()
            self._sent_batch(batch)

    def _downstream_batch(self) -> list[tuple[str | bytes, BrowserMessage]]:
        """Queued messages for one socket write (audio merged), up to WRITE_BATCH_BYTES."""
        batch = [self._next_downstream()]
        size = len(batch[0][0])
        while self._downstream and size < WRITE_BATCH_BYTES:
            batch.append(self._next_downstream())
            size += len(batch[-1][0])
        return batch

    def _sent_batch(self, batch: list[tuple[str | bytes, BrowserMessage]]) -> None:
        for data, message in batch:
            self._downstream_bytes -= len(data)
            self._sent_to_client(message, len(data))

    def _next_downstream(self) -> tuple[str | bytes, BrowserMessage]:
        """The next message for the browser; assistant audio queued back to back (the upstream
        sends it faster than real time) goes out as one larger binary frame."""
        data, message = self._downstream.popleft()
        if not isinstance(message, AssistantAudio):
            return data, message
        parts = [message.pcm]
        size = len(message.pcm)
        while self._downstream and size < MERGED_AUDIO_BYTES:
            following = self._downstream[0][1]
            if not isinstance(following, AssistantAudio) or following.item_id != message.item_id:
                break
            self._downstream.popleft()
            parts.append(following.pcm)
            size += len(following.pcm)
        if len(parts) == 1:
            return data, message
        merged = AssistantAudio(b"".join(parts), message.item_id)
        return merged.pcm, merged

    async def _close_client(self, end: SessionEnd) -> None:
        """Tell the browser why (what is still queued, then an ``error``) and close; every step
        bounded, never raising for a browser that is gone or does not read. What goes out is
        counted, so the session's end log line has the whole traffic."""
        with trio.CancelScope(shield=True), trio.move_on_after(self.limits.close_timeout_s):
            if self.client.open and not isinstance(end, ClientGone):
                # What the upstream-reader framed but could not write is in the WebSocket's
                # queue and goes first; then what is still queued here (not to a client that
                # stopped reading); then the error.
                framed, self._unflushed = self._unflushed, []
                queued = [] if isinstance(end, SlowClient) else list(self._downstream)
                messages = [data for data, _ in queued]
                error: tuple[str, ErrorMessage] | None = None
                if end.error_code is not None:
                    upstream_code = getattr(end, "upstream_code", None)
                    message = ErrorMessage(end.error_code, end.message, upstream_code=upstream_code)
                    error = (message.encode(), message)
                    messages.append(error[0])
                try:
                    await self.client.send_many(messages, timeout_s=self.limits.write_timeout_s)
                except (ConnectionClosed, WriteTimeout):
                    pass
                else:
                    self._downstream.clear()
                    self._sent_batch([*framed, *queued])
                    if error is not None:
                        self._sent_to_client(error[1], len(error[0]))
        with trio.CancelScope(shield=True):
            await self.client.aclose(
                end.close_code,
                close_reason(end.message) or "",
                close_timeout_s=self.limits.close_timeout_s,
            )


def client_gone(closed: ConnectionClosed) -> ClientGone:
    """How the browser's WebSocket ended, named with the close code seen on it."""
    received, sent = closed.received, closed.sent
    if received is not None:
        detail = f" ({received.reason})" if received.reason else ""
        return ClientGone(
            f"the client closed the connection with code {received.code}{detail}",
            seen_code=received.code,
        )
    if sent is not None:  # the relay failed the connection (e.g. 1009: a message too big)
        return ClientGone(
            f"the client broke the WebSocket protocol ({sent.reason or 'no detail'}); "
            f"the relay closed the connection with code {sent.code}",
            seen_code=sent.code,
        )
    return ClientGone("the client dropped the connection without a close frame")


def _upstream_text(item: UpstreamItem) -> str:
    if isinstance(item, str):
        return item
    return realtime.encode_audio_append(base64.b64encode(item).decode("ascii"))

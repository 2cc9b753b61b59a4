"""The session's way to the browser: a byte-bounded queue, the client-writer that empties it,
the upstream-reader's write-through shortcut, and the last words when the session ends.

The client-writer (:meth:`Downstream.run_writer`) is the only task that waits on the browser's
socket. A browser that stops reading fills the queue's byte budget (``downstream_buffer_ms`` of
audio) and the session ends with ``slow_client``, instead of the relay buffering without bound
or stalling the upstream. Queued assistant audio of one item goes out merged into larger binary
frames (the upstream sends it faster than real time), and several queued messages go out in
one socket write.

While the writer is idle, the upstream-reader sends what one upstream read brought itself if
the socket takes it at once (:meth:`Downstream.write_through`), sparing the writer a wake-up: a
task switch per upstream read is most of what the relay adds to a text turn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import trio

from .browser import AssistantAudio, BrowserMessage, ErrorMessage
from .config import Limits
from .errors import ClientGone, SessionEnd, SlowClient
from .realtime import BYTES_PER_MS
from .record import SessionRecorder
from .websocket import ConnectionClosed, WebSocket, WriteTimeout

# Largest binary frame the writer makes by merging queued assistant audio (1 s).
MERGED_AUDIO_BYTES = 1000 * BYTES_PER_MS
# Most bytes the writer puts in one socket write (several queued messages go out together).
WRITE_BATCH_BYTES = 256 * 1024

Framed = tuple[str | bytes, BrowserMessage]  # a message and its encoding (what goes out)


class Downstream:
    """Messages for one browser, in order. ``on_sent(message, size)`` is called for each one
    once the socket has taken it (the session's traffic counts and turn timing)."""

    def __init__(
        self,
        client: WebSocket,
        limits: Limits,
        on_sent: Callable[[BrowserMessage, int], None],
        recorder: SessionRecorder | None = None,
    ) -> None:
        self.client = client
        self.limits = limits
        self._on_sent = on_sent
        self._recorder = recorder
        # Bounded in bytes by queue(); a deque so the writer can merge audio.
        self._queue: deque[Framed] = deque()
        self._queued = trio.Event()
        self.queued_bytes = 0
        self._limit = limits.downstream_buffer_ms * BYTES_PER_MS
        self._inflight_send: trio.CancelScope | None = None
        self._writer_idle = False  # the client-writer waits for messages (nothing in flight)
        # Messages the upstream-reader framed but the socket did not take at once (the writer's).
        self._unflushed: list[Framed] = []

    def __len__(self) -> int:
        return len(self._queue)

    def queue(self, message: BrowserMessage, *, wake_writer: bool = True) -> None:
        """Queue a message; :class:`SlowClient` if the browser has too much waiting for it.
        ``wake_writer=False``: the caller calls :meth:`write_through` soon (the upstream-reader
        does, once per socket read)."""
        data = message.encode()
        if self.queued_bytes + len(data) > self._limit:
            raise SlowClient(
                f"the client is not reading: more than {self.limits.downstream_buffer_ms} ms "
                "of audio are waiting for it"
            )
        if self._recorder is not None:
            self._recorder.client_out(data)
        self.queued_bytes += len(data)
        self._queue.append((data, message))
        if wake_writer:
            self._queued.set()

    def write_through(self) -> None:
        """The upstream-reader's shortcut, once per upstream read: while the writer is idle,
        send what is queued now if the browser's socket takes it at once, sparing the writer a
        wake-up. Whatever does not go at once is the writer's, as is all waiting: the
        upstream-reader never waits for the browser."""
        if not self._queue:
            return
        if not self._writer_idle or self._unflushed:
            self._queued.set()
            return
        batch = self._batch()
        try:
            sent = self.client.send_many_nowait([data for data, _ in batch])
        except ConnectionClosed as closed:
            raise client_gone(closed) from None
        if sent:
            self._sent(batch)
        else:
            self._unflushed = batch  # framed, partly written: the writer finishes it
        if self._queue or self._unflushed:
            self._queued.set()

    async def run_writer(self) -> None:
        """The client-writer task: sends what is queued until cancelled."""
        while True:
            if not self._queue and not self._unflushed:
                self._queued = trio.Event()
                self._writer_idle = True
                try:
                    await self._queued.wait()
                finally:
                    self._writer_idle = False
                continue
            # What the upstream-reader framed but could not write goes first (and is all of
            # this write: send_many([]) writes what is left unsent); else the next batch.
            batch, self._unflushed = self._unflushed, []
            messages: list[str | bytes] = []
            if not batch:
                batch = self._batch()
                messages = [data for data, _ in batch]
            # Shielded: a browser frame half-written would corrupt the stream. Bounded by the
            # write timeout (a client that takes no data: WriteTimeout) and, once the session
            # is ending, by the close timeout (see cut_short).
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
            self._sent(batch)

    def cut_short(self) -> None:
        """The session is ending: a write in flight gets the close timeout to finish."""
        if self._inflight_send is not None:
            self._inflight_send.deadline = trio.current_time() + self.limits.close_timeout_s

    def next_message(self) -> Framed:
        """The next message for the browser; assistant audio of one item queued back to back
        goes out as one larger binary frame (never across items or other messages)."""
        data, message = self._queue.popleft()
        if not isinstance(message, AssistantAudio):
            return data, message
        parts = [message.pcm]
        size = len(message.pcm)
        while self._queue and size < MERGED_AUDIO_BYTES:
            following = self._queue[0][1]
            if not isinstance(following, AssistantAudio) or following.item_id != message.item_id:
                break
            self._queue.popleft()
            parts.append(following.pcm)
            size += len(following.pcm)
        if len(parts) == 1:
            return data, message
        merged = AssistantAudio(b"".join(parts), message.item_id)
        return merged.pcm, merged

    def _batch(self) -> list[Framed]:
        """Queued messages for one socket write (audio merged), up to WRITE_BATCH_BYTES."""
        batch = [self.next_message()]
        size = len(batch[0][0])
        while self._queue and size < WRITE_BATCH_BYTES:
            batch.append(self.next_message())
            size += len(batch[-1][0])
        return batch

    def _sent(self, batch: list[Framed]) -> None:
        for data, message in batch:
            self.queued_bytes -= len(data)
            self._on_sent(message, len(data))

    async def close(self, end: SessionEnd) -> None:
        """Tell the browser why (what is still queued, then an ``error``) and close; every step
        bounded, never raising for a browser that is gone or does not read. What goes out is
        counted (``on_sent``), so the session's end log line has the whole traffic."""
        with trio.CancelScope(shield=True), trio.move_on_after(self.limits.close_timeout_s):
            if self.client.open and not isinstance(end, ClientGone):
                # What the upstream-reader framed but could not write is in the WebSocket's
                # queue and goes first; then what is still queued here (not to a client that
                # stopped reading); then the error.
                framed, self._unflushed = self._unflushed, []
                queued = [] if isinstance(end, SlowClient) else list(self._queue)
                messages = [data for data, _ in queued]
                error: Framed | None = None
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
                    self._queue.clear()
                    self._sent([*framed, *queued])
                    if error is not None:
                        self._on_sent(error[1], len(error[0]))
        with trio.CancelScope(shield=True):
            await self.client.aclose(
                end.close_code,
                close_reason(end.message) or "",
                close_timeout_s=self.limits.close_timeout_s,
            )


def close_reason(message: str) -> str | None:
    """A close frame's reason is at most 123 bytes of UTF-8: cut at a word, marked with '...'.
    (The ``error`` message sent before the close has the whole text.)"""
    if len(message.encode()) <= 123:
        return message or None
    return message.encode()[:120].decode(errors="ignore").rsplit(" ", 1)[0] + "..."


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

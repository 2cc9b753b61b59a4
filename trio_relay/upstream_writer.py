"""Everything a session writes to the upstream, in order: microphone audio and events.

The client-reader and the upstream-reader queue what they have (:meth:`UpstreamWriter.queue`,
a bounded channel: the backpressure on a browser when the upstream is slow); the audio pump
(:meth:`UpstreamWriter.run_pump`) writes whatever is queued when it wakes in one socket write,
microphone audio queued back to back as one append of at most :data:`MERGED_AUDIO_BYTES`.

Microphone audio and events have a shorter way (:meth:`UpstreamWriter.audio`,
:meth:`UpstreamWriter.events`): when nothing waits before them in the queue, the task that has
them writes them straight to the upstream socket, without waking the pump and without ever
waiting (the socket takes them now, or the pump writes the rest, bounded by its send timeout).
So audio goes upstream as soon as it is read, and it gathers only while a write before it is
still under way; a typed turn costs no wake-up of the pump.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import trio

from . import realtime
from .errors import UpstreamFailed
from .record import SessionRecorder
from .stats import SessionStats
from .upstream import closed_error
from .websocket import ConnectionClosed, WebSocket

# What is queued for the upstream, in order: PCM to append (b"": only write what is pending), or
# an encoded JSON event.
UpstreamItem = bytes | str
# Microphone audio that gathered while a write was under way goes up in appends of at most this
# much (100 ms, the size of the real service's own audio deltas): a backlog is never one giant
# event, and the upstream's read-ahead bounds it.
MERGED_AUDIO_BYTES = 100 * realtime.BYTES_PER_MS


class UpstreamWriter:
    def __init__(
        self,
        *,
        queue_items: int,
        send_timeout_s: float,
        close_timeout_s: float,
        stats: SessionStats,
        recorder: SessionRecorder | None,
        confirmed: Callable[[], bool],
    ) -> None:
        """``confirmed``: whether the upstream has confirmed the session (a send that finds the
        connection closed then waits for the upstream-reader to learn why)."""
        self.send_timeout_s = send_timeout_s
        self.close_timeout_s = close_timeout_s
        self.stats = stats
        self._recorder = recorder
        self._confirmed = confirmed
        self._upstream: WebSocket | None = None  # once the pump runs: audio may go straight
        self._queue_items = queue_items
        self._send, self._receive = trio.open_memory_channel[UpstreamItem](queue_items)
        # Items queued and not yet taken by the pump (the channel's own statistics() builds an
        # object per call; audio() asks for every microphone frame).
        self._queued = 0

    async def queue(self, item: UpstreamItem) -> None:
        """For the pump, in order; waits only when the queue is full (the upstream is slow)."""
        self._queued += 1  # before: a waiting send's item may be taken before it returns
        try:
            try:
                self._send.send_nowait(item)
            except trio.WouldBlock:
                await self._send.send(item)
        except BaseException:  # cancelled (or the pump is gone): the item is not queued
            self._queued -= 1
            raise

    async def audio(self, pcm: bytes) -> None:
        """Microphone audio, written straight to the upstream socket when nothing is queued
        before it; else queued, and merged by the pump with whatever gathers meanwhile."""
        if self._upstream is None or self._queued:
            await self.queue(pcm)
        else:
            await self._write_through([append_event(pcm)])

    async def events(self, texts: list[str]) -> None:
        """Encoded events (a typed turn, a tool's outputs), in order, the same way: straight to
        the socket when nothing is queued before them, else through the pump."""
        if self._upstream is None or self._queued:
            for text in texts:
                await self.queue(text)
        elif texts:
            await self._write_through(texts)

    async def _write_through(self, texts: list[str]) -> None:
        """Frame ``texts`` behind whatever the socket has not taken yet and write what it takes
        now, never waiting: the rest (or how the connection ended) is the pump's."""
        assert self._upstream is not None
        if self._recorder is not None:
            self._recorder.upstream_out(texts)
        try:
            written = self._upstream.send_many_nowait(texts)
        except ConnectionClosed:
            await self.queue(b"")  # the pump's write says how it ended
            return
        self.stats.upstream_out_bytes += sum(map(len, texts))
        self.stats.upstream_out_frames += len(texts)
        if not written:
            await self.queue(b"")  # the rest is the pump's to write

    async def run_pump(self, upstream: WebSocket) -> None:
        """The audio pump: whatever is queued when it wakes goes out in one socket write."""
        self._upstream = upstream
        while True:
            items = [await self._receive.receive()]
            while len(items) < self._queue_items:
                try:
                    items.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            self._queued -= len(items)
            await self.send(upstream, upstream_frames(items))

    async def send(self, upstream: WebSocket, texts: list[str]) -> None:
        """Write ``texts`` (and anything pending before them), bounded by the send timeout."""
        if self._recorder is not None:  # before: its answer may be read before this returns
            self._recorder.upstream_out(texts)
        try:
            await upstream.send_many(texts, timeout_s=self.send_timeout_s)
        except trio.TooSlowError:
            raise UpstreamFailed(
                f"the upstream stopped reading (a send blocked for {self.send_timeout_s:g} s)"
            ) from None
        except ConnectionClosed as exc:
            if self._confirmed():
                # The upstream-reader will read what the upstream said before closing (an
                # error event, the close code) and end the session with the real cause.
                await trio.sleep(self.close_timeout_s)
            raise closed_error(exc) from None
        self.stats.upstream_out_bytes += sum(map(len, texts))
        self.stats.upstream_out_frames += len(texts)


def append_event(pcm: bytes) -> str:
    return realtime.encode_audio_append(base64.b64encode(pcm).decode("ascii"))


def upstream_frames(items: list[UpstreamItem]) -> list[str]:
    """The pump's items as upstream frames: events as they are, audio queued back to back as
    one append of at most :data:`MERGED_AUDIO_BYTES` (a frame larger than that goes alone);
    b"" asks only for a write of what is pending."""
    texts: list[str] = []
    audio = b""
    for item in items:
        if isinstance(item, bytes):
            if audio and len(audio) + len(item) > MERGED_AUDIO_BYTES:
                texts.append(append_event(audio))
                audio = b""
            audio += item
            continue
        if audio:
            texts.append(append_event(audio))
            audio = b""
        texts.append(item)
    if audio:
        texts.append(append_event(audio))
    return texts

"""Coalescing microphone audio into larger upstream chunks. Pure: the caller passes ``now`` in.

Browsers send small frames (the reference worklet sends 128 samples, about 5 ms, 187 frames/s).
Each upstream ``input_audio_buffer.append`` costs a WebSocket frame, a base64 encode and a JSON
parse on the far side, so the audio pump sends chunks of ``chunk_ms`` instead: never later than
``chunk_ms`` after the oldest buffered byte arrived, and at once before any upstream event that
must follow the audio (:meth:`AudioCoalescer.flush`).
"""

from __future__ import annotations

import math

from .realtime import BYTES_PER_MS


class AudioCoalescer:
    def __init__(self, chunk_ms: int) -> None:
        if chunk_ms <= 0:
            raise ValueError("chunk_ms must be positive")
        self.chunk_ms = chunk_ms
        self.chunk_bytes = chunk_ms * BYTES_PER_MS
        self._buffer = bytearray()
        self._oldest_at: float | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def deadline(self) -> float:
        """When the buffered audio must go out at the latest (``inf`` when nothing is buffered)."""
        if self._oldest_at is None:
            return math.inf
        return self._oldest_at + self.chunk_ms / 1000

    def push(self, pcm: bytes, now: float) -> bytes:
        """Buffer ``pcm``; return the whole chunks ready to send (empty when none is)."""
        if not pcm:
            return b""
        if self._oldest_at is None:
            self._oldest_at = now
        self._buffer += pcm
        if len(self._buffer) < self.chunk_bytes:
            return b""
        whole = len(self._buffer) - len(self._buffer) % self.chunk_bytes
        ready = bytes(self._buffer[:whole])
        del self._buffer[:whole]
        self._oldest_at = now if self._buffer else None
        # One large append is cheaper than several small ones: all whole chunks go as one.
        return ready

    def flush(self) -> bytes:
        """Everything buffered, now (empty when nothing is)."""
        ready = bytes(self._buffer)
        self._buffer.clear()
        self._oldest_at = None
        return ready

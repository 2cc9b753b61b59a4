"""Microphone audio on its way upstream: gathered and paced to real time. Pure.

By default (``audio_chunk_ms`` 0) nothing waits on purpose: whatever one read of the browser's
socket brought goes upstream at once, and frames gather only while that is not possible (the
upstream write before them is still under way: the pump merges what queued meanwhile into one
``input_audio_buffer.append``), so a chunk costs no latency that the upstream's own pace did not.

With ``audio_chunk_ms`` set, the relay trades latency for CPU, as before: while a microphone
streams, the client-reader reads the browser's socket once per chunk and hands the pump all
that one read brought as one append (the frames wait in the socket buffer meanwhile, never
longer than one chunk): one wake-up and one upstream append per chunk instead of one per frame.

Either way a client sending faster than real time (a file, a backlog) is read without waiting,
but held to real time beyond ``audio_burst_ms`` (:class:`AudioPacer`).
"""

from __future__ import annotations

import math

from .config import Limits
from .limits import AudioPacer
from .realtime import BYTES_PER_MS


class MicrophoneAudio:
    """Audio read from the browser and not yet handed to the pump, and when to read next."""

    def __init__(self, limits: Limits, now: float) -> None:
        self._pacer = AudioPacer(limits.audio_burst_ms, now)
        self._gather_s = limits.audio_chunk_ms / 1000
        self._chunk_bytes = limits.audio_chunk_ms * BYTES_PER_MS
        self._audio = bytearray()
        # While audio streams: when the socket is read next (-inf: at once).
        self.read_again_at = -math.inf

    def delay(self, nbytes: int, now: float) -> float:
        """Admit a frame of ``nbytes`` of PCM16: how long to wait before taking it (0: at once)."""
        return self._pacer.delay(nbytes, now)

    def append(self, pcm: bytes) -> None:
        self._audio += pcm

    @property
    def chunk_ready(self) -> bool:
        """A whole chunk is gathered (with no chunk: anything): it need not wait for the next
        read."""
        return bool(self._audio) and len(self._audio) >= self._chunk_bytes

    def take(self) -> bytes:
        """Everything gathered (b"" if nothing), for one append."""
        audio = bytes(self._audio)
        self._audio.clear()
        return audio

    def read_all(self, now: float) -> bytes:
        """The socket has nothing more buffered: what to hand over now, and when to read next.
        Real-time audio (under two chunks per read) is read once per chunk; a client sending
        ahead is read again without waiting."""
        if not self._audio:
            return b""
        streaming = 0 < len(self._audio) < 2 * self._chunk_bytes
        self.read_again_at = now + self._gather_s if streaming else -math.inf
        return self.take()

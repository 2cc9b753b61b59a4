"""An energy voice-activity detector over PCM16 24 kHz mono, shaped like the Realtime API's
``server_vad``: a threshold on normalised loudness, prefix padding and a silence duration.
Pure: bytes in, :class:`VadEvent` out, all times in milliseconds of audio (no wall clock).
"""

from __future__ import annotations

import array
import math

import attrs

RATE = 24000
BYTES_PER_MS = RATE * 2 // 1000
WINDOW_MS = 20
WINDOW_BYTES = WINDOW_MS * BYTES_PER_MS
# server_vad's threshold (0..1) maps onto RMS in dBFS between these bounds: 0.5 is about -40 dBFS,
# far above digital silence and well below a voice at normal level.
QUIET_DBFS = -70.0
LOUD_DBFS = -10.0


@attrs.frozen
class SpeechStarted:
    audio_start_ms: int


@attrs.frozen
class SpeechStopped:
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


def window_level(pcm: bytes) -> float:
    """Loudness of a PCM16 window mapped to 0..1 (0 = -70 dBFS or quieter, 1 = -10 dBFS)."""
    samples = array.array("h", pcm)
    if not samples:
        return 0.0
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768
    if rms <= 0:
        return 0.0
    dbfs = 20 * math.log10(rms)
    return min(1.0, max(0.0, (dbfs - QUIET_DBFS) / (LOUD_DBFS - QUIET_DBFS)))


class EnergyVad:
    def __init__(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.speaking = False
        self._pending = bytearray()
        self._position_ms = 0  # audio time at the start of _pending
        self._silence_ms = 0

    def feed(self, pcm: bytes) -> list[VadEvent]:
        self._pending += pcm
        events: list[VadEvent] = []
        while len(self._pending) >= WINDOW_BYTES:
            window = bytes(self._pending[:WINDOW_BYTES])
            del self._pending[:WINDOW_BYTES]
            voiced = window_level(window) >= self.threshold
            if not self.speaking and voiced:
                self.speaking = True
                self._silence_ms = 0
                events.append(SpeechStarted(max(0, self._position_ms - self.prefix_padding_ms)))
            elif self.speaking:
                self._silence_ms = 0 if voiced else self._silence_ms + WINDOW_MS
                if self._silence_ms >= self.silence_duration_ms:
                    self.speaking = False
                    events.append(SpeechStopped(self._position_ms + WINDOW_MS))
            self._position_ms += WINDOW_MS
        return events

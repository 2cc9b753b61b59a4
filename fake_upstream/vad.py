"""An energy voice-activity detector over PCM16 24 kHz mono, shaped like the Realtime API's
``server_vad``: a ``threshold`` on normalised loudness (0..1), ``prefix_padding_ms`` and
``silence_duration_ms``. Pure: bytes in, :data:`VadEvent` out, every time in milliseconds of
audio since the detector started (never a wall clock).

Loudness is the RMS of each 20 ms window in dBFS, mapped linearly onto 0..1 between -70 dBFS
(0) and -10 dBFS (1), so the API's default threshold 0.5 means -40 dBFS: far above digital
silence and line noise, well below a voice at a normal level.
"""

from __future__ import annotations

import array
import math
import operator

import attrs

from .scripts import BYTES_PER_MS

WINDOW_MS = 20
WINDOW_BYTES = WINDOW_MS * BYTES_PER_MS
QUIET_DBFS = -70.0
LOUD_DBFS = -10.0


@attrs.frozen
class SpeechStarted:
    # Includes the prefix padding, as the API's ``audio_start_ms`` does.
    audio_start_ms: int


@attrs.frozen
class SpeechStopped:
    # Includes the trailing silence, as the API's ``audio_end_ms`` does.
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


def window_level(pcm: bytes) -> float:
    """Loudness of PCM16 samples on the 0..1 scale (0 = -70 dBFS or quieter, 1 = -10 dBFS)."""
    samples = array.array("h", pcm)
    if not samples:
        return 0.0
    mean_square = sum(map(operator.mul, samples, samples)) / len(samples)
    if mean_square <= 0:
        return 0.0
    dbfs = 10 * math.log10(mean_square / (32768 * 32768))
    return min(1.0, max(0.0, (dbfs - QUIET_DBFS) / (LOUD_DBFS - QUIET_DBFS)))


class EnergyVad:
    def __init__(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.speaking = False
        self.position_ms = 0  # audio time at the start of the pending bytes
        self._pending = bytearray()
        self._silence_ms = 0

    def feed(self, pcm: bytes) -> list[VadEvent]:
        self._pending += pcm
        events: list[VadEvent] = []
        offset = 0
        while len(self._pending) - offset >= WINDOW_BYTES:
            window = bytes(self._pending[offset : offset + WINDOW_BYTES])
            offset += WINDOW_BYTES
            voiced = window_level(window) >= self.threshold
            if not self.speaking and voiced:
                self.speaking = True
                self._silence_ms = 0
                events.append(SpeechStarted(max(0, self.position_ms - self.prefix_padding_ms)))
            elif self.speaking:
                self._silence_ms = 0 if voiced else self._silence_ms + WINDOW_MS
                if self._silence_ms >= self.silence_duration_ms:
                    self.speaking = False
                    events.append(SpeechStopped(self.position_ms + WINDOW_MS))
            self.position_ms += WINDOW_MS
        del self._pending[:offset]
        return events

    def restart(self, position_ms: int) -> None:
        """Forget pending audio and any speech in progress; the next byte fed is at
        ``position_ms`` (after a manual commit or clear of the input buffer)."""
        self.position_ms = position_ms
        self._pending.clear()
        self.speaking = False
        self._silence_ms = 0

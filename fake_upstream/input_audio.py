"""The input audio buffer: audio appended by the client, cut into turns by the VAD (server_vad)
or by a manual commit. Pure: bytes in, :data:`TurnEvent` out; times are milliseconds of audio
since the session started, as in the API's ``audio_start_ms`` / ``audio_end_ms``.

A committed turn holds exactly the bytes between ``audio_start_ms`` (prefix padding included)
and ``audio_end_ms`` (trailing silence included): the fake's answer echoes those bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .scripts import BYTES_PER_MS
from .vad import EnergyVad, SpeechStarted, SpeechStopped


@attrs.frozen
class TurnStarted:
    item_id: str
    audio_start_ms: int


@attrs.frozen
class TurnStopped:
    item_id: str
    audio_end_ms: int
    audio: bytes = attrs.field(repr=lambda audio: f"<{len(audio)} bytes>")


TurnEvent = TurnStarted | TurnStopped


class InputAudioBuffer:
    def __init__(self, new_item_id: Callable[[], str]) -> None:
        self._new_item_id = new_item_id
        self._pending = bytearray()  # appended, not yet committed nor discarded
        self._pending_start = 0  # byte offset of _pending[0] in all audio appended
        self._vad: EnergyVad | None = None
        self._speech: TurnStarted | None = None

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def end_ms(self) -> int:
        return (self._pending_start + len(self._pending)) // BYTES_PER_MS

    def configure(self, turn_detection: dict[str, Any] | None) -> None:
        """Use these VAD settings from now on (None: manual commits only)."""
        if turn_detection is None:
            self._vad, self._speech = None, None
            return
        vad = EnergyVad(
            float(turn_detection.get("threshold", 0.5)),
            int(turn_detection.get("prefix_padding_ms", 300)),
            int(turn_detection.get("silence_duration_ms", 500)),
        )
        vad.restart(self.end_ms)
        if self._vad is not None and self._vad.speaking and self._speech is not None:
            vad.speaking = True  # a change of settings does not end a turn in progress
        self._vad = vad

    def append(self, pcm: bytes) -> list[TurnEvent]:
        self._pending += pcm
        if self._vad is None:
            return []
        events: list[TurnEvent] = []
        for detected in self._vad.feed(pcm):
            if isinstance(detected, SpeechStarted):
                self._speech = TurnStarted(self._new_item_id(), detected.audio_start_ms)
                events.append(self._speech)
            elif isinstance(detected, SpeechStopped) and self._speech is not None:
                events.append(self._cut(self._speech, detected.audio_end_ms))
                self._speech = None
        if self._speech is None:
            # Audio before the earliest possible prefix padding can never join a turn: forget it.
            keep_from = (self._vad.position_ms - self._vad.prefix_padding_ms) * BYTES_PER_MS
            self._discard(keep_from - self._pending_start)
        return events

    def commit(self) -> tuple[str, bytes]:
        """A manual commit of everything pending: the new item's id and its audio."""
        item_id = self._speech.item_id if self._speech is not None else self._new_item_id()
        audio = bytes(self._pending)
        self.clear()
        return item_id, audio

    def clear(self) -> None:
        self._discard(len(self._pending))
        self._speech = None
        if self._vad is not None:
            self._vad.restart(self.end_ms)

    def _cut(self, started: TurnStarted, end_ms: int) -> TurnStopped:
        start = max(0, started.audio_start_ms * BYTES_PER_MS - self._pending_start)
        end = min(len(self._pending), end_ms * BYTES_PER_MS - self._pending_start)
        audio = bytes(self._pending[start:end])
        self._discard(end)
        return TurnStopped(started.item_id, end_ms, audio)

    def _discard(self, count: int) -> None:
        if count > 0:
            del self._pending[:count]
            self._pending_start += count

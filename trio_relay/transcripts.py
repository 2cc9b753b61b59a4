"""The user's spoken turns as the browser hears of them. Pure: no I/O here.

The rule it keeps (protocol.md): for each input item, ``speech_started`` comes before any
message about the user's words (``transcription_delta`` live captions, the final
``transcription``), exactly once, even when the upstream's events come in another order or
``input_audio_buffer.speech_started`` never comes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from .actions import Actions, UsageReported
from .browser import BrowserMessage, SpeechStarted, Transcription, TranscriptionDelta
from .realtime import string_field
from .usage import transcription_usage

# Items whose final transcript went out, remembered so that a late caption of one is dropped
# (rather than announced as a new turn); a few suffice, the upstream finishes items in order.
FINISHED_ITEMS_KEPT = 16


class InputTranscripts:
    def __init__(self, *, deltas: bool = False) -> None:
        self.deltas = deltas  # TRANSCRIPTION_DELTAS: live captions forwarded
        self._announced: set[str] = set()  # told with speech_started, transcript not yet sent
        self._finished: deque[str] = deque(maxlen=FINISHED_ITEMS_KEPT)

    def speech_started(self, item_id: str) -> list[BrowserMessage]:
        """The upstream heard the user begin ``item_id``: ``speech_started``, unless a caption
        of that item came first and announced it already."""
        return self._announce(item_id)

    def delta(self, event: Mapping[str, Any]) -> list[BrowserMessage]:
        """``conversation.item.input_audio_transcription.delta``: a live caption, when enabled."""
        item_id = string_field(event, "item_id")
        text = event.get("delta")
        if text is not None and not isinstance(text, str):
            raise TypeError("field 'delta' must be a string")
        if not self.deltas or not text or item_id in self._finished:
            return []
        return [*self._announce(item_id), TranscriptionDelta(item_id, text)]

    def completed(self, event: Mapping[str, Any]) -> Actions:
        """``...input_audio_transcription.completed``: the whole transcript, and what the
        transcription was billed for (it is priced apart from the responses)."""
        item_id = string_field(event, "item_id")
        messages = self._announce(item_id)
        messages.append(Transcription(item_id, string_field(event, "transcript")))
        self._announced.discard(item_id)
        self._finished.append(item_id)
        actions = Actions(to_client=messages)
        usage = event.get("usage")
        if isinstance(usage, dict):
            tokens, seconds = transcription_usage(usage)
            if tokens or seconds:
                actions.observations.append(UsageReported(tokens, transcription_seconds=seconds))
        return actions

    def _announce(self, item_id: str) -> list[BrowserMessage]:
        if item_id in self._announced:
            return []
        self._announced.add(item_id)
        return [SpeechStarted()]

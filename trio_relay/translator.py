"""The session state machine: browser messages -> upstream events, upstream events -> browser
messages. Pure: no I/O, no clock, no tasks here; the session's tasks only move bytes and call it.

State it keeps, and why:
- the response state (one response at a time; a ``response.create`` asked for while one is active
  waits for its ``response.done``, so the relay never provokes
  ``conversation_already_has_active_response``);
- the current assistant audio item with the bytes produced and the bytes actually sent to the
  browser, to truncate it where the user barged in;
- which input items the browser has been told about with ``speech_started``, so a
  ``transcription`` is never sent without one before it;
- the open text streams, so every ``text_delta`` stream ends with exactly one ``text_done``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from . import realtime
from .browser import (
    AssistantAudio,
    BrowserMessage,
    Connected,
    ErrorMessage,
    SpeechStarted,
    TextDelta,
    TextDone,
    Transcription,
    UserMessage,
)
from .config import Dialect, SessionSettings
from .errors import SessionEnd, SessionExpired, UpstreamFailed
from .realtime import BYTES_PER_MS, ServerEvent


@attrs.frozen
class TurnEnded:
    """The user finished a turn (spoke and stopped); an answer is expected next."""


@attrs.frozen
class UsageReported:
    tokens: dict[str, int]


@attrs.frozen
class RateLimitsReported:
    remaining: dict[str, float]


@attrs.frozen
class UpstreamErrorReported:
    code: str


Observation = TurnEnded | UsageReported | RateLimitsReported | UpstreamErrorReported


@attrs.define
class Actions:
    """What one input makes the relay do: messages for each peer, and maybe the end of it all.

    ``observations`` are facts for logs and metrics; they change nothing on the wire.
    """

    to_client: list[BrowserMessage] = attrs.Factory(list)
    to_upstream: list[dict[str, Any]] = attrs.Factory(list)
    end: SessionEnd | None = None
    observations: list[Observation] = attrs.Factory(list)


@attrs.define
class AssistantAudioItem:
    item_id: str
    content_index: int
    produced_bytes: int = 0
    sent_bytes: int = 0
    first_sent_at: float | None = None
    odd_byte: bytes = b""

    @property
    def produced_ms(self) -> int:
        return self.produced_bytes // BYTES_PER_MS

    def heard_ms(self, now: float) -> int:
        """How much of the item the user can have heard by ``now``: what was sent (clamped to
        what was produced), and no more than real-time playback since the first byte went out
        (the upstream produces audio much faster than the browser plays it)."""
        heard = min(self.sent_bytes, self.produced_bytes)
        if self.first_sent_at is not None and now != math.inf:
            played = int(max(0.0, now - self.first_sent_at) * 1000) * BYTES_PER_MS
            heard = min(heard, played)
        return heard // BYTES_PER_MS


class Translator:
    def __init__(self, settings: SessionSettings, dialect: Dialect) -> None:
        self.settings = settings
        self.dialect = dialect
        self.connected = False
        self.response_active = False
        self.response_create_queued = False
        self.audio_item: AssistantAudioItem | None = None
        self.unknown_events: Counter[str] = Counter()
        self._pending_create_id: str | None = None
        self._creates_sent = 0
        self._announced_inputs: set[str] = set()
        self._open_texts: dict[str, None] = {}  # insertion-ordered set

    # --- browser -> upstream ------------------------------------------------------------------

    def session_update(self) -> dict[str, Any]:
        return realtime.session_update(self.settings, self.dialect)

    def user_message(self, message: UserMessage) -> list[dict[str, Any]]:
        events = [realtime.user_text_item(message.text)]
        if self.response_active:
            self.response_create_queued = True
        else:
            events.append(self._response_create())
        return events

    def audio_sent(self, audio: AssistantAudio, now: float = math.inf) -> None:
        """The session sent ``audio`` to the browser at ``now``: count it for barge-in."""
        item = self.audio_item
        if item is not None and item.item_id == audio.item_id:
            item.sent_bytes += len(audio.pcm)
            if item.first_sent_at is None and now != math.inf:
                item.first_sent_at = now

    def _response_create(self) -> dict[str, Any]:
        self._creates_sent += 1
        self._pending_create_id = f"relay_response_create_{self._creates_sent}"
        self.response_active = True
        return realtime.response_create(self._pending_create_id)

    # --- upstream -> browser ------------------------------------------------------------------

    def upstream_frame(self, frame: str | bytes, now: float = math.inf) -> Actions:
        """One WebSocket frame from the upstream: always a JSON object with a string ``type``."""
        if isinstance(frame, bytes):
            return Actions(end=UpstreamFailed("upstream sent a binary frame; expected JSON events"))
        try:
            event = json.loads(frame)
        except ValueError:
            return Actions(end=UpstreamFailed("upstream sent a frame that is not JSON"))
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return Actions(end=UpstreamFailed("upstream sent a JSON frame that is not an event"))
        return self.upstream_event(event, now)

    def upstream_event(self, event: Mapping[str, Any], now: float = math.inf) -> Actions:
        """One upstream event; ``now`` (seconds, the session's clock) dates barge-ins."""
        name = event.get("type")
        kind = realtime.SERVER_EVENTS.get(name) if isinstance(name, str) else None
        if kind is None:
            self.unknown_events[str(name)] += 1
            return Actions()
        try:
            return self._dispatch(kind, event, now)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            return Actions(end=UpstreamFailed(f"upstream sent a malformed {name} event ({exc!r})"))

    def _dispatch(self, kind: ServerEvent, event: Mapping[str, Any], now: float) -> Actions:
        if kind is ServerEvent.AUDIO_DELTA:
            return self._audio_delta(event)
        if kind is ServerEvent.TEXT_DELTA:
            return self._text_delta(event)
        if kind is ServerEvent.TEXT_DONE:
            return self._text_done(event)
        if kind is ServerEvent.CONTENT_PART_DONE:
            return self._close_text(_text_id(event))
        if kind is ServerEvent.SPEECH_STARTED:
            return self._speech_started(_str(event, "item_id"), now)
        if kind is ServerEvent.TRANSCRIPTION_COMPLETED:
            return self._transcription(event)
        if kind is ServerEvent.TRANSCRIPTION_FAILED:
            error = event.get("error") or {}
            message = error.get("message") if isinstance(error, dict) else None
            return Actions(
                to_client=[
                    ErrorMessage(
                        "transcription_failed",
                        "the upstream could not transcribe the spoken turn: "
                        f"{message or 'no reason given'}",
                    )
                ]
            )
        if kind is ServerEvent.RESPONSE_CREATED:
            self.response_active = True
            self._pending_create_id = None
            return Actions()
        if kind is ServerEvent.RESPONSE_DONE:
            return self._response_done(event)
        if kind is ServerEvent.SPEECH_STOPPED:
            return Actions(observations=[TurnEnded()])
        if kind is ServerEvent.RATE_LIMITS:
            return Actions(observations=[_rate_limits(event)])
        if kind is ServerEvent.ERROR:
            return self._error(event)
        if kind is ServerEvent.SESSION_UPDATED:
            return self._session_updated()
        return Actions()  # ServerEvent.TOLERATED

    def _session_updated(self) -> Actions:
        if self.connected:
            return Actions()
        self.connected = True
        return Actions(to_client=[Connected(self.settings.greeting)])

    def _audio_delta(self, event: Mapping[str, Any]) -> Actions:
        item_id = _str(event, "item_id")
        item = self.audio_item
        if item is None or item.item_id != item_id:
            item = self.audio_item = AssistantAudioItem(item_id, int(event.get("content_index", 0)))
        pcm = item.odd_byte + base64.b64decode(_str(event, "delta"), validate=True)
        if len(pcm) % 2:
            pcm, item.odd_byte = pcm[:-1], pcm[-1:]
        else:
            item.odd_byte = b""
        if not pcm:
            return Actions()
        item.produced_bytes += len(pcm)
        return Actions(to_client=[AssistantAudio(pcm, item_id)])

    def _text_delta(self, event: Mapping[str, Any]) -> Actions:
        text_id = _text_id(event)
        self._open_texts[text_id] = None
        return Actions(to_client=[TextDelta(text_id, _str(event, "delta"))])

    def _text_done(self, event: Mapping[str, Any]) -> Actions:
        text_id = _text_id(event)
        full = event.get("text", event.get("transcript"))
        if text_id not in self._open_texts and isinstance(full, str) and full:
            # The whole text arrived only in the done event: do not lose it.
            return Actions(to_client=[TextDelta(text_id, full), TextDone(text_id)])
        return self._close_text(text_id)

    def _close_text(self, text_id: str) -> Actions:
        if text_id in self._open_texts:
            del self._open_texts[text_id]
            return Actions(to_client=[TextDone(text_id)])
        return Actions()

    def _speech_started(self, item_id: str, now: float) -> Actions:
        actions = Actions(to_client=[SpeechStarted()])
        self._announced_inputs.add(item_id)
        item = self.audio_item
        if item is not None and item.sent_bytes > 0 and item.heard_ms(now) < item.produced_ms:
            # The user talked over the assistant: cut its item where the browser's audio ends, so
            # the model's context holds only what the user could have heard (nothing to cut when
            # all of it has played).
            actions.to_upstream.append(
                realtime.truncate_item(item.item_id, item.content_index, item.heard_ms(now))
            )
        self.audio_item = None
        return actions

    def _transcription(self, event: Mapping[str, Any]) -> Actions:
        item_id = _str(event, "item_id")
        actions = Actions()
        if item_id not in self._announced_inputs:
            actions.to_client.append(SpeechStarted())
        self._announced_inputs.discard(item_id)
        actions.to_client.append(Transcription(item_id, _str(event, "transcript")))
        return actions

    def _response_done(self, event: Mapping[str, Any]) -> Actions:
        actions = Actions(to_client=[TextDone(text_id) for text_id in self._open_texts])
        response = event.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        if isinstance(usage, dict):
            tokens = {
                kind: value
                for kind in ("input_tokens", "output_tokens")
                if isinstance(value := usage.get(kind), int) and not isinstance(value, bool)
            }
            actions.observations.append(UsageReported(tokens))
        self._open_texts.clear()
        self.response_active = False
        self._pending_create_id = None
        if self.response_create_queued:
            self.response_create_queued = False
            actions.to_upstream.append(self._response_create())
        return actions

    def _error(self, event: Mapping[str, Any]) -> Actions:
        error = event.get("error")
        if not isinstance(error, dict):
            error = {}
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
        message = message or "the upstream reported an error without a message"
        if self._pending_create_id is not None and error.get("event_id") == self._pending_create_id:
            self._pending_create_id = None
            if code == "conversation_already_has_active_response":
                # A server-VAD response got there first: ask again once it is done.
                self.response_create_queued = True
                return Actions()
            self.response_active = False
        seen: list[Observation] = [UpstreamErrorReported(code or "unknown")]
        if code == "session_expired":
            return Actions(end=SessionExpired(message), observations=seen)
        if code in realtime.FATAL_ERROR_CODES or not self.connected:
            return Actions(end=UpstreamFailed(message, upstream_code=code), observations=seen)
        return Actions(
            to_client=[ErrorMessage("upstream_error", message, upstream_code=code)],
            observations=seen,
        )


def _rate_limits(event: Mapping[str, Any]) -> RateLimitsReported:
    remaining: dict[str, float] = {}
    limits = event.get("rate_limits")
    for limit in limits if isinstance(limits, list) else ():
        if isinstance(limit, dict) and isinstance(limit.get("name"), str):
            value = limit.get("remaining")
            if isinstance(value, int | float) and not isinstance(value, bool):
                remaining[limit["name"]] = float(value)
    return RateLimitsReported(remaining)


def _str(event: Mapping[str, Any], field: str) -> str:
    value = event[field]
    if not isinstance(value, str):
        raise TypeError(f"field {field!r} must be a string")
    return value


def _text_id(event: Mapping[str, Any]) -> str:
    return f"{_str(event, 'item_id')}-{int(event.get('content_index', 0))}"

"""The browser protocol (protocol.md, section 1): frames <-> typed messages. Pure: no I/O here.

Incoming text frames become :class:`UserMessage` or raise :class:`InvalidClientMessage` saying
exactly what was wrong; outgoing messages are small frozen classes that encode themselves.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from .redact import code_for_browser, for_browser


class InvalidClientMessage(Exception):
    """A client frame broke the browser protocol; the session goes on after an ``error``."""

    def __init__(self, message: str, *, code: str = "invalid_message") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- client -> relay ---------------------------------------------------------------------------


@attrs.frozen
class UserMessage:
    text: str
    id: str | None = None


def parse_client_text(frame: str, *, max_text_bytes: int) -> UserMessage:
    """Parse one text frame from the browser. ``id`` is optional (the reference client omits it)."""
    try:
        data: Any = json.loads(frame)
    except ValueError:
        raise InvalidClientMessage("text frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidClientMessage(f"text frame must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if kind is None:
        raise InvalidClientMessage("message has no 'type' field")
    if kind != "user_message":
        raise InvalidClientMessage(
            f"unknown message type {kind!r}; the only client message is 'user_message'"
        )
    text = data.get("text")
    if not isinstance(text, str):
        raise InvalidClientMessage("user_message needs a 'text' field of type string")
    message_id = data.get("id")
    if message_id is not None and not isinstance(message_id, str):
        raise InvalidClientMessage("user_message 'id' must be a string when given")
    if not text.strip():
        raise InvalidClientMessage("user_message 'text' is empty", code="empty_message")
    size = len(text.encode("utf-8"))
    if size > max_text_bytes:
        raise InvalidClientMessage(
            f"user_message 'text' is {size} bytes; the limit is {max_text_bytes}",
            code="message_too_long",
        )
    return UserMessage(text=text, id=message_id)


def check_client_audio(frame: bytes) -> None:
    """Binary frames are PCM16: an odd length cannot be audio and is never forwarded."""
    if len(frame) % 2:
        raise InvalidClientMessage(
            f"binary frame of {len(frame)} bytes: PCM16 audio frames must have even length",
            code="audio_frame_odd_length",
        )


# --- relay -> client ---------------------------------------------------------------------------


def _dump(data: dict[str, str]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@attrs.frozen
class Connected:
    greeting: str

    def encode(self) -> str:
        return _dump({"type": "control", "action": "connected", "greeting": self.greeting})


@attrs.frozen
class SpeechStarted:
    def encode(self) -> str:
        return '{"type":"control","action":"speech_started"}'


@attrs.frozen
class Transcription:
    id: str
    text: str

    def encode(self) -> str:
        return _dump({"type": "transcription", "id": self.id, "text": self.text})


@attrs.frozen
class TextDelta:
    id: str
    delta: str

    def encode(self) -> str:
        return _dump({"type": "text_delta", "id": self.id, "delta": self.delta})


@attrs.frozen
class TextDone:
    id: str

    def encode(self) -> str:
        return _dump({"type": "control", "action": "text_done", "id": self.id})


@attrs.frozen
class ErrorMessage:
    """``{"type":"error","code","message"}``; ``upstream_code`` is an optional extension field."""

    code: str
    message: str = attrs.field(converter=for_browser)  # may quote an upstream: never verbatim
    upstream_code: str | None = attrs.field(default=None, converter=code_for_browser)

    def encode(self) -> str:
        data = {"type": "error", "code": self.code, "message": self.message}
        if self.upstream_code is not None:
            data["upstream_code"] = self.upstream_code
        return _dump(data)


@attrs.frozen
class AssistantAudio:
    """Assistant audio for the browser: raw PCM16, always of even length."""

    pcm: bytes
    item_id: str

    def encode(self) -> bytes:
        return self.pcm


BrowserMessage = (
    Connected | SpeechStarted | Transcription | TextDelta | TextDone | ErrorMessage | AssistantAudio
)

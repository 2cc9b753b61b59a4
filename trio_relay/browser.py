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


# How much of an offending value an error message quotes (it goes back to the browser).
QUOTED_CHARS = 40


def parse_client_text(frame: str, *, max_text_bytes: int) -> UserMessage:
    """Parse one text frame from the browser. ``id`` is optional (the reference client omits it).

    Any text at all becomes a :class:`UserMessage` or an :class:`InvalidClientMessage`; nothing
    else is raised. Strict JSON only: no ``NaN``/``Infinity``, no duplicate keys (which one would
    count is ambiguous), no nesting deeper than Python's parser can take, no number too long
    to convert, and no string that is not valid Unicode (a lone surrogate escape cannot be
    encoded for the upstream)."""
    data = _strict_json(frame)
    if not isinstance(data, dict):
        raise InvalidClientMessage(f"text frame must be a JSON object, got {_json_type(data)}")
    kind = data.get("type")
    if kind is None:
        raise InvalidClientMessage("message has no 'type' field")
    if kind != "user_message":
        shown = _quote(kind) if isinstance(kind, str) else f"of type {_json_type(kind)}"
        raise InvalidClientMessage(
            f"unknown message type {shown}; the only client message is 'user_message'"
        )
    text = data.get("text")
    if not isinstance(text, str):
        raise InvalidClientMessage("user_message needs a 'text' field of type string")
    message_id = data.get("id")
    if message_id is not None and not isinstance(message_id, str):
        raise InvalidClientMessage("user_message 'id' must be a string when given")
    for field, value in (("text", text), ("id", message_id)):
        if value is not None and not _encodable(value):
            raise InvalidClientMessage(
                f"user_message '{field}' is not valid Unicode (a lone surrogate escape)"
            )
    if not text.strip():
        raise InvalidClientMessage("user_message 'text' is empty", code="empty_message")
    size = len(text.encode("utf-8"))
    if size > max_text_bytes:
        raise InvalidClientMessage(
            f"user_message 'text' is {size} bytes; the limit is {max_text_bytes}",
            code="message_too_long",
        )
    return UserMessage(text=text, id=message_id)


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return data


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_json(frame: str) -> Any:
    try:
        return json.loads(frame, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _Duplicate as duplicate:
        raise InvalidClientMessage(
            f"text frame has the key {_quote(duplicate.args[0])} more than once; "
            "each key may appear once"
        ) from None
    except RecursionError:
        raise InvalidClientMessage("text frame is nested too deeply") from None
    except ValueError:  # not JSON, NaN/Infinity, or a number with too many digits
        raise InvalidClientMessage("text frame is not valid JSON") from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _quote(text: str) -> str:
    """``text`` quoted for an error message: cut short, escapes shown (never a lone surrogate)."""
    if len(text) > QUOTED_CHARS:
        return repr(text[:QUOTED_CHARS])[:-1] + "...'"
    return repr(text)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


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
class TranscriptionDelta:
    """``{"type":"transcription_delta","id","delta"}`` (an extension, ``TRANSCRIPTION_DELTAS=1``):
    live captions, the user's words as the upstream recognises them. ``id`` is the input item's,
    as the final ``transcription`` (which carries the whole text) uses it."""

    id: str
    delta: str

    def encode(self) -> str:
        return _dump({"type": "transcription_delta", "id": self.id, "delta": self.delta})


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


@attrs.frozen
class ToolCallUpdate:
    """``{"type":"tool_call","id","name","status"}`` (an extension): a server-side tool call
    ``started``, ``done`` or ``failed`` (``reason`` then says why). ``arguments`` and ``output``
    are set only when the operator enables ``TOOL_EVENTS_DETAIL``."""

    id: str
    name: str
    status: str
    reason: str | None = None
    arguments: dict[str, Any] | None = None
    output: str | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {
            "type": "tool_call",
            "id": self.id,
            "name": self.name,
            "status": self.status,
        }
        for field in ("reason", "arguments", "output"):
            if (value := getattr(self, field)) is not None:
                data[field] = value
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


BrowserMessage = (
    Connected
    | SpeechStarted
    | Transcription
    | TranscriptionDelta
    | TextDelta
    | TextDone
    | ErrorMessage
    | AssistantAudio
    | ToolCallUpdate
)

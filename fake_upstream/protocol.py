"""The wire vocabulary the engine speaks: the event names that differ between the GA and beta
dialects, and the directives that tell the server to do something other than send an event.
Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

DialectName = Literal["ga", "beta"]
Event = dict[str, Any]


@attrs.frozen
class Close:
    """Close the WebSocket with this code, after the events before it."""

    code: int
    reason: str = ""


@attrs.frozen
class Drop:
    """Drop the TCP connection without a close frame."""


@attrs.frozen
class Garbage:
    """Send a text frame that is not JSON."""

    text: str = "<html>502 Bad Gateway</html>"


@attrs.frozen
class Stall:
    """Stop reading and answering until the peer goes away."""


Directive = Close | Drop | Garbage | Stall
Output = Event | Directive


@attrs.frozen
class Names:
    """Event and content names of one dialect."""

    item_added: str  # a conversation item appeared
    item_done: str | None  # ... and is complete (GA only)
    text_delta: str
    text_done: str
    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    text_content: str  # content type of an assistant text part in an item
    audio_content: str  # content type of an assistant audio part in an item
    modalities: str  # the session's / response's output modalities field


NAMES: dict[DialectName, Names] = {
    "ga": Names(
        item_added="conversation.item.added",
        item_done="conversation.item.done",
        text_delta="response.output_text.delta",
        text_done="response.output_text.done",
        audio_delta="response.output_audio.delta",
        audio_done="response.output_audio.done",
        transcript_delta="response.output_audio_transcript.delta",
        transcript_done="response.output_audio_transcript.done",
        text_content="output_text",
        audio_content="output_audio",
        modalities="output_modalities",
    ),
    "beta": Names(
        item_added="conversation.item.created",
        item_done=None,
        text_delta="response.text.delta",
        text_done="response.text.done",
        audio_delta="response.audio.delta",
        audio_done="response.audio.done",
        transcript_delta="response.audio_transcript.delta",
        transcript_done="response.audio_transcript.done",
        text_content="text",
        audio_content="audio",
        modalities="modalities",
    ),
}


def error_event(
    message: str,
    code: str | None,
    *,
    param: str | None = None,
    event_id: str | None = None,
    kind: str = "invalid_request_error",
) -> Event:
    """An ``error`` server event (its own ``event_id`` is stamped when it is sent)."""
    error = {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id}
    return {"type": "error", "error": error}

"""The Realtime protocol (protocol.md, section 2): client events the relay sends, and the table of
server event names (GA and beta) it understands. Pure: no I/O here.

Client events are plain dicts shaped exactly like the ``openai`` package's typed models
(``openai.types.realtime`` for GA, ``openai.types.beta.realtime`` for beta); a test validates
them against those models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import Enum, auto
from typing import Any

from .config import Dialect, RetentionRatio, SessionSettings

PCM_RATE = 24000
BYTES_PER_MS = PCM_RATE * 2 // 1000  # PCM16 mono at 24 kHz: 48 bytes per millisecond


def session_update(
    settings: SessionSettings,
    dialect: Dialect,
    *,
    tools: list[dict[str, Any]] | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """The ``session.update`` sent before anything else; all values from server configuration
    (``tools``: the server-side tools' declarations, :mod:`trio_relay.tools`; ``session_id``:
    the relay's, the group of the upstream's traces with ``TRACING``). A setting the beta
    dialect has no field for is left out of a beta update."""
    fields: dict[str, Any] = {"tools": tools, "tool_choice": "auto"} if tools else {}
    if settings.tracing:
        fields["tracing"] = {"group_id": session_id} if session_id else "auto"
    session = _ga_session(settings) if dialect is Dialect.GA else _beta_session(settings)
    return {"type": "session.update", "session": {**fields, **session}}


def _ga_session(settings: SessionSettings) -> dict[str, Any]:
    audio_format = {"type": "audio/pcm", "rate": PCM_RATE}
    audio_input: dict[str, Any] = {
        "format": audio_format,
        "transcription": _transcription(settings, Dialect.GA),
        "turn_detection": _turn_detection(settings, Dialect.GA),
    }
    if settings.noise_reduction is not None:
        audio_input["noise_reduction"] = {"type": settings.noise_reduction}
    audio_output: dict[str, Any] = {"format": audio_format, "voice": settings.voice}
    if settings.voice_speed is not None:
        audio_output["speed"] = settings.voice_speed
    session: dict[str, Any] = {
        "type": "realtime",
        "output_modalities": [settings.output_modality],
        "instructions": settings.instructions,
        "audio": {"input": audio_input, "output": audio_output},
    }
    if settings.reasoning_effort is not None:
        session["reasoning"] = {"effort": settings.reasoning_effort}
    truncation = settings.truncation
    if isinstance(truncation, RetentionRatio):
        session["truncation"] = {"type": "retention_ratio", "retention_ratio": truncation.ratio}
    elif truncation is not None:
        session["truncation"] = truncation
    return session


def _beta_session(settings: SessionSettings) -> dict[str, Any]:
    """Beta has no reasoning, truncation or idle timeout: those are not sent."""
    session: dict[str, Any] = {
        "modalities": ["text", "audio"] if settings.output_modality == "audio" else ["text"],
        "instructions": settings.instructions,
        "voice": settings.voice,
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": _transcription(settings, Dialect.BETA),
        "turn_detection": _turn_detection(settings, Dialect.BETA),
    }
    if settings.noise_reduction is not None:
        session["input_audio_noise_reduction"] = {"type": settings.noise_reduction}
    if settings.voice_speed is not None:
        session["speed"] = settings.voice_speed
    return session


# The transcription models that take a list of possible languages instead of one language
# (OpenAI's migration from Whisper: ``languages`` replaces the legacy ``language`` hint).
_LANGUAGES_MODELS = re.compile(r"gpt-(live-)?transcribe(-.+)?")


def _transcription(settings: SessionSettings, dialect: Dialect) -> dict[str, Any] | None:
    model = settings.transcription_model
    if not model:
        return None
    transcription: dict[str, Any] = {"model": model}
    language = settings.transcription_language
    if language is not None and dialect is Dialect.GA and _LANGUAGES_MODELS.fullmatch(model):
        transcription["languages"] = [language]
    elif language is not None:
        transcription["language"] = language
    if settings.transcription_prompt is not None:
        transcription["prompt"] = settings.transcription_prompt
    return transcription


def _turn_detection(settings: SessionSettings, dialect: Dialect) -> dict[str, Any] | None:
    """The upstream answers a spoken turn on its own (``create_response``) and stops answering
    when the user talks over it (``interrupt_response``); ``None`` turns detection off."""
    if settings.turn_detection == "none":
        return None
    automatic = {"create_response": True, "interrupt_response": True}
    if settings.turn_detection == "semantic_vad":
        return {"type": "semantic_vad", "eagerness": settings.vad_eagerness, **automatic}
    detection: dict[str, Any] = {
        "type": "server_vad",
        "threshold": settings.vad_threshold,
        "prefix_padding_ms": settings.vad_prefix_padding_ms,
        "silence_duration_ms": settings.vad_silence_duration_ms,
        **automatic,
    }
    if settings.upstream_idle_timeout_ms is not None and dialect is Dialect.GA:
        detection["idle_timeout_ms"] = settings.upstream_idle_timeout_ms
    return detection


def user_text_item(text: str) -> dict[str, Any]:
    """``conversation.item.create`` for a typed user turn (same shape in both dialects)."""
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def response_create(event_id: str) -> dict[str, Any]:
    return {"type": "response.create", "event_id": event_id}


def response_cancel(event_id: str, response_id: str) -> dict[str, Any]:
    return {"type": "response.cancel", "event_id": event_id, "response_id": response_id}


def truncate_item(item_id: str, content_index: int, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    }


def string_field(event: Mapping[str, Any], field: str) -> str:
    """A string field an event must have (a ``KeyError`` or ``TypeError`` otherwise, which the
    translator reports as a malformed event)."""
    value = event[field]
    if not isinstance(value, str):
        raise TypeError(f"field {field!r} must be a string")
    return value


def encode_event(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def encode_audio_append(audio_b64: str) -> str:
    """``input_audio_buffer.append``, built as a string: base64 never needs JSON escaping."""
    return '{"type":"input_audio_buffer.append","audio":"' + audio_b64 + '"}'


class ServerEvent(Enum):
    """What a server event means to the relay, whichever dialect named it."""

    SESSION_UPDATED = auto()
    ERROR = auto()
    SPEECH_STARTED = auto()
    TRANSCRIPTION_COMPLETED = auto()
    TRANSCRIPTION_FAILED = auto()
    TRANSCRIPTION_DELTA = auto()
    TEXT_DELTA = auto()
    TEXT_DONE = auto()
    AUDIO_DELTA = auto()
    CONTENT_PART_DONE = auto()
    RESPONSE_CREATED = auto()
    RESPONSE_DONE = auto()
    SPEECH_STOPPED = auto()
    RATE_LIMITS = auto()
    OUTPUT_ITEM_DONE = auto()  # a function call, an MCP call or approval request, a message...
    MCP = auto()  # an MCP event, metered
    TOLERATED = auto()  # known, nothing for the browser


SERVER_EVENTS: dict[str, ServerEvent] = {
    "session.updated": ServerEvent.SESSION_UPDATED,
    "error": ServerEvent.ERROR,
    "input_audio_buffer.speech_started": ServerEvent.SPEECH_STARTED,
    "conversation.item.input_audio_transcription.completed": ServerEvent.TRANSCRIPTION_COMPLETED,
    "conversation.item.input_audio_transcription.failed": ServerEvent.TRANSCRIPTION_FAILED,
    "conversation.item.input_audio_transcription.delta": ServerEvent.TRANSCRIPTION_DELTA,
    # GA names, then the beta names in the same order.
    "response.output_text.delta": ServerEvent.TEXT_DELTA,
    "response.output_audio_transcript.delta": ServerEvent.TEXT_DELTA,
    "response.text.delta": ServerEvent.TEXT_DELTA,
    "response.audio_transcript.delta": ServerEvent.TEXT_DELTA,
    "response.output_text.done": ServerEvent.TEXT_DONE,
    "response.output_audio_transcript.done": ServerEvent.TEXT_DONE,
    "response.text.done": ServerEvent.TEXT_DONE,
    "response.audio_transcript.done": ServerEvent.TEXT_DONE,
    "response.output_audio.delta": ServerEvent.AUDIO_DELTA,
    "response.audio.delta": ServerEvent.AUDIO_DELTA,
    "response.content_part.done": ServerEvent.CONTENT_PART_DONE,
    "response.created": ServerEvent.RESPONSE_CREATED,
    "response.done": ServerEvent.RESPONSE_DONE,
    "input_audio_buffer.speech_stopped": ServerEvent.SPEECH_STOPPED,
    "rate_limits.updated": ServerEvent.RATE_LIMITS,
    "response.output_item.done": ServerEvent.OUTPUT_ITEM_DONE,
}
for _name in (
    "mcp_list_tools.in_progress",
    "mcp_list_tools.completed",
    "mcp_list_tools.failed",
    "response.mcp_call_arguments.delta",
    "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress",
    "response.mcp_call.completed",
    "response.mcp_call.failed",
):
    SERVER_EVENTS[_name] = ServerEvent.MCP

for _name in (
    "session.created",
    "conversation.created",
    "conversation.item.added",
    "conversation.item.created",
    "conversation.item.done",
    "conversation.item.retrieved",
    "conversation.item.truncated",
    "conversation.item.deleted",
    "conversation.item.input_audio_transcription.segment",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_audio.done",
    "response.audio.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "input_audio_buffer.committed",
    "input_audio_buffer.cleared",
    "input_audio_buffer.timeout_triggered",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "output_audio_buffer.cleared",
):
    SERVER_EVENTS[_name] = ServerEvent.TOLERATED

# Upstream error codes after which the upstream session cannot usefully go on.
FATAL_ERROR_CODES = frozenset(
    {
        "invalid_api_key",
        "insufficient_quota",
        "session_expired",
        "model_not_found",
        "deployment_not_found",
        "account_deactivated",
        "billing_hard_limit_reached",
    }
)

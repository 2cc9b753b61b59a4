"""The Realtime session object of each dialect: defaults like the real service's, how a
``session.update`` merges into it, the checks pydantic's models cannot express, and a typed view
of what the engine needs from it. Pure: no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs

from .protocol import DialectName
from .validation import turn_detection_off

DEFAULT_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}
# The beta session names its model from a closed list (an Azure deployment reports the model it
# runs, not its own name); other names are reported as the preview model Azure deploys.
BETA_MODELS = (
    "gpt-realtime",
    "gpt-realtime-2025-08-28",
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
)
BETA_DEFAULT_MODEL = "gpt-4o-realtime-preview-2024-12-17"
# Replaced whole by an update (and given their defaults), never merged key by key.
_REPLACED = {
    "turn_detection",
    "transcription",
    "input_audio_transcription",
    "format",
    "noise_reduction",
    "input_audio_noise_reduction",
    "tools",
    "tracing",
    "prompt",
}
# An MCP tool's credentials: the real service never reports them back, so the fake does not
# even keep them (nothing it sends can leak them).
MCP_SECRETS = ("headers", "authorization")


class SessionError(Exception):
    """A session the real service (or this PCM16-only fake) would refuse."""

    code = "invalid_value"

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@attrs.frozen
class SessionView:
    """What the engine needs to know of the session, in either dialect."""

    audio_out: bool
    voice: str
    turn_detection: dict[str, Any] | None
    transcription: dict[str, Any] | None

    @property
    def vad(self) -> bool:
        return self.turn_detection is not None

    def detection(self, key: str) -> Any:
        return (self.turn_detection or DEFAULT_TURN_DETECTION).get(
            key, DEFAULT_TURN_DETECTION.get(key)
        )


def default_session(dialect: DialectName, model: str, session_id: str) -> dict[str, Any]:
    if dialect == "ga":
        pcm = {"type": "audio/pcm", "rate": 24000}
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "expires_at": 0,
            "include": None,
            "audio": {
                "input": {
                    "format": dict(pcm),
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": dict(DEFAULT_TURN_DETECTION),
                },
                "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
            },
        }
    return {
        "id": session_id,
        "object": "realtime.session",
        "model": model if model in BETA_MODELS else BETA_DEFAULT_MODEL,
        "modalities": ["text", "audio"],
        "instructions": "",
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "turn_detection": dict(DEFAULT_TURN_DETECTION),
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    }


def _with_defaults(key: str, value: Any) -> Any:
    if key == "turn_detection" and isinstance(value, dict):
        defaults = SEMANTIC_VAD_DEFAULTS if value.get("type") == "semantic_vad" else None
        return {**(defaults or DEFAULT_TURN_DETECTION), **value}
    return copy.deepcopy(value)


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key not in _REPLACED and isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = _with_defaults(key, value)


def updated_session(
    dialect: DialectName, session: dict[str, Any], update: dict[str, Any]
) -> dict[str, Any]:
    """``session`` with ``update`` applied; raises :class:`SessionError` for a session the real
    service (or this fake, which speaks PCM16 only) would refuse. ``session`` is not changed."""
    merged = copy.deepcopy(session)
    if turn_detection_off(dialect, update.get("turn_detection")):
        update = {**update, "turn_detection": None}  # Azure's "off", reported as null
    _merge(merged, update)
    merged["id"], merged["object"] = session["id"], session["object"]
    _check(dialect, merged)
    for tool in merged.get("tools") or []:
        if tool.get("type") == "mcp":
            for secret in MCP_SECRETS:
                tool.pop(secret, None)
    return merged


def _check(dialect: DialectName, session: dict[str, Any]) -> None:
    if dialect == "ga":
        if session.get("type") != "realtime":
            raise SessionError("Only 'realtime' sessions are supported.", "session.type")
        modalities = session.get("output_modalities")
        if modalities not in (["audio"], ["text"]):
            raise SessionError(
                f"Invalid 'session.output_modalities': {modalities!r}. Supported values are "
                "['audio'] and ['text'].",
                "session.output_modalities",
            )
        for side in ("input", "output"):
            audio_format = session["audio"][side].get("format") or {}
            if audio_format.get("type", "audio/pcm") != "audio/pcm":
                raise SessionError(
                    "This fake upstream speaks audio/pcm (PCM16, 24 kHz) only.",
                    f"session.audio.{side}.format.type",
                )
        detection, param = session["audio"]["input"].get("turn_detection"), "audio.input."
    else:
        modalities = session.get("modalities")
        if not isinstance(modalities, list) or sorted(modalities) not in (
            ["text"],
            ["audio", "text"],
        ):
            raise SessionError(
                f"Invalid modalities: {modalities!r}. Supported combinations are: ['text'] and "
                "['audio', 'text'].",
                "session.modalities",
            )
        for key in ("input_audio_format", "output_audio_format"):
            if session.get(key) != "pcm16":
                raise SessionError("This fake upstream speaks pcm16 only.", f"session.{key}")
        detection, param = session.get("turn_detection"), ""
    _check_tools(dialect, session.get("tools"))
    if isinstance(detection, dict):
        threshold = detection.get("threshold", 0.5)
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise SessionError(
                f"Invalid 'threshold': {threshold!r}. Expected a number between 0 and 1.",
                f"session.{param}turn_detection.threshold",
            )
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            value = detection.get(key, 0)
            if not isinstance(value, int) or value < 0:
                raise SessionError(
                    f"Invalid '{key}': {value!r}. Expected a non-negative integer.",
                    f"session.{param}turn_detection.{key}",
                )


def _check_tools(dialect: DialectName, tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise SessionError("Invalid 'session.tools': expected a list of tools.", "session.tools")
    labels: set[str] = set()
    for index, tool in enumerate(tools):
        kind, param = tool.get("type", "function"), f"session.tools[{index}]"
        if dialect == "beta" and kind != "function":
            raise SessionError(
                f"Invalid value: '{kind}'. Supported values are: 'function'.", f"{param}.type"
            )
        if kind != "mcp":
            continue
        if not any(tool.get(key) for key in ("server_url", "connector_id", "tunnel_id")):
            raise SessionError(
                "An MCP tool needs one of 'server_url', 'connector_id' or 'tunnel_id'.",
                f"{param}.server_url",
            )
        label = tool.get("server_label")
        if not isinstance(label, str) or label in labels:
            raise SessionError(
                f"Invalid 'server_label': {label!r}. Each MCP tool needs a label of its own.",
                f"{param}.server_label",
            )
        labels.add(label)


def view(dialect: DialectName, session: dict[str, Any]) -> SessionView:
    if dialect == "ga":
        audio_input = session["audio"]["input"]
        detection = audio_input.get("turn_detection")
        transcription = audio_input.get("transcription")
        return SessionView(
            audio_out="audio" in session.get("output_modalities", []),
            voice=str(session["audio"]["output"].get("voice") or "alloy"),
            turn_detection=detection if isinstance(detection, dict) else None,
            transcription=transcription if isinstance(transcription, dict) else None,
        )
    detection = session.get("turn_detection")
    transcription = session.get("input_audio_transcription")
    return SessionView(
        audio_out="audio" in session.get("modalities", []),
        voice=str(session.get("voice") or "alloy"),
        turn_detection=detection if isinstance(detection, dict) else None,
        transcription=transcription if isinstance(transcription, dict) else None,
    )

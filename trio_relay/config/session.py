"""What the relay asks of the upstream session (``session.update``), from server configuration
only: a browser never sets any of it. Pure: no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

from .env import choice, number, text, whole_number


@attrs.frozen
class SessionSettings:
    """Server-side settings sent upstream in ``session.update``; never taken from browsers."""

    instructions: str = (
        "You are a helpful, concise voice assistant. Answer in one or two short sentences."
    )
    voice: str = "alloy"
    output_modality: Literal["audio", "text"] = "audio"
    transcription_model: str | None = "whisper-1"
    vad_threshold: float = 0.5
    vad_prefix_padding_ms: int = 300
    vad_silence_duration_ms: int = 500
    greeting: str = "Hi! Type a message or turn on the microphone and start talking."


def session_from_env(env: Mapping[str, str]) -> SessionSettings:
    d = SessionSettings()
    transcription = env.get("TRANSCRIPTION_MODEL")
    return SessionSettings(
        instructions=text(env, "INSTRUCTIONS", d.instructions),
        voice=text(env, "VOICE", d.voice),
        output_modality=choice(env, "OUTPUT_MODALITY", _modality, d.output_modality),
        transcription_model=(
            d.transcription_model if transcription is None else (transcription.strip() or None)
        ),
        vad_threshold=number(env, "VAD_THRESHOLD", d.vad_threshold, low=0.0, high=1.0),
        vad_prefix_padding_ms=whole_number(env, "VAD_PREFIX_PADDING_MS", d.vad_prefix_padding_ms),
        vad_silence_duration_ms=whole_number(
            env, "VAD_SILENCE_DURATION_MS", d.vad_silence_duration_ms, minimum=1
        ),
        greeting=text(env, "GREETING", d.greeting),
    )


def _modality(raw: str) -> Literal["audio", "text"]:
    if raw == "audio":
        return "audio"
    if raw == "text":
        return "text"
    raise ValueError(raw)

"""What the relay asks of the upstream session (``session.update``), from server configuration
only: a browser never sets any of it. Pure: no I/O here.

A setting that cannot take effect with the others (a server-VAD knob under semantic VAD, a
transcription language with transcription off) stops start-up with a :class:`ConfigError`
saying so, rather than being ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import attrs

from ..errors import ConfigError
from .env import choice, flag, number, one_of, text, whole_number

TurnDetection = Literal["server_vad", "semantic_vad", "none"]
Eagerness = Literal["low", "medium", "high", "auto"]
NoiseReduction = Literal["near_field", "far_field"]
ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]
# The output speed range of the typed models (GA audio.output.speed, beta speed).
VOICE_SPEED_RANGE = (0.25, 1.5)
# Input transcription: OpenAI's model for committed Realtime turns. whisper-1 and the
# gpt-4o-*-transcribe models shut down on 2027-02-26 (OpenAI's deprecations); Azure deployments
# keep whisper-1, the transcription model Azure's realtime sessions take in every dialect.
DEFAULT_TRANSCRIPTION_MODEL = "gpt-transcribe"
AZURE_TRANSCRIPTION_MODEL = "whisper-1"

_SERVER_VAD_ONLY = (
    "VAD_THRESHOLD",
    "VAD_PREFIX_PADDING_MS",
    "VAD_SILENCE_DURATION_MS",
    "UPSTREAM_IDLE_TIMEOUT_MS",
)
_NEEDS_TRANSCRIPTION = ("TRANSCRIPTION_LANGUAGE", "TRANSCRIPTION_PROMPT")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_RETENTION_RATIO = "retention_ratio:"


@attrs.frozen
class RetentionRatio:
    """``TRUNCATION=retention_ratio:R``: when the conversation outgrows the context, keep this
    fraction of it, so truncations are rare and the cached prefix (billed far cheaper) stays
    valid between them."""

    ratio: float


Truncation = Literal["auto", "disabled"] | RetentionRatio


@attrs.frozen
class SessionSettings:
    """Server-side settings sent upstream in ``session.update``; never taken from browsers.
    ``None`` means "not sent": the upstream's own default applies."""

    instructions: str = (
        "You are a helpful, concise voice assistant. Answer in one or two short sentences."
    )
    voice: str = "alloy"
    output_modality: Literal["audio", "text"] = "audio"
    transcription_model: str | None = DEFAULT_TRANSCRIPTION_MODEL
    transcription_language: str | None = None
    transcription_prompt: str | None = None
    # Live captions: the relay forwards the upstream's input transcription deltas.
    transcription_deltas: bool = False
    # none: no turn detection upstream; the relay then takes typed turns only (see translator).
    turn_detection: TurnDetection = "server_vad"
    vad_threshold: float = 0.5
    vad_prefix_padding_ms: int = 300
    vad_silence_duration_ms: int = 500
    vad_eagerness: Eagerness = "auto"  # semantic_vad only
    # server_vad only (GA): the upstream answers on its own after this much silence from the
    # user, counted from the end of the assistant's audio. Not the relay's IDLE_TIMEOUT_S.
    upstream_idle_timeout_ms: int | None = None
    noise_reduction: NoiseReduction | None = None
    voice_speed: float | None = None
    reasoning_effort: ReasoningEffort | None = None  # GA only
    truncation: Truncation | None = None  # GA only
    # Upstream traces grouped by the relay's session id, so they join the relay's log lines.
    tracing: bool = False
    greeting: str = "Hi! Type a message or turn on the microphone and start talking."

    def ga_only_settings(self) -> list[str]:
        """The variables set here that the beta dialect has no field for (they are not sent
        to a beta upstream)."""
        unsent = {
            "REASONING_EFFORT": self.reasoning_effort,
            "TRUNCATION": self.truncation,
            "UPSTREAM_IDLE_TIMEOUT_MS": self.upstream_idle_timeout_ms,
        }
        return [name for name, value in unsent.items() if value is not None]


def session_from_env(env: Mapping[str, str], *, azure: bool = False) -> SessionSettings:
    """``azure``: the upstream is Azure OpenAI (its transcription model by default)."""
    d = SessionSettings()
    transcription = env.get("TRANSCRIPTION_MODEL")
    default_transcription = AZURE_TRANSCRIPTION_MODEL if azure else d.transcription_model
    transcription_model = (
        default_transcription if transcription is None else (transcription.strip() or None)
    )
    turn_detection = one_of(env, "TURN_DETECTION", TurnDetection, d.turn_detection)
    _check_turn_detection(env, turn_detection)
    if transcription_model is None:
        _check_no_transcription(env)
    speed_low, speed_high = VOICE_SPEED_RANGE
    return SessionSettings(
        instructions=text(env, "INSTRUCTIONS", d.instructions),
        voice=text(env, "VOICE", d.voice),
        output_modality=choice(env, "OUTPUT_MODALITY", _modality, d.output_modality),
        transcription_model=transcription_model,
        transcription_language=_language(env),
        transcription_prompt=env.get("TRANSCRIPTION_PROMPT", "").strip() or None,
        transcription_deltas=flag(env, "TRANSCRIPTION_DELTAS", d.transcription_deltas),
        turn_detection=turn_detection,
        vad_threshold=number(env, "VAD_THRESHOLD", d.vad_threshold, low=0.0, high=1.0),
        vad_prefix_padding_ms=whole_number(env, "VAD_PREFIX_PADDING_MS", d.vad_prefix_padding_ms),
        vad_silence_duration_ms=whole_number(
            env, "VAD_SILENCE_DURATION_MS", d.vad_silence_duration_ms, minimum=1
        ),
        vad_eagerness=one_of(env, "VAD_EAGERNESS", Eagerness, d.vad_eagerness),
        upstream_idle_timeout_ms=(
            whole_number(env, "UPSTREAM_IDLE_TIMEOUT_MS", 0, minimum=1)
            if env.get("UPSTREAM_IDLE_TIMEOUT_MS", "").strip()
            else None
        ),
        noise_reduction=one_of(env, "NOISE_REDUCTION", NoiseReduction, None),
        voice_speed=(
            number(env, "VOICE_SPEED", 1.0, low=speed_low, high=speed_high)
            if env.get("VOICE_SPEED", "").strip()
            else None
        ),
        reasoning_effort=one_of(env, "REASONING_EFFORT", ReasoningEffort, None),
        truncation=_truncation(env),
        tracing=_tracing(env),
        greeting=text(env, "GREETING", d.greeting),
    )


def _check_turn_detection(env: Mapping[str, str], turn_detection: TurnDetection) -> None:
    if turn_detection != "server_vad":
        for name in _SERVER_VAD_ONLY:
            if env.get(name, "").strip():
                raise ConfigError(
                    name,
                    f"applies to TURN_DETECTION=server_vad only, and it is {turn_detection}: "
                    f"unset {name}",
                )
    if turn_detection != "semantic_vad" and env.get("VAD_EAGERNESS", "").strip():
        raise ConfigError(
            "VAD_EAGERNESS",
            f"applies to TURN_DETECTION=semantic_vad only, and it is {turn_detection}: "
            "unset VAD_EAGERNESS or set TURN_DETECTION=semantic_vad",
        )


def _check_no_transcription(env: Mapping[str, str]) -> None:
    needing = [name for name in _NEEDS_TRANSCRIPTION if env.get(name, "").strip()]
    if flag(env, "TRANSCRIPTION_DELTAS"):
        needing.append("TRANSCRIPTION_DELTAS")
    if needing:
        raise ConfigError(
            needing[0],
            "needs input transcription, which an empty TRANSCRIPTION_MODEL turns off: "
            f"name a transcription model, or unset {needing[0]}",
        )


def _language(env: Mapping[str, str]) -> str | None:
    raw = env.get("TRANSCRIPTION_LANGUAGE", "").strip().lower()
    if raw and not _LANGUAGE.fullmatch(raw):
        raise ConfigError(
            "TRANSCRIPTION_LANGUAGE",
            f"must be an ISO-639-1 language code such as en or de, got {raw!r}",
        )
    return raw or None


def _truncation(env: Mapping[str, str]) -> Truncation | None:
    raw = env.get("TRUNCATION", "").strip().lower()
    if not raw:
        return None
    if raw == "auto":
        return "auto"
    if raw == "disabled":
        return "disabled"
    if raw.startswith(_RETENTION_RATIO):
        ratio = number(
            {"TRUNCATION": raw.removeprefix(_RETENTION_RATIO)}, "TRUNCATION", -1, low=0, high=1
        )
        if ratio >= 0:
            return RetentionRatio(ratio)
    raise ConfigError(
        "TRUNCATION", f"must be auto, disabled or retention_ratio:R (0..1, e.g. 0.8), got {raw!r}"
    )


def _tracing(env: Mapping[str, str]) -> bool:
    raw = env.get("TRACING", "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on", "auto"):
        return True
    raise ConfigError("TRACING", f"must be 1/auto (traces on) or 0 (off), got {raw!r}")


def _modality(raw: str) -> Literal["audio", "text"]:
    if raw == "audio":
        return "audio"
    if raw == "text":
        return "text"
    raise ValueError(raw)

"""What the upstream says a session used, in kinds that are each billed at one price: the
``usage`` of ``response.done`` and of an input transcription's ``completed`` event, read as the
``openai`` package's typed models shape them (GA ``RealtimeResponseUsage``, beta
``RealtimeResponseUsage``; the transcription's ``tokens`` or ``duration`` usage). Pure: no I/O.

The kinds do not overlap, so they add up to what was billed: cached input tokens are a part of
the input tokens of their modality, and are counted apart from the rest of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import inf
from typing import Any

# One label value each in trio_relay_upstream_tokens{kind}: a fixed, small set.
RESPONSE_KINDS = (
    "input_text",
    "input_cached_text",
    "input_audio",
    "input_cached_audio",
    "input_image",
    "input_cached_image",
    "output_text",
    "output_audio",
)
TRANSCRIPTION_KINDS = ("transcription_input", "transcription_output")
TOKEN_KINDS = RESPONSE_KINDS + TRANSCRIPTION_KINDS
_MODALITIES = ("text", "audio", "image")


def response_tokens(usage: Mapping[str, Any]) -> dict[str, int]:
    """The tokens of one response by kind (kinds with none left out). Without a breakdown by
    modality, the totals count as text; cached tokens without one (the beta dialect's model has
    none) are split between the modalities in proportion to their input tokens."""
    found: dict[str, int] = {}
    details = _mapping(usage.get("input_token_details"))
    inputs = {m: _count(details, f"{m}_tokens") for m in _MODALITIES}
    if not any(inputs.values()):
        inputs["text"] = _count(usage, "input_tokens")
    cached = _cached(details, inputs)
    for modality in _MODALITIES:
        found[f"input_cached_{modality}"] = cached[modality]
        found[f"input_{modality}"] = max(0, inputs[modality] - cached[modality])
    outputs = _mapping(usage.get("output_token_details"))
    text_out, audio_out = _count(outputs, "text_tokens"), _count(outputs, "audio_tokens")
    if not text_out and not audio_out:
        text_out = _count(usage, "output_tokens")
    found["output_text"], found["output_audio"] = text_out, audio_out
    return {kind: found[kind] for kind in RESPONSE_KINDS if found[kind]}


def _cached(details: Mapping[str, Any], inputs: Mapping[str, int]) -> dict[str, int]:
    split = _mapping(details.get("cached_tokens_details"))
    if split:
        return {m: min(inputs[m], _count(split, f"{m}_tokens")) for m in _MODALITIES}
    total, cached = sum(inputs.values()), _count(details, "cached_tokens")
    if not total or not cached:
        return dict.fromkeys(_MODALITIES, 0)
    cached = min(cached, total)
    shares = {m: cached * inputs[m] // total for m in _MODALITIES}
    largest = max(_MODALITIES, key=lambda m: inputs[m])
    shares[largest] += cached - sum(shares.values())  # what rounding left over
    return shares


def transcription_usage(usage: Mapping[str, Any]) -> tuple[dict[str, int], float]:
    """The tokens (``transcription_input``, ``transcription_output``) or the seconds of audio
    (``duration`` usage, e.g. whisper-1) one input transcription was billed for."""
    if usage.get("type") == "duration":
        seconds = usage.get("seconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 < seconds < inf:
            return {}, float(seconds)
        return {}, 0.0
    tokens = {
        "transcription_input": _count(usage, "input_tokens"),
        "transcription_output": _count(usage, "output_tokens"),
    }
    return {kind: count for kind, count in tokens.items() if count}, 0.0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(data: Mapping[str, Any], field: str) -> int:
    value = data.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0

"""The README's settings tables and the configuration's defaults are one truth."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from trio_relay.config import (
    DEFAULT_OPENAI_MODEL,
    ENTRA_SCOPE,
    Limits,
    SessionSettings,
    ToolSettings,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_defaults() -> dict[str, str]:
    """``VARIABLE -> default`` from every table row whose cells hold them in backticks."""
    found: dict[str, str] = {}
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for name_cell, default_cell in zip(cells, cells[1:], strict=False):
            name = re.fullmatch(r"`([A-Z][A-Z0-9_]+)`", name_cell)
            default = re.fullmatch(r"`([^`]*)`", default_cell)
            if name and default:
                found[name.group(1)] = default.group(1)
    return found


def documented(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_every_limit_is_in_the_readme_with_its_default() -> None:
    table = readme_defaults()
    for field in attrs.fields(Limits):
        variable = field.name.upper()
        assert variable in table, f"README lists no {variable}"
        assert table[variable] == documented(field.default), variable


TOOL_VARIABLES = {
    "modules": "TOOLS",
    "mcp_servers": "MCP_SERVERS",
    "timeout_s": "TOOL_TIMEOUT_S",
    "events_detail": "TOOL_EVENTS_DETAIL",
    "max_calls_per_response": "TOOL_MAX_CALLS_PER_RESPONSE",
    "threads": "TOOL_THREADS",
    "max_output_bytes": "TOOL_MAX_OUTPUT_BYTES",
}


def test_every_tool_setting_is_in_the_readme_with_its_default() -> None:
    table = readme_defaults()
    defaults = ToolSettings()
    for field in attrs.fields(ToolSettings):
        variable = TOOL_VARIABLES[field.name]
        value = getattr(defaults, field.name)
        if value in ((), None):
            assert f"| `{variable}` | |" in README.read_text(), f"README lists no {variable}"
        else:
            assert table.get(variable) == documented(value), variable


def test_the_readme_names_the_default_model() -> None:
    assert readme_defaults()["OPENAI_MODEL"] == DEFAULT_OPENAI_MODEL


SESSION_VARIABLES = {
    "instructions": "INSTRUCTIONS",
    "voice": "VOICE",
    "output_modality": "OUTPUT_MODALITY",
    "transcription_model": "TRANSCRIPTION_MODEL",
    "transcription_language": "TRANSCRIPTION_LANGUAGE",
    "transcription_prompt": "TRANSCRIPTION_PROMPT",
    "transcription_deltas": "TRANSCRIPTION_DELTAS",
    "turn_detection": "TURN_DETECTION",
    "vad_threshold": "VAD_THRESHOLD",
    "vad_prefix_padding_ms": "VAD_PREFIX_PADDING_MS",
    "vad_silence_duration_ms": "VAD_SILENCE_DURATION_MS",
    "vad_eagerness": "VAD_EAGERNESS",
    "upstream_idle_timeout_ms": "UPSTREAM_IDLE_TIMEOUT_MS",
    "noise_reduction": "NOISE_REDUCTION",
    "voice_speed": "VOICE_SPEED",
    "reasoning_effort": "REASONING_EFFORT",
    "truncation": "TRUNCATION",
    "tracing": "TRACING",
    "greeting": "GREETING",
}
PROSE_DEFAULTS = {"instructions", "greeting"}  # described in words, not quoted


def test_every_session_setting_is_in_the_readme_with_its_default() -> None:
    table = readme_defaults()
    text = README.read_text()
    defaults = SessionSettings()
    for field in attrs.fields(SessionSettings):
        variable = SESSION_VARIABLES[field.name]
        value = getattr(defaults, field.name)
        if value is None:
            assert f"| `{variable}` | |" in text, f"README lists no {variable}"
        elif field.name in PROSE_DEFAULTS:
            assert f"| `{variable}` | " in text and variable not in table, variable
        else:
            assert table.get(variable) == documented(value), variable


def test_the_readme_names_the_entra_scope_and_the_price_table() -> None:
    assert readme_defaults()["ENTRA_SCOPE"] == ENTRA_SCOPE
    assert "| `PRICES` | |" in README.read_text()

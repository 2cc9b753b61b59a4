"""The session settings from the environment: good values become SessionSettings, bad ones (and
ones that could not take effect with the others) stop start-up with a ConfigError naming the
variable."""

from __future__ import annotations

import io
import json
import logging

import pytest

from trio_relay.cli import warn_unsent_settings
from trio_relay.config import (
    ENTRA_SCOPE,
    ENTRA_SCOPE_FALLBACK,
    RetentionRatio,
    SessionSettings,
    load_config,
)
from trio_relay.errors import ConfigError
from trio_relay.log import setup_logging


def settings(**env: str) -> SessionSettings:
    return load_config(env).session


def test_unset_means_todays_behaviour_and_nothing_extra_sent() -> None:
    assert settings() == SessionSettings()
    s = SessionSettings()
    assert (s.turn_detection, s.vad_eagerness, s.transcription_deltas, s.tracing) == (
        "server_vad",
        "auto",
        False,
        False,
    )
    for unset in (
        s.noise_reduction,
        s.transcription_language,
        s.transcription_prompt,
        s.voice_speed,
        s.reasoning_effort,
        s.truncation,
        s.upstream_idle_timeout_ms,
    ):
        assert unset is None


def test_semantic_vad_with_eagerness() -> None:
    s = settings(TURN_DETECTION="Semantic_VAD", VAD_EAGERNESS="high")
    assert (s.turn_detection, s.vad_eagerness) == ("semantic_vad", "high")


def test_every_setting_from_the_environment() -> None:
    s = settings(
        TURN_DETECTION="server_vad",
        UPSTREAM_IDLE_TIMEOUT_MS="8000",
        NOISE_REDUCTION="near_field",
        TRANSCRIPTION_MODEL="gpt-4o-transcribe",
        TRANSCRIPTION_LANGUAGE="EN",
        TRANSCRIPTION_PROMPT="  order numbers  ",
        TRANSCRIPTION_DELTAS="1",
        VOICE_SPEED="1.2",
        REASONING_EFFORT="xhigh",
        TRUNCATION="retention_ratio:0.8",
        TRACING="auto",
    )
    assert s.upstream_idle_timeout_ms == 8000 and s.noise_reduction == "near_field"
    assert (s.transcription_language, s.transcription_prompt) == ("en", "order numbers")
    assert s.transcription_deltas and s.tracing
    assert (s.voice_speed, s.reasoning_effort) == (1.2, "xhigh")
    assert s.truncation == RetentionRatio(0.8)


@pytest.mark.parametrize(
    ("value", "truncation"),
    [("auto", "auto"), ("DISABLED", "disabled"), ("retention_ratio:0", RetentionRatio(0.0))],
)
def test_truncation(value: str, truncation: object) -> None:
    assert settings(TRUNCATION=value).truncation == truncation


@pytest.mark.parametrize(("value", "on"), [("1", True), ("on", True), ("0", False), ("", False)])
def test_tracing(value: str, on: bool) -> None:
    assert settings(TRACING=value).tracing is on


def test_no_turn_detection() -> None:
    assert settings(TURN_DETECTION="none").turn_detection == "none"


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"TURN_DETECTION": "push_to_talk"}, "TURN_DETECTION", "server_vad, semantic_vad, none"),
        (
            {"TURN_DETECTION": "semantic_vad", "VAD_EAGERNESS": "eager"},
            "VAD_EAGERNESS",
            "low, medium, high, auto",
        ),
        ({"VAD_EAGERNESS": "low"}, "VAD_EAGERNESS", "semantic_vad only"),
        (
            {"TURN_DETECTION": "semantic_vad", "VAD_THRESHOLD": "0.6"},
            "VAD_THRESHOLD",
            "server_vad only",
        ),
        (
            {"TURN_DETECTION": "none", "UPSTREAM_IDLE_TIMEOUT_MS": "5000"},
            "UPSTREAM_IDLE_TIMEOUT_MS",
            "server_vad only",
        ),
        ({"UPSTREAM_IDLE_TIMEOUT_MS": "0"}, "UPSTREAM_IDLE_TIMEOUT_MS", "at least 1"),
        ({"UPSTREAM_IDLE_TIMEOUT_MS": "5s"}, "UPSTREAM_IDLE_TIMEOUT_MS", "whole number"),
        ({"NOISE_REDUCTION": "studio"}, "NOISE_REDUCTION", "near_field, far_field"),
        ({"TRANSCRIPTION_LANGUAGE": "english"}, "TRANSCRIPTION_LANGUAGE", "ISO-639-1"),
        (
            {"TRANSCRIPTION_MODEL": "", "TRANSCRIPTION_LANGUAGE": "en"},
            "TRANSCRIPTION_LANGUAGE",
            "needs input transcription",
        ),
        (
            {"TRANSCRIPTION_MODEL": "", "TRANSCRIPTION_DELTAS": "1"},
            "TRANSCRIPTION_DELTAS",
            "needs input transcription",
        ),
        ({"TRANSCRIPTION_DELTAS": "maybe"}, "TRANSCRIPTION_DELTAS", "1/true/yes"),
        ({"VOICE_SPEED": "2"}, "VOICE_SPEED", "between 0.25 and 1.5"),
        ({"VOICE_SPEED": "fast"}, "VOICE_SPEED", "a number"),
        ({"REASONING_EFFORT": "max"}, "REASONING_EFFORT", "minimal, low, medium, high, xhigh"),
        ({"TRUNCATION": "sometimes"}, "TRUNCATION", "retention_ratio:R"),
        ({"TRUNCATION": "retention_ratio:"}, "TRUNCATION", "retention_ratio:R"),
        ({"TRUNCATION": "retention_ratio:1.5"}, "TRUNCATION", "between 0 and 1"),
        ({"TRACING": "verbose"}, "TRACING", "1/auto"),
    ],
)
def test_a_bad_session_setting_names_the_variable(
    env: dict[str, str], variable: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.variable == variable
    assert words in caught.value.problem
    assert "\n" not in str(caught.value)


def test_transcription_deltas_off_is_fine_without_transcription() -> None:
    assert not settings(TRANSCRIPTION_MODEL="", TRANSCRIPTION_DELTAS="0").transcription_deltas


AZURE = {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com", "AZURE_OPENAI_DEPLOYMENT": "d"}


def test_the_entra_scope_is_azure_ais_unless_configured() -> None:
    default = load_config(AZURE).upstream
    assert default is not None and default.entra_scope == ENTRA_SCOPE
    assert ENTRA_SCOPE == "https://ai.azure.com/.default"
    fallback = load_config({**AZURE, "ENTRA_SCOPE": ENTRA_SCOPE_FALLBACK}).upstream
    assert fallback is not None and fallback.entra_scope == ENTRA_SCOPE_FALLBACK


@pytest.mark.parametrize("scope", ["cognitiveservices", "https://a/.default https://b/.default"])
def test_a_bad_entra_scope_names_the_variable(scope: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**AZURE, "ENTRA_SCOPE": scope})
    assert caught.value.variable == "ENTRA_SCOPE" and ENTRA_SCOPE_FALLBACK in caught.value.problem


def test_settings_a_beta_upstream_cannot_take_are_named_in_a_warning_at_start_up() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    setup_logging("INFO", json_lines=True, stream=stream)
    beta = {**AZURE, "AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_API_VERSION": "2024-10-01-preview"}
    try:
        warn_unsent_settings(load_config({**beta, "TRUNCATION": "auto", "VOICE_SPEED": "1.1"}))
        warn_unsent_settings(load_config({**AZURE, "TRUNCATION": "auto"}))  # GA: all sent
    finally:
        root.handlers[:], root.level = saved
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["settings"]) for line in lines] == [("warning", ["TRUNCATION"])]

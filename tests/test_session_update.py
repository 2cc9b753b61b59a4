"""The ``session.update`` each session setting makes, exactly as the ``openai`` package's typed
models expect it: GA (``openai.types.realtime``) and beta (``openai.types.beta.realtime``), with
no field either model does not know (the real service refuses unknown parameters)."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.beta.realtime import SessionUpdateEvent as BetaSessionUpdate
from openai.types.realtime import SessionUpdateEvent
from typed_models import undeclared_fields

from trio_relay.config import Dialect, RetentionRatio, SessionSettings
from trio_relay.realtime import session_update

SESSION_ID = "s-0123456789ab"


def validated(settings: SessionSettings, dialect: Dialect) -> dict[str, Any]:
    """The update for ``settings``, after checking it against the dialect's typed model."""
    update = session_update(settings, dialect, session_id=SESSION_ID)
    model = SessionUpdateEvent if dialect is Dialect.GA else BetaSessionUpdate
    assert undeclared_fields(model.model_validate(update)) == []
    return update["session"]


def ga_input(session: dict[str, Any]) -> dict[str, Any]:
    audio_input: dict[str, Any] = session["audio"]["input"]
    return audio_input


@pytest.mark.parametrize("dialect", list(Dialect))
def test_the_defaults_are_todays_server_vad_session(dialect: Dialect) -> None:
    session = validated(SessionSettings(), dialect)
    detection = ga_input(session)["turn_detection"] if dialect is Dialect.GA else None
    detection = detection or session["turn_detection"]
    assert detection == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }
    # Nothing that is unset goes up: the upstream's own defaults apply.
    for absent in ("tracing", "reasoning", "truncation", "speed", "input_audio_noise_reduction"):
        assert absent not in session
    if dialect is Dialect.GA:
        assert "noise_reduction" not in ga_input(session)
        assert "speed" not in session["audio"]["output"]


def test_semantic_vad_with_its_eagerness() -> None:
    settings = SessionSettings(turn_detection="semantic_vad", vad_eagerness="low")
    expected = {
        "type": "semantic_vad",
        "eagerness": "low",
        "create_response": True,
        "interrupt_response": True,
    }
    assert ga_input(validated(settings, Dialect.GA))["turn_detection"] == expected
    assert validated(settings, Dialect.BETA)["turn_detection"] == expected


def test_no_turn_detection_is_sent_as_null_in_both_dialects() -> None:
    settings = SessionSettings(turn_detection="none")
    assert ga_input(validated(settings, Dialect.GA))["turn_detection"] is None
    assert validated(settings, Dialect.BETA)["turn_detection"] is None


def test_noise_reduction() -> None:
    settings = SessionSettings(noise_reduction="far_field")
    assert ga_input(validated(settings, Dialect.GA))["noise_reduction"] == {"type": "far_field"}
    beta = validated(settings, Dialect.BETA)
    assert beta["input_audio_noise_reduction"] == {"type": "far_field"}


def test_transcription_language_and_prompt() -> None:
    settings = SessionSettings(
        transcription_model="gpt-4o-transcribe",
        transcription_language="de",
        transcription_prompt="Bestellnummern, Paketdienste",
    )
    expected = {
        "model": "gpt-4o-transcribe",
        "language": "de",
        "prompt": "Bestellnummern, Paketdienste",
    }
    assert ga_input(validated(settings, Dialect.GA))["transcription"] == expected
    assert validated(settings, Dialect.BETA)["input_audio_transcription"] == expected


@pytest.mark.parametrize("model", ["gpt-transcribe", "gpt-live-transcribe"])
def test_the_new_transcription_models_get_a_list_of_languages(model: str) -> None:
    settings = SessionSettings(transcription_model=model, transcription_language="de")
    assert ga_input(validated(settings, Dialect.GA))["transcription"] == {
        "model": model,
        "languages": ["de"],
    }
    # The beta dialect has one language field only.
    beta = validated(settings, Dialect.BETA)["input_audio_transcription"]
    assert beta == {"model": model, "language": "de"}


def test_transcription_off_is_null() -> None:
    settings = SessionSettings(transcription_model=None)
    assert ga_input(validated(settings, Dialect.GA))["transcription"] is None
    assert validated(settings, Dialect.BETA)["input_audio_transcription"] is None


def test_voice_speed() -> None:
    settings = SessionSettings(voice_speed=1.25)
    assert validated(settings, Dialect.GA)["audio"]["output"]["speed"] == 1.25
    assert validated(settings, Dialect.BETA)["speed"] == 1.25


def test_reasoning_effort_goes_to_a_ga_upstream_only() -> None:
    settings = SessionSettings(reasoning_effort="low")
    assert validated(settings, Dialect.GA)["reasoning"] == {"effort": "low"}
    assert "reasoning" not in validated(settings, Dialect.BETA)


@pytest.mark.parametrize(
    ("truncation", "sent"),
    [
        ("auto", "auto"),
        ("disabled", "disabled"),
        (RetentionRatio(0.8), {"type": "retention_ratio", "retention_ratio": 0.8}),
    ],
)
def test_truncation_goes_to_a_ga_upstream_only(
    truncation: RetentionRatio | str, sent: object
) -> None:
    settings = SessionSettings(truncation=truncation)  # type: ignore[arg-type]
    assert validated(settings, Dialect.GA)["truncation"] == sent
    assert "truncation" not in validated(settings, Dialect.BETA)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_tracing_groups_the_upstream_traces_by_the_relays_session_id(dialect: Dialect) -> None:
    session = validated(SessionSettings(tracing=True), dialect)
    assert session["tracing"] == {"group_id": SESSION_ID}


def test_the_upstream_idle_timeout_is_a_ga_server_vad_field() -> None:
    settings = SessionSettings(upstream_idle_timeout_ms=8000)
    assert ga_input(validated(settings, Dialect.GA))["turn_detection"]["idle_timeout_ms"] == 8000
    assert "idle_timeout_ms" not in validated(settings, Dialect.BETA)["turn_detection"]


def test_settings_the_beta_dialect_cannot_carry_are_named() -> None:
    settings = SessionSettings(
        reasoning_effort="high", truncation="disabled", upstream_idle_timeout_ms=5000
    )
    assert settings.ga_only_settings() == [
        "REASONING_EFFORT",
        "TRUNCATION",
        "UPSTREAM_IDLE_TIMEOUT_MS",
    ]
    assert SessionSettings(voice_speed=1.1, tracing=True).ga_only_settings() == []


@pytest.mark.parametrize("dialect", list(Dialect))
def test_every_setting_at_once_is_still_a_valid_update(dialect: Dialect) -> None:
    settings = SessionSettings(
        transcription_model="gpt-4o-mini-transcribe",
        transcription_language="en",
        transcription_prompt="product names",
        upstream_idle_timeout_ms=6000,
        noise_reduction="near_field",
        voice_speed=0.9,
        reasoning_effort="minimal",
        truncation=RetentionRatio(0.5),
        tracing=True,
    )
    validated(settings, dialect)

"""Configuration: environment mapping in, typed config or one clear ConfigError out."""

from __future__ import annotations

import typing

import pytest
from openai.types.realtime import RealtimeSessionCreateRequest

from trio_relay.config import DEFAULT_OPENAI_MODEL, Backend, Dialect, load_config
from trio_relay.errors import ConfigError


def test_no_credentials_means_the_bundled_fake_upstream() -> None:
    config = load_config({})
    assert config.backend is Backend.FAKE and config.backend_was_inferred
    assert config.upstream is None
    assert (config.host, config.port) == ("127.0.0.1", 8080)


def test_openai_key_implies_openai_ga_with_derived_url() -> None:
    config = load_config({"OPENAI_API_KEY": "sk-test"})
    assert config.backend is Backend.OPENAI
    assert config.upstream is not None
    assert config.upstream.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1"
    assert config.upstream.dialect is Dialect.GA
    assert "sk-test" not in repr(config)


def test_openai_base_url_is_used_like_the_sdk() -> None:
    config = load_config(
        {
            "BACKEND": "openai",
            "OPENAI_API_KEY": "x",
            "OPENAI_BASE_URL": "http://127.0.0.1:9999/v1/",
            "OPENAI_MODEL": "gpt-realtime-2.1-mini",
        }
    )
    assert config.upstream is not None
    assert config.upstream.url == "ws://127.0.0.1:9999/v1/realtime?model=gpt-realtime-2.1-mini"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://res.openai.azure.com",
        "https://res.openai.azure.com/",
        "wss://res.openai.azure.com",
    ],
)
def test_azure_endpoint_is_normalised_and_ga_by_default(endpoint: str) -> None:
    config = load_config({"AZURE_OPENAI_ENDPOINT": endpoint, "AZURE_OPENAI_DEPLOYMENT": "rt"})
    assert config.backend is Backend.AZURE
    assert config.upstream is not None
    assert config.upstream.url == "wss://res.openai.azure.com/openai/v1/realtime?model=rt"
    assert config.upstream.use_entra_id and config.upstream.dialect is Dialect.GA


def test_azure_api_version_selects_the_preview_path_and_beta_dialect() -> None:
    config = load_config(
        {
            "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:1234",
            "AZURE_OPENAI_DEPLOYMENT": "rt",
            "AZURE_OPENAI_API_KEY": "k",
            "AZURE_OPENAI_API_VERSION": "2024-10-01-preview",
        }
    )
    assert config.upstream is not None
    assert config.upstream.url == (
        "ws://127.0.0.1:1234/openai/realtime?api-version=2024-10-01-preview&deployment=rt"
    )
    assert config.upstream.dialect is Dialect.BETA and not config.upstream.use_entra_id


def test_flags_override_the_environment() -> None:
    config = load_config({"HOST": "0.0.0.0", "PORT": "9000"}, host="127.0.0.2", port=0)
    assert (config.host, config.port) == ("127.0.0.2", 0)


def test_session_settings_come_from_the_environment() -> None:
    config = load_config(
        {
            "INSTRUCTIONS": "Be terse.",
            "VOICE": "marin",
            "TRANSCRIPTION_MODEL": "",
            "VAD_THRESHOLD": "0.7",
            "VAD_PREFIX_PADDING_MS": "200",
            "VAD_SILENCE_DURATION_MS": "800",
            "GREETING": "Hello!",
            "OUTPUT_MODALITY": "text",
        }
    )
    s = config.session
    assert (s.instructions, s.voice, s.transcription_model) == ("Be terse.", "marin", None)
    assert (s.vad_threshold, s.vad_prefix_padding_ms, s.vad_silence_duration_ms) == (0.7, 200, 800)
    assert (s.greeting, s.output_modality) == ("Hello!", "text")


def test_the_frontend_may_hold_64_mib_in_memory_unless_told_otherwise() -> None:
    assert load_config({}).limits.static_max_bytes == 64 * 1024 * 1024
    assert load_config({"STATIC_MAX_BYTES": "1048576"}).limits.static_max_bytes == 1 << 20


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"BACKEND": "bedrock"}, "BACKEND", "openai, azure or fake"),
        ({"BACKEND": "openai"}, "OPENAI_API_KEY", "required"),
        ({"BACKEND": "azure", "AZURE_OPENAI_DEPLOYMENT": "d"}, "AZURE_OPENAI_ENDPOINT", "required"),
        ({"AZURE_OPENAI_ENDPOINT": "https://x"}, "AZURE_OPENAI_DEPLOYMENT", "required"),
        (
            {"AZURE_OPENAI_ENDPOINT": "res.openai.azure.com", "AZURE_OPENAI_DEPLOYMENT": "d"},
            "AZURE_OPENAI_ENDPOINT",
            "https://",
        ),
        ({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL", "https://"),
        ({"PORT": "eighty"}, "PORT", "whole number"),
        ({"PORT": "70000"}, "PORT", "between 0 and 65535"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "one of"),
        ({"VAD_THRESHOLD": "2"}, "VAD_THRESHOLD", "between"),
        ({"AUDIO_CHUNK_MS": "5"}, "AUDIO_CHUNK_MS", "0 (no chunk) or at least 10"),
        ({"OUTPUT_MODALITY": "video"}, "OUTPUT_MODALITY", "unsupported"),
        ({"STATIC_MAX_BYTES": "64MiB"}, "STATIC_MAX_BYTES", "whole number"),
        ({"STATIC_MAX_BYTES": "-1"}, "STATIC_MAX_BYTES", "at least 0"),
    ],
)
def test_bad_configuration_names_the_variable(
    env: dict[str, str], variable: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.variable == variable
    assert words in str(caught.value)


def test_a_plain_upstream_url_to_another_host_is_refused_unless_allowed() -> None:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://api.example.com/v1"}
    with pytest.raises(ConfigError) as refused:
        load_config(env)
    assert refused.value.variable == "OPENAI_BASE_URL" and "unencrypted" in refused.value.problem
    assert load_config({**env, "ALLOW_INSECURE_UPSTREAM": "1"}).upstream is not None
    # Loopback (a local fake or a sidecar) and https are fine as they are.
    assert load_config({**env, "OPENAI_BASE_URL": "http://127.0.0.1:8765/v1"}).upstream
    assert load_config({**env, "OPENAI_BASE_URL": "https://api.example.com/v1"}).upstream
    azure = {"AZURE_OPENAI_ENDPOINT": "ws://res.example.com", "AZURE_OPENAI_DEPLOYMENT": "d"}
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        load_config(azure)  # Entra ID tokens are credentials too


def test_the_default_model_is_one_the_openai_package_knows() -> None:
    # The typed session lists the models the platform serves; a default outside it is a typo
    # or a model withdrawn since.
    annotation = RealtimeSessionCreateRequest.model_fields["model"].annotation
    literals = {
        value for member in typing.get_args(annotation) for value in typing.get_args(member)
    }
    assert DEFAULT_OPENAI_MODEL in literals
    config = load_config({"OPENAI_API_KEY": "k"})
    assert config.upstream is not None and config.upstream.url.endswith("?model=gpt-realtime-2.1")


AZURE = {"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_DEPLOYMENT": "rt"}


def test_the_default_transcription_model_is_the_backends_own() -> None:
    assert load_config({"OPENAI_API_KEY": "sk-test"}).session.transcription_model == (
        "gpt-transcribe"
    )
    assert load_config({}).session.transcription_model == "gpt-transcribe"  # the fake
    assert load_config(AZURE).session.transcription_model == "whisper-1"
    chosen = load_config({**AZURE, "TRANSCRIPTION_MODEL": "gpt-transcribe"})
    assert chosen.session.transcription_model == "gpt-transcribe"

"""What the upstream billed, in kinds that are each one price and add up to the total, and the
price table that turns them into an estimated cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.beta.realtime import RealtimeResponseUsage as BetaUsage
from openai.types.realtime import RealtimeResponseUsage

from trio_relay.config import (
    Dialect,
    ModelPrices,
    PriceTable,
    SessionPrices,
    SessionSettings,
    load_config,
)
from trio_relay.errors import ConfigError
from trio_relay.translator import Translator, UsageReported
from trio_relay.usage import RESPONSE_KINDS, response_tokens, transcription_usage

GA_USAGE: dict[str, Any] = {
    "total_tokens": 1650,
    "input_tokens": 1500,
    "output_tokens": 150,
    "input_token_details": {
        "text_tokens": 700,
        "audio_tokens": 780,
        "image_tokens": 20,
        "cached_tokens": 1000,
        "cached_tokens_details": {"text_tokens": 600, "audio_tokens": 400, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 30, "audio_tokens": 120},
}


def test_a_ga_response_usage_in_full_with_cached_tokens_apart() -> None:
    RealtimeResponseUsage.model_validate(GA_USAGE)
    tokens = response_tokens(GA_USAGE)
    assert tokens == {
        "input_text": 100,
        "input_cached_text": 600,
        "input_audio": 380,
        "input_cached_audio": 400,
        "input_image": 20,
        "output_text": 30,
        "output_audio": 120,
    }
    assert sum(tokens.values()) == GA_USAGE["total_tokens"]
    assert set(tokens) <= set(RESPONSE_KINDS)


def test_beta_cached_tokens_without_a_split_are_shared_in_proportion() -> None:
    usage = {
        "total_tokens": 1100,
        "input_tokens": 1000,
        "output_tokens": 100,
        "input_token_details": {"text_tokens": 250, "audio_tokens": 750, "cached_tokens": 401},
        "output_token_details": {"text_tokens": 40, "audio_tokens": 60},
    }
    BetaUsage.model_validate(usage)
    tokens = response_tokens(usage)
    assert (tokens["input_cached_text"], tokens["input_cached_audio"]) == (100, 301)
    assert sum(tokens.values()) == usage["total_tokens"]


def test_totals_without_a_breakdown_count_as_text_and_garbage_counts_as_nothing() -> None:
    assert response_tokens({"input_tokens": 20, "output_tokens": 5}) == {
        "input_text": 20,
        "output_text": 5,
    }
    assert response_tokens({"input_tokens": "many", "output_tokens": True}) == {}
    assert response_tokens({"input_token_details": [], "output_tokens": -3}) == {}


def test_transcription_usage_by_tokens_or_duration() -> None:
    tokens = {"type": "tokens", "input_tokens": 12, "output_tokens": 4, "total_tokens": 16}
    assert transcription_usage(tokens) == (
        {"transcription_input": 12, "transcription_output": 4},
        0.0,
    )
    assert transcription_usage({"type": "duration", "seconds": 2.5}) == ({}, 2.5)
    assert transcription_usage({"type": "duration", "seconds": float("inf")}) == ({}, 0.0)


def test_response_done_reports_its_usage_by_kind() -> None:
    translator = Translator(SessionSettings(), Dialect.GA)
    translator.upstream_event({"type": "session.updated"})
    translator.upstream_event({"type": "response.created", "response": {"id": "r1"}})
    done = {"type": "response.done", "response": {"id": "r1", "status": "completed"}}
    done["response"]["usage"] = GA_USAGE
    usage = [
        o for o in translator.upstream_event(done).observations if isinstance(o, UsageReported)
    ]
    assert usage == [UsageReported(response_tokens(GA_USAGE))]


# --- the price table -----------------------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> dict[str, Any]:
    """The price table the README shows (its one JSON block): the test prices it."""
    text = README.read_text()
    start = text.index("```json\n", text.index("**Cost figures**")) + len("```json\n")
    example: dict[str, Any] = json.loads(text[start : text.index("```", start)])
    return example


README_EXAMPLE = readme_example()


def test_a_session_is_priced_by_its_models_entries() -> None:
    table = load_config({"PRICES": json.dumps(README_EXAMPLE)}).prices
    assert table is not None
    prices = table.for_session("gpt-realtime-2.1", "gpt-transcribe")
    million_each = dict.fromkeys(("input_text", "input_cached_audio", "output_audio"), 1_000_000)
    estimate = prices.estimate(million_each, transcription_seconds=120)
    assert estimate.usd == pytest.approx(4.0 + 0.4 + 64.0 + 2 * 0.0045)
    assert estimate.unpriced == ()


def test_usage_the_table_does_not_price_is_named() -> None:
    prices = SessionPrices(ModelPrices({"input_text": 4.0}), transcription=None)
    estimate = prices.estimate({"input_text": 10, "input_image": 5}, transcription_seconds=3)
    assert estimate.usd == pytest.approx(40 / 1e6)
    assert estimate.unpriced == ("input_image", "transcription_seconds")


def test_prices_from_a_toml_or_json_file(tmp_path: Path) -> None:
    toml = tmp_path / "prices.toml"
    toml.write_text('["gpt-realtime-2.1"]\ninput_text = 4\noutput_audio = 64.0\n')
    table = load_config({"PRICES": str(toml)}).prices
    assert table == PriceTable(
        {"gpt-realtime-2.1": ModelPrices({"input_text": 4.0, "output_audio": 64.0})}
    )
    as_json = tmp_path / "prices.json"
    as_json.write_text(json.dumps(README_EXAMPLE))
    assert (
        load_config({"PRICES": str(as_json)}).prices
        == load_config({"PRICES": json.dumps(README_EXAMPLE)}).prices
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "inline JSON or a .json or .toml file"),
        ("/nonexistent/prices.toml", "cannot read"),
        ('{"gpt-realtime-2.1": 4}', "must map kinds to prices"),
        ('{"gpt-realtime-2.1": {"input_txt": 4}}', "unknown kind 'input_txt'"),
        ('{"gpt-realtime-2.1": {"input_text": "4"}}', "must be a number"),
        ('{"gpt-realtime-2.1": {"input_text": -1}}', "must be 0 or more"),
        ('{"gpt-realtime-2.1": {"input_text": true}}', "must be a number"),
        ('{"gpt-realtime": {"input_text": 4}}', "has no prices for 'gpt-realtime-2.1'"),
        ("{}", "must map model names"),
    ],
)
def test_a_bad_price_table_stops_start_up_naming_prices(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"PRICES": value})
    assert caught.value.variable == "PRICES" and words in caught.value.problem


def test_an_azure_price_table_is_keyed_by_the_deployment_name() -> None:
    env = {
        "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "voice-prod",
        "PRICES": '{"voice-prod": {"input_text": 4}}',
    }
    assert load_config(env).prices is not None
    with pytest.raises(ConfigError, match="AZURE_OPENAI_DEPLOYMENT"):
        load_config({**env, "PRICES": '{"gpt-realtime-2.1": {"input_text": 4}}'})

"""Metrics, structured logs and readiness, as an operator sees them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio
from harness import is_control, open_browser, serve, speech_like_pcm
from prometheus_client.parser import text_string_to_metric_families

from fake_upstream import open_fake_upstream
from trio_relay.config import ModelPrices, PriceTable, RelayConfig, azure_target, openai_target
from trio_relay.credentials import EntraTokenSource
from trio_relay.log import setup_logging


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    setup_logging("INFO", json_lines=True, stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], root.level = saved


async def test_metrics_after_a_few_sessions(nursery: trio.Nursery) -> None:
    async with open_fake_upstream() as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
        relay = await serve(nursery, RelayConfig(upstream=target))
        url = f"ws://127.0.0.1:{relay.port}/realtime"
        for _ in range(2):
            async with open_browser(url) as browser:
                await browser.until(is_control("connected"))
                await browser.send_text("hello")
                await browser.until(is_control("text_done"))
        async with open_browser(url) as browser:
            await browser.until(is_control("connected"))
            pcm = speech_like_pcm()
            for i in range(0, len(pcm), 4800):
                await browser.ws.send_message(pcm[i : i + 4800])
            await browser.until(is_control("text_done"))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}") as http:
                live = samples((await http.get("/metrics")).text)
        await relay.sessions_ended()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}") as http:
            response = await http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    assert live[("trio_relay_active_sessions", ())] == 1
    assert after[("trio_relay_active_sessions", ())] == 0
    assert after[("trio_relay_sessions_total", (("outcome", "ClientGone"),))] == 3
    assert after[("trio_relay_bytes_total", (("direction", "client_in"),))] >= len(pcm)
    assert after[("trio_relay_frames_total", (("direction", "client_in"),))] >= len(pcm) // 4800
    assert after[("trio_relay_bytes_total", (("direction", "client_out"),))] > 48_000
    assert after[("trio_relay_upstream_connect_seconds_count", ())] == 3
    assert after[("trio_relay_time_to_first_audio_seconds_count", ())] == 3
    assert after[("trio_relay_time_to_first_text_seconds_count", ())] == 3
    # The fake bills 20 text tokens of input per response, and a spoken turn's transcription
    # by its duration (as whisper-1 is billed).
    assert after[("trio_relay_upstream_tokens_total", (("kind", "input_text"),))] == 60
    assert after[("trio_relay_upstream_tokens_total", (("kind", "output_audio"),))] > 0
    assert after[("trio_relay_upstream_transcription_seconds_total", ())] > 0
    assert after[("trio_relay_upstream_rate_limit_remaining", (("name", "requests"),))] == 999


async def test_session_log_lines_are_json_with_session_id_and_summary(
    nursery: trio.Nursery, json_log: io.StringIO
) -> None:
    async with open_fake_upstream() as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-never-logged")
        relay = await serve(nursery, RelayConfig(upstream=target))
        async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
            await browser.until(is_control("connected"))
            await browser.send_text("hello")
            await browser.until(is_control("text_done"))
        await relay.sessions_ended()
    lines: list[dict[str, Any]] = [json.loads(line) for line in json_log.getvalue().splitlines()]
    started = next(line for line in lines if line["event"] == "session started")
    ended = next(line for line in lines if line["event"] == "session ended")
    assert started["session_id"] == ended["session_id"]
    assert ended["outcome"] == "ClientGone" and ended["close_code"] == 1000
    for field in (
        "duration_s",
        "bytes_in",
        "bytes_out",
        "audio_in_s",
        "audio_out_s",
        "turns",
        "upstream_connect_s",
        "first_audio_s",
        "timestamp",
        "level",
    ):
        assert field in ended
    assert ended["turns"] == 1 and ended["audio_out_s"] > 0
    assert ended["tokens"]["input_text"] == 20 and ended["tokens"]["output_audio"] > 0
    assert "estimated_cost_usd" not in ended  # no price table
    assert "sk-never-logged" not in json_log.getvalue()


PRICES = {"input_text": 4.0, "output_text": 24.0, "output_audio": 64.0, "input_audio": 32.0}


async def test_with_a_price_table_the_session_ended_line_and_a_counter_carry_the_cost(
    nursery: trio.Nursery, json_log: io.StringIO
) -> None:
    prices = PriceTable({"gpt-realtime": ModelPrices(PRICES)})
    async with open_fake_upstream() as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
        relay = await serve(nursery, RelayConfig(upstream=target, prices=prices))
        async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
            await browser.until(is_control("connected"))
            await browser.send_text("hello")
            await browser.until(is_control("text_done"))
        await relay.sessions_ended()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}") as http:
            after = samples((await http.get("/metrics")).text)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    ended = next(line for line in lines if line["event"] == "session ended")
    expected = sum(count * PRICES[kind] for kind, count in ended["tokens"].items()) / 1e6
    assert expected > 0 and ended["estimated_cost_usd"] == round(expected, 6)
    assert "unpriced_usage" not in ended  # a typed turn: no transcription to price
    assert after[("trio_relay_estimated_cost_usd_total", ())] == pytest.approx(expected)


async def test_readyz_checks_that_an_entra_token_can_be_had(nursery: trio.Nursery) -> None:
    class Failing:
        def get_token(self, *scopes: str) -> Any:
            raise RuntimeError("no managed identity here")

    target = azure_target("http://127.0.0.1:9", "d", api_key=None, api_version=None)
    relay = await serve(nursery, RelayConfig(upstream=target))
    relay.tokens = EntraTokenSource(Failing)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}") as http:
        ready = await http.get("/readyz")
        health = await http.get("/healthz")
    assert ready.status_code == 503 and "no managed identity here" in ready.text
    assert health.status_code == 200

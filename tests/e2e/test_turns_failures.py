"""Responses that end badly are never silent: against the fake upstream's turn faults, the
browser hears of a failed or cut-short answer (unless one retry saves it), and the session goes
on. In memory, on virtual time."""

from __future__ import annotations

import trio
import trio.testing
from harness import MemoryRelay, is_control, serve_in_memory

from fake_upstream import FakeUpstream
from trio_relay.config import Limits, RelayConfig, azure_target, openai_target
from trio_relay.server import Relay


async def relay_for(
    nursery: trio.Nursery, fake: FakeUpstream, model: str, limits: Limits | None = None
) -> MemoryRelay:
    target = openai_target(f"{fake.url}/v1", model, "sk-test")
    config = RelayConfig(upstream=target, limits=limits or Limits())
    return await serve_in_memory(nursery, config, fake)


def responses(relay: Relay, status: str) -> float | None:
    return relay.metrics.registry.get_sample_value("trio_relay_responses_total", {"status": status})


def response_creates(fake: FakeUpstream) -> int:
    return sum(e["type"] == "response.create" for e in fake.connections[0].received)


async def test_a_server_error_is_retried_once_and_the_user_gets_the_answer(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-response-failed")
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        await browser.until(is_control("text_done"))
        assert not [m for m in browser.texts if m["type"] == "error"]
        assert any(m["type"] == "text_delta" for m in browser.texts)
    assert response_creates(fake) == 2
    assert responses(site.relay, "failed") == 1 and responses(site.relay, "completed") == 1


async def test_a_retry_that_fails_too_reaches_the_browser_and_the_session_goes_on(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-response-failed-twice")
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "response_failed"
        assert error["upstream_code"] == "server_error"
        assert "The server had an error" in error["message"] and len(error["message"]) <= 300
        await browser.send_text("again")
        await browser.until(is_control("text_done"))
    assert response_creates(fake) == 3
    assert responses(site.relay, "failed") == 2


async def test_without_retries_the_first_failure_reaches_the_browser(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(
        nursery, fake, "fault-response-failed", Limits(retry_failed_responses=False)
    )
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "response_failed"
    assert response_creates(fake) == 1


async def test_an_answer_cut_short_is_reported_with_its_reason(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-response-incomplete")
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "response_incomplete"
        assert error["upstream_code"] == "max_output_tokens"
        # The text stream of the cut answer was closed before the error.
        kinds = [m.get("action", m["type"]) for m in browser.texts]
        assert kinds.index("text_done") < kinds.index("error")
        await browser.send_text("again")
        await browser.until(is_control("text_done"))
    assert responses(site.relay, "incomplete") == 1


async def test_a_failed_retry_is_reported_on_an_azure_beta_deployment_too(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    target = azure_target(
        fake.url,
        "fault-response-failed-twice",
        api_key="azure-key",
        api_version="2024-10-01-preview",
    )
    site = await serve_in_memory(nursery, RelayConfig(upstream=target), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        error = await browser.until(lambda m: m["type"] == "error")
        assert (error["code"], error["upstream_code"]) == ("response_failed", "server_error")
        await browser.send_text("again")
        await browser.until(is_control("text_done"))
    assert fake.connections[0].dialect == "beta"

"""Per-session budgets against the fake upstream: beyond one, the browser gets ``rate_limited``
naming it, nothing goes upstream and the session goes on; at ``max_session_s`` it ends.

In memory, on virtual time: a minute's budget comes back after a (virtual) minute, and the
session ends at its maximum duration to the instant."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing
from harness import MemoryRelay, frames, is_control, serve_in_memory, speech_like_pcm

from fake_upstream import FakeUpstream
from trio_relay.client_auth import ClientAuth, ClientAuthMode, mint_ticket
from trio_relay.config import Access, Limits, RelayConfig, openai_target
from trio_relay.server import Relay


async def relay_for(nursery: trio.Nursery, fake: FakeUpstream, limits: Limits) -> MemoryRelay:
    target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-test")
    return await serve_in_memory(nursery, RelayConfig(upstream=target, limits=limits), fake)


def rate_limited(relay: Relay, budget: str) -> float | None:
    return relay.metrics.registry.get_sample_value(
        "trio_relay_rate_limited_total", {"budget": budget}
    )


def received(fake: FakeUpstream, kind: str) -> int:
    return sum(e["type"] == kind for e in fake.connections[0].received)


@pytest.mark.time_limit(120)  # a virtual minute passes
async def test_messages_over_the_per_minute_budget_are_refused_and_the_session_goes_on(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, Limits(max_user_messages_per_min=2))
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        for text in ("one", "two"):
            await browser.send_text(text)
            await browser.until(is_control("text_done"))
        await browser.send_text("three")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "rate_limited"
        assert "max_user_messages_per_min" in error["message"]
        await browser.send_text("four")  # still open, still refused
        assert (await browser.until(lambda m: m["type"] == "error"))["code"] == "rate_limited"
        await trio.sleep(60)  # a minute later, the budget is back
        await browser.send_text("five")
        await browser.until(is_control("text_done"))
    assert received(fake, "conversation.item.create") == 3
    assert rate_limited(site.relay, "max_user_messages_per_min") == 2


async def test_a_burst_of_small_messages_is_stopped_by_the_text_bytes_budget(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    limits = Limits(max_user_messages_per_min=1000, max_user_text_bytes_per_min=1000)
    site = await relay_for(nursery, fake, limits)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        for n in range(30):
            await browser.send_text(f"{n:02d}" + "x" * 98)  # 100 bytes each
        answered = is_control("text_done")
        while sum(m["type"] == "error" for m in browser.texts) < 20 or not any(
            answered(m) for m in browser.texts
        ):
            await browser.next_message()
        for error in [m for m in browser.texts if m["type"] == "error"]:
            assert error["code"] == "rate_limited"
            assert "max_user_text_bytes_per_min" in error["message"]
    with trio.fail_after(2):
        await fake.connections[0].closed.wait()
    texts = [
        e["item"]["content"][0]["text"][:2]
        for e in fake.connections[0].received
        if e["type"] == "conversation.item.create"
    ]
    assert texts == [f"{n:02d}" for n in range(10)]  # 1000 bytes, then nothing
    assert rate_limited(site.relay, "max_user_text_bytes_per_min") == 20


async def test_a_server_vad_response_over_the_budget_is_cancelled(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, Limits(max_responses_per_min=1))
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("one answer")
        await browser.until(is_control("text_done"))
        heard = len(browser.audio)
        for frame in frames(speech_like_pcm(), 20 * 48):
            await browser.ws.send_message(frame)
        await browser.until(lambda m: m["type"] == "transcription")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "rate_limited" and "max_responses_per_min" in error["message"]
        await browser.send_text("and a typed one")  # over the budget too: refused whole
        assert (await browser.until(lambda m: m["type"] == "error"))["code"] == "rate_limited"
        assert len(browser.audio) == heard  # nothing of the refused answer was played
    record = fake.connections[0]
    (vad_created,) = [e for e in record.sent if e["type"] == "response.created"][1:]
    (cancel,) = [e for e in record.received if e["type"] == "response.cancel"]
    assert cancel["response_id"] == vad_created["response"]["id"]
    assert received(fake, "conversation.item.create") == 1
    assert rate_limited(site.relay, "max_responses_per_min") == 2


async def test_the_session_ends_at_its_maximum_duration(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, Limits(max_session_s=4))
    opened = trio.current_time()
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        error = await browser.until(lambda m: m["type"] == "error")
        assert trio.current_time() - opened == pytest.approx(4)
        assert error["code"] == "session_expired"
        assert error["message"] == "the session reached its maximum duration of 4 s"
        assert await browser.closed() == 1001


async def test_a_tickets_claims_set_its_sessions_budgets(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    secret = b"s" * 32
    auth = ClientAuth(ClientAuthMode.TICKET, ticket_secret=secret)
    target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-test")
    config = RelayConfig(upstream=target, access=Access(client_auth=auth))
    site = await serve_in_memory(nursery, config, fake)
    ticket = mint_ticket(
        secret, "trial-user", int(time.time()) + 60, claims={"max_user_messages_per_min": 1}
    )
    async with site.browser(f"/realtime?token={ticket}") as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("one")
        await browser.until(is_control("text_done"))
        await browser.send_text("two")  # the relay's default allows 30; this ticket 1
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "rate_limited"
    assert received(fake, "response.create") == 1

"""An upstream that confirmed the session and then leaves a turn unanswered, or stalls in the
middle of an answer: the browser gets ``response_timeout`` within UPSTREAM_RESPONSE_TIMEOUT_S,
and the next turn works.

In memory, on virtual time: the timeout is checked to the instant."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from harness import MemoryRelay, frames, is_control, serve_in_memory, speech_like_pcm

from fake_upstream import FakeUpstream
from trio_relay.config import Limits, RelayConfig, openai_target

TIMEOUT_S = 3.0


async def relay_for(nursery: trio.Nursery, fake: FakeUpstream, model: str) -> MemoryRelay:
    target = openai_target(f"{fake.url}/v1", model, "sk-test")
    limits = Limits(upstream_response_timeout_s=TIMEOUT_S)
    return await serve_in_memory(nursery, RelayConfig(upstream=target, limits=limits), fake)


async def test_a_typed_turn_never_answered_times_out_and_the_next_one_works(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-no-response")
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        asked = trio.current_time()
        await browser.send_text("hello?")
        error = await browser.until(lambda m: m["type"] == "error")
        waited = trio.current_time() - asked
        assert error["code"] == "response_timeout", error
        assert waited == pytest.approx(TIMEOUT_S)
        await browser.send_text("hello again")
        await browser.until(is_control("text_done"))
    assert (
        site.relay.metrics.registry.get_sample_value(
            "trio_relay_responses_total", {"status": "timed_out"}
        )
        == 1
    )


async def test_an_answer_that_stalls_is_cancelled_and_the_next_turn_works(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-stall-mid-response")
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        await browser.until(lambda m: m["type"] == "text_delta")
        stalled = trio.current_time()
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "response_timeout", error
        assert trio.current_time() - stalled == pytest.approx(TIMEOUT_S)
        # The stalled answer's text stream was closed first, exactly once.
        assert sum(m.get("action") == "text_done" for m in browser.texts) == 1
        await browser.send_text("again")
        await browser.until(is_control("text_done"))
        # Nothing of the stalled answer (its late cancelled done) reached the browser.
        assert [m["code"] for m in browser.texts if m["type"] == "error"] == ["response_timeout"]
    received = [e["type"] for e in fake.connections[0].received]
    cancel = received.index("response.cancel")
    assert received[cancel + 1 :].count("response.create") == 1


async def test_a_spoken_turn_never_answered_times_out(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-no-response")
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        for frame in frames(speech_like_pcm(), 20 * 48):
            await browser.ws.send_message(frame)
        await browser.until(lambda m: m["type"] == "transcription")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "response_timeout" and "spoken turn" in error["message"]
        await browser.send_text("typed instead")
        await browser.until(is_control("text_done"))

"""An upstream that confirmed the session and then leaves a turn unanswered, or stalls in the
middle of an answer: the browser gets ``response_timeout`` within UPSTREAM_RESPONSE_TIMEOUT_S,
and the next turn works."""

from __future__ import annotations

import trio
from harness import frames, is_control, open_browser, serve, speech_like_pcm

from fake_upstream import FakeUpstream
from trio_relay.config import Limits, RelayConfig, openai_target
from trio_relay.server import Relay

TIMEOUT_S = 0.3
SLACK_S = 0.5  # scheduling on a busy two-core machine


async def relay_for(nursery: trio.Nursery, fake: FakeUpstream, model: str) -> Relay:
    target = openai_target(f"{fake.url}/v1", model, "sk-test")
    limits = Limits(upstream_response_timeout_s=TIMEOUT_S)
    return await serve(nursery, RelayConfig(upstream=target, limits=limits))


async def test_a_typed_turn_never_answered_times_out_and_the_next_one_works(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    relay = await relay_for(nursery, fake, "fault-no-response")
    async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
        await browser.until(is_control("connected"))
        asked = trio.current_time()
        await browser.send_text("hello?")
        error = await browser.until(lambda m: m["type"] == "error")
        waited = trio.current_time() - asked
        assert error["code"] == "response_timeout", error
        assert TIMEOUT_S <= waited + 0.05 and waited < TIMEOUT_S + SLACK_S
        await browser.send_text("hello again")
        await browser.until(is_control("text_done"))
    assert (
        relay.metrics.registry.get_sample_value(
            "trio_relay_responses_total", {"status": "timed_out"}
        )
        == 1
    )


async def test_an_answer_that_stalls_is_cancelled_and_the_next_turn_works(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    relay = await relay_for(nursery, fake, "fault-stall-mid-response")
    async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        await browser.until(lambda m: m["type"] == "text_delta")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "response_timeout", error
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
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    relay = await relay_for(nursery, fake, "fault-no-response")
    async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
        await browser.until(is_control("connected"))
        for frame in frames(speech_like_pcm(), 20 * 48):
            await browser.ws.send_message(frame)
        await browser.until(lambda m: m["type"] == "transcription")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "response_timeout" and "spoken turn" in error["message"]
        await browser.send_text("typed instead")
        await browser.until(is_control("text_done"))

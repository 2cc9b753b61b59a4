"""Hypothesis against a running relay: random sequences of valid and invalid client frames never
crash it, never leave a client without an answer, and never break another session."""

from __future__ import annotations

import json
from collections import defaultdict

import trio
from harness import Browser, is_control, open_browser, serve
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from trio_relay.config import Limits, RelayConfig, openai_target

LIMITS = Limits(max_message_bytes=64 * 1024, max_user_text_bytes=1024)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
# (frame, the error code it must get, or None if it is valid)
frames = st.one_of(
    st.text(max_size=40)
    .filter(lambda t: not t.strip().startswith(("{", "[")))
    .map(lambda t: (t, "invalid_message")),
    json_values.filter(lambda v: not isinstance(v, dict)).map(
        lambda v: (json.dumps(v), "invalid_message")
    ),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3)
    .filter(lambda d: d.get("type") != "user_message")
    .map(lambda d: (json.dumps(d), "invalid_message")),
    st.text(min_size=1, max_size=30)
    .filter(str.strip)
    .map(lambda t: (json.dumps({"type": "user_message", "text": t}), None)),
    st.just((json.dumps({"type": "user_message", "text": "x" * 1025}), "message_too_long")),
    st.just((json.dumps({"type": "user_message", "text": " "}), "empty_message")),
    st.binary(max_size=4000).filter(lambda b: len(b) % 2 == 0).map(lambda b: (b, None)),
    st.binary(max_size=4000)
    .filter(lambda b: len(b) % 2 == 1)
    .map(lambda b: (b, "audio_frame_odd_length")),
)


async def text_turn(browser: Browser, text: str) -> None:
    """Send ``text``; wait until its answer has streamed completely."""
    await browser.send_text(text)
    streamed: dict[str, str] = defaultdict(str)
    while True:
        message = await browser.next_message()
        if message["type"] == "text_delta":
            streamed[message["id"]] += message["delta"]
        if is_control("text_done")(message) and streamed[message["id"]] == f"You said: {text}":
            return


async def scenario(sequence: list[tuple[str | bytes, str | None]]) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        async with trio.open_nursery() as nursery:
            target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
            relay = await serve(nursery, RelayConfig(upstream=target, limits=LIMITS))
            url = f"ws://127.0.0.1:{relay.port}/realtime"
            with trio.fail_after(20):
                async with open_browser(url) as canary, open_browser(url) as browser:
                    await canary.until(is_control("connected"))
                    await browser.until(is_control("connected"))
                    for frame, _ in sequence:
                        await browser.ws.send_message(frame)
                    await text_turn(browser, "final check")
                    await text_turn(canary, "canary still fine")
                await relay.sessions_ended()
            nursery.cancel_scope.cancel()
    errors = [m["code"] for m in browser.texts if m["type"] == "error"]
    assert errors == [code for _, code in sequence if code is not None]
    assert not [m for m in canary.texts if m["type"] == "error"]


@settings(max_examples=40, deadline=None)
@given(sequence=st.lists(frames, max_size=10))
def test_random_client_frames(sequence: list[tuple[str | bytes, str | None]]) -> None:
    """A fresh relay per example: every bad frame gets exactly its error, in order; a valid
    turn still works afterwards; the other session never notices."""
    trio.run(scenario, sequence)

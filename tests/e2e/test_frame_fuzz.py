"""Hostile browser frames against ONE running relay session: whatever text frame (deep nesting,
lone surrogate escapes, huge numbers, NaN, duplicate keys, non-objects, cut-short JSON) or
binary frame arrives, the browser gets exactly the ``error`` the browser protocol prescribes
(never ``internal_error``), the session stays open, and a valid ``user_message`` afterwards
still gets its answer.

Hypothesis runs in a worker thread and hands each example to the Trio run that owns the relay
and the browser (``trio.from_thread.run``), so every example hits the same session, as an
attacker's frames would.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import count

import trio
from harness import Browser, is_control, open_browser, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_browser import text_frames

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from trio_relay.browser import InvalidClientMessage, check_client_audio, parse_client_text
from trio_relay.config import Limits, RelayConfig, openai_target

MAX_USER_TEXT_BYTES = 1024
LIMITS = Limits(
    max_user_text_bytes=MAX_USER_TEXT_BYTES,
    # The budgets are not the subject here: every example sends a turn.
    max_user_messages_per_min=1_000_000,
    max_user_text_bytes_per_min=1_000_000_000,
    max_responses_per_min=1_000_000,
)

Frame = str | bytes


def expected_error(frame: Frame) -> str | None:
    """The error code the browser protocol prescribes for ``frame`` (None: it is valid)."""
    try:
        if isinstance(frame, str):
            parse_client_text(frame, max_text_bytes=MAX_USER_TEXT_BYTES)
        else:
            check_client_audio(frame)
    except InvalidClientMessage as invalid:
        return invalid.code
    return None


def sendable(frame: str) -> bool:
    """A text frame is UTF-8 on the wire: a raw lone surrogate cannot be sent at all."""
    try:
        frame.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


frames = st.one_of(
    text_frames.filter(sendable),
    st.integers(1, 20_000).map(lambda depth: "[" * depth + "]" * depth),  # far past recursion
    st.sampled_from(
        [
            '{"type":"user_message","text":"\\ud800"}',
            '{"type":"user_message","text":"hi","text":"again"}',
            '{"type":"user_message","text":"hi","n":NaN}',
            '{"type":"user_message","text":"hi","n":' + "9" * 5000 + "}",
            '{"type":' + "[" * 5000 + "]" * 5000 + "}",
        ]
    ),
    st.binary(max_size=4000),  # audio, or odd-length junk
)


async def turn(browser: Browser, text: str) -> list[str]:
    """Send ``text``; wait until its answer has streamed completely. The error codes that
    arrived meanwhile (for the frames sent before it), in order."""
    await browser.send_text(text)
    streamed: dict[str, str] = defaultdict(str)
    errors: list[str] = []
    while True:
        message = await browser.next_message()
        if message["type"] == "error":
            errors.append(message["code"])
        if message["type"] == "text_delta":
            streamed[message["id"]] += message["delta"]
        if is_control("text_done")(message) and streamed[message["id"]] == f"You said: {text}":
            return errors


async def test_hostile_frames_get_their_error_and_the_session_goes_on(
    nursery: trio.Nursery,
) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
        relay = await serve(nursery, RelayConfig(upstream=target, limits=LIMITS))
        async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
            await browser.until(is_control("connected"))
            [session] = relay.sessions
            examples = count()

            async def check(sequence: list[Frame]) -> None:
                with trio.fail_after(15):
                    for frame in sequence:
                        await browser.ws.send_message(frame)
                    errors = await turn(browser, f"check {next(examples)}")
                expected = [code for code in map(expected_error, sequence) if code is not None]
                assert errors == expected
                assert relay.sessions == {session} and session.end is None

            @settings(
                max_examples=50,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            )
            @given(sequence=st.lists(frames, max_size=6))
            def example(sequence: list[Frame]) -> None:
                trio.from_thread.run(check, sequence)

            with trio.fail_after(180):
                await trio.to_thread.run_sync(example, abandon_on_cancel=True)
            assert "internal_error" not in [m.get("code") for m in browser.texts]
            await turn(browser, "still there?")
        with trio.fail_after(5):
            await relay.sessions_ended()
        nursery.cancel_scope.cancel()

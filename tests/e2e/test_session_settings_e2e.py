"""The session settings against the fake upstream, which checks every client event against the
``openai`` package's typed models (an unknown field is refused, as the real service does): live
captions of a spoken turn, semantic VAD, and typed turns only without turn detection."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from harness import frames, is_control, serve_in_memory, speech_like_pcm

from fake_upstream import FakeUpstream
from trio_relay.config import (
    Dialect,
    RelayConfig,
    RetentionRatio,
    SessionSettings,
    UpstreamTarget,
    azure_target,
    openai_target,
)


def target(fake: FakeUpstream, dialect: Dialect) -> UpstreamTarget:
    if dialect is Dialect.GA:
        return openai_target(f"{fake.url}/v1", "gpt-realtime-2.1", "sk-test")
    return azure_target(fake.url, "voice", api_key="k", api_version="2024-10-01-preview")


EVERY_SETTING = SessionSettings(
    transcription_model="gpt-transcribe",  # GA: its language goes as `languages`
    transcription_language="en",
    transcription_prompt="order numbers",
    transcription_deltas=True,
    upstream_idle_timeout_ms=6000,
    noise_reduction="near_field",
    voice_speed=1.1,
    reasoning_effort="low",
    truncation=RetentionRatio(0.8),
    tracing=True,
)


def user_words(texts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The browser's messages about the user's turn, in order: (kind, item id)."""
    seen = []
    for message in texts:
        if message.get("action") == "speech_started":
            seen.append(("speech_started", ""))
        elif message["type"] in ("transcription_delta", "transcription"):
            seen.append((message["type"], message["id"]))
    return seen


@pytest.mark.parametrize("dialect", list(Dialect))
async def test_a_spoken_turn_with_live_captions_and_every_setting(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    dialect: Dialect,
) -> None:
    config = RelayConfig(upstream=target(fake, dialect), session=EVERY_SETTING)
    site = await serve_in_memory(nursery, config, fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        for frame in frames(speech_like_pcm(), 20 * 48):
            await browser.ws.send_message(frame)
        final = await browser.until(lambda m: m["type"] == "transcription")
        await browser.until(is_control("text_done"))
    words = user_words(browser.texts)
    deltas = [m for m in browser.texts if m["type"] == "transcription_delta"]
    assert deltas and "".join(m["delta"] for m in deltas).strip() == final["text"].strip()
    # speech_started once, then the captions, then the whole transcript, all of one item.
    assert words == [
        ("speech_started", ""),
        *[("transcription_delta", final["id"])] * len(deltas),
        ("transcription", final["id"]),
    ]
    (record,) = fake.connections
    update = record.received[0]
    assert update["type"] == "session.update"
    assert update["session"]["tracing"]["group_id"].startswith("s-")
    assert ("reasoning" in update["session"]) is (dialect is Dialect.GA)
    assert not [event for event in record.sent if event["type"] == "error"]


@pytest.mark.parametrize("dialect", list(Dialect))
async def test_a_spoken_turn_under_semantic_vad(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    dialect: Dialect,
) -> None:
    session = SessionSettings(turn_detection="semantic_vad", vad_eagerness="high")
    site = await serve_in_memory(
        nursery, RelayConfig(upstream=target(fake, dialect), session=session), fake
    )
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        for frame in frames(speech_like_pcm(), 20 * 48):
            await browser.ws.send_message(frame)
        await browser.until(is_control("speech_started"))
        await browser.until(lambda m: m["type"] == "transcription")
        await browser.until(is_control("text_done"))
    assert not [event for event in fake.connections[0].sent if event["type"] == "error"]


async def test_without_turn_detection_the_relay_takes_typed_turns_only(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    config = RelayConfig(
        upstream=target(fake, Dialect.GA), session=SessionSettings(turn_detection="none")
    )
    site = await serve_in_memory(nursery, config, fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        for frame in frames(speech_like_pcm(), 20 * 48):
            await browser.ws.send_message(frame)
        await browser.send_text("hello")
        await browser.until(is_control("text_done"))
    errors = [m for m in browser.texts if m["type"] == "error"]
    assert [error["code"] for error in errors] == ["audio_not_accepted"]
    (record,) = fake.connections
    assert record.received[0]["session"]["audio"]["input"]["turn_detection"] is None
    kinds = [event["type"] for event in record.received]
    assert "input_audio_buffer.append" not in kinds
    assert kinds[-2:] == ["conversation.item.create", "response.create"]

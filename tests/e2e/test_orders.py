"""The browser protocol's rules hold in every order and timing the real API produces (the fake's
seeded variants, fake_upstream/timing.py), through the relay: ``speech_started`` comes before a
user's ``transcription`` (however late the upstream sends it; a typed turn has none), every
``text_delta`` stream ends with exactly one ``text_done``, audio comes in even-length frames
exactly as the upstream produced it, and a failed transcription is an ``error``
``transcription_failed`` after which the session goes on."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import trio
from harness import frames, is_control, open_browser, speech_like_pcm, start_relay

from fake_upstream import ConnectionRecord, FakeUpstream, FakeUpstreamOptions, open_fake_upstream
from fake_upstream.engine import Engine
from fake_upstream.timing import TimingOptions, Variant
from trio_relay.config import (
    Dialect,
    Limits,
    RelayConfig,
    SessionSettings,
    azure_target,
    openai_target,
)
from trio_relay.realtime import encode_audio_append, session_update

SESSION_TIMEOUT_S = 8.0  # one whole session: a spoken turn and a typed one
TIME_SCALE = 0.1  # the variants' waits, scaled down: their order is the subject, not their length
FAILED = "conversation.item.input_audio_transcription.failed"
TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")

CASES = [(variant, seed) for variant in Variant for seed in (0, 1)]


@pytest.fixture
async def fake() -> Any:
    options = FakeUpstreamOptions(timing=TimingOptions(time_scale=TIME_SCALE))
    async with open_fake_upstream(options=options) as fake:
        yield fake


def relay_config(fake: FakeUpstream, model: str, dialect: Dialect) -> RelayConfig:
    if dialect is Dialect.GA:
        target = openai_target(f"{fake.url}/v1", model, "sk-test-key")
    else:
        target = azure_target(fake.url, model, api_key="k", api_version="2024-10-01-preview")
    # A burst longer than any answer here: the relay's real-time pacing is not the subject.
    return RelayConfig(upstream=target, limits=Limits(audio_burst_ms=10_000))


class Session:
    """Everything the browser received, in order: text messages, and audio frames as bytes."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[dict[str, Any] | bytes] = []

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m for m in self.received if isinstance(m, dict)]

    @property
    def audio(self) -> bytes:
        return b"".join(m for m in self.received if isinstance(m, bytes))

    async def until(self, done: Callable[[], bool]) -> None:
        while not done():
            frame = await self.ws.get_message()
            self.received.append(frame if isinstance(frame, bytes) else json.loads(frame))

    def count(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for m in self.messages if predicate(m))


def is_transcription(m: dict[str, Any]) -> bool:
    return bool(m["type"] == "transcription")


def is_transcription_failed(m: dict[str, Any]) -> bool:
    return bool(m["type"] == "error" and m["code"] == "transcription_failed")


def upstream_audio(record: ConnectionRecord) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in record.sent if e["type"] in AUDIO_DELTAS)


def check_rules(session: Session, record: ConnectionRecord) -> None:
    spoken = 0
    open_texts: set[str] = set()
    done_texts: set[str] = set()
    for message in session.received:
        if isinstance(message, bytes):
            assert len(message) % 2 == 0 and message
            continue
        if is_control("speech_started")(message):
            spoken += 1
        elif is_transcription(message):
            assert spoken > 0, "a transcription without a speech_started before it"
            spoken -= 1
        elif message["type"] == "text_delta":
            assert message["id"] not in done_texts, "a text_delta after its text_done"
            open_texts.add(message["id"])
        elif is_control("text_done")(message):
            assert message["id"] in open_texts, "a text_done twice, or with no text_delta"
            open_texts.discard(message["id"])
            done_texts.add(message["id"])
    assert not open_texts, "a text_delta stream without its text_done"
    assert session.audio == upstream_audio(record)  # bit-exact, nothing lost or added


async def converse(fake: FakeUpstream, model: str, dialect: Dialect) -> None:
    async with trio.open_nursery() as nursery:
        port = await start_relay(nursery, relay_config(fake, model, dialect))
        with trio.fail_after(SESSION_TIMEOUT_S):
            async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
                session = Session(browser.ws)
                await session.until(lambda: session.count(is_control("connected")) == 1)
                pcm = speech_like_pcm(lead_silence_ms=200, speech_ms=600, tail_silence_ms=700)
                for frame in frames(pcm, 20 * 48):
                    await browser.ws.send_message(frame)
                record = await fake.wait_for_connection()
                # The spoken turn is over once its answer is done and its transcript (or its
                # failure) has come, in whichever order the variant sends them.
                await session.until(
                    lambda: (
                        session.count(is_control("text_done")) == 1
                        and session.count(
                            lambda m: is_transcription(m) or is_transcription_failed(m)
                        )
                        == 1
                    )
                )
                await browser.send_text("and now in writing")
                await session.until(lambda: session.count(is_control("text_done")) == 2)
                # The typed answer's audio may still be on its way: all of it comes.
                produced = len(upstream_audio(record))
                await session.until(lambda: len(session.audio) >= produced)
        nursery.cancel_scope.cancel()
    failed = any(e["type"] == FAILED for e in record.sent)
    assert session.count(is_transcription_failed) == int(failed)
    assert session.count(is_transcription) == int(not failed)
    assert session.count(lambda m: m["type"] == "error") == int(failed)
    check_rules(session, record)


@pytest.mark.parametrize(("variant", "seed"), CASES, ids=[f"{v.value}-{s}" for v, s in CASES])
async def test_the_browser_protocols_rules_hold_in_every_variant(
    fake: FakeUpstream, variant: Variant, seed: int
) -> None:
    await converse(fake, f"{variant}-seed-{seed}", Dialect.GA)


@pytest.mark.parametrize("variant", [Variant.LATE_TRANSCRIPTION, Variant.TRANSCRIPTION_FAILED])
async def test_the_rules_hold_on_an_azure_preview_deployment(
    fake: FakeUpstream, variant: Variant
) -> None:
    await converse(fake, f"{variant}-seed-3", Dialect.BETA)


def upstream_order(model: str) -> list[str]:
    """The event types the fake sends for the spoken turn above (engine only, no clock)."""
    engine = Engine("ga", model)
    engine.open()
    engine.receive(json.dumps(session_update(SessionSettings(), Dialect.GA)))
    pcm = speech_like_pcm(lead_silence_ms=200, speech_ms=600, tail_silence_ms=700)
    out = engine.receive(encode_audio_append(base64.b64encode(pcm).decode()))
    return [e["type"] for e in out if isinstance(e, dict)]


def test_the_cases_meet_every_order_the_rules_are_about() -> None:
    """Else the rules above would hold trivially: among the cases, a transcription comes
    before the response, one mid-response, one after response.done, and one fails."""
    places = set()
    for variant, seed in CASES:
        kinds = upstream_order(f"{variant}-seed-{seed}")
        for kind in (TRANSCRIBED, FAILED):
            if kind in kinds:
                at = kinds.index(kind)
                place = (
                    "before"
                    if "response.created" not in kinds[:at]
                    else "after_done"
                    if "response.done" in kinds[:at]
                    else "mid"
                )
                places.add((kind, place))
    assert {place for _, place in places} == {"before", "mid", "after_done"}
    assert FAILED in {kind for kind, _ in places}

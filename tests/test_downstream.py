"""The session's downstream queue: byte-bounded, and queued assistant audio merged into larger
frames (in order, never across items or other messages)."""

from __future__ import annotations

from typing import Any

import pytest

from trio_relay.browser import AssistantAudio, TextDelta
from trio_relay.config import Limits, RelayConfig, openai_target
from trio_relay.errors import SlowClient
from trio_relay.session import MERGED_AUDIO_BYTES, Session


def session(**limits: Any) -> Session:
    target = openai_target("http://127.0.0.1:9/v1", "m", "k")
    config = RelayConfig(upstream=target, limits=Limits(**limits))
    return Session(client=None, config=config, target=target)  # type: ignore[arg-type]


async def test_queued_audio_of_one_item_goes_out_as_one_frame_in_order() -> None:
    s = session()
    for message in (
        AssistantAudio(b"\x01\x01", "a"),
        AssistantAudio(b"\x02\x02", "a"),
        AssistantAudio(b"\x03\x03", "b"),
        TextDelta("a-0", "hi"),
        AssistantAudio(b"\x04\x04", "b"),
    ):
        s._queue_downstream(message)
    sent = [s._next_downstream() for _ in range(4)]
    assert [data for data, _ in sent] == [
        b"\x01\x01\x02\x02",
        b"\x03\x03",
        '{"type":"text_delta","id":"a-0","delta":"hi"}',
        b"\x04\x04",
    ]
    assert sent[0][1] == AssistantAudio(b"\x01\x01\x02\x02", "a")


async def test_merged_frames_stay_bounded() -> None:
    s = session(downstream_buffer_ms=10_000)
    chunk = bytes(4800)
    for _ in range(40):  # 4 s of audio queued
        s._queue_downstream(AssistantAudio(chunk, "a"))
    first, _ = s._next_downstream()
    assert MERGED_AUDIO_BYTES <= len(first) < MERGED_AUDIO_BYTES + len(chunk)


async def test_the_buffer_is_bounded_in_bytes() -> None:
    s = session(downstream_buffer_ms=100)  # 4800 bytes
    s._queue_downstream(AssistantAudio(bytes(4800), "a"))
    with pytest.raises(SlowClient):
        s._queue_downstream(AssistantAudio(b"\x00\x00", "a"))


def test_close_reasons_fit_the_frame_and_end_at_a_word() -> None:
    from trio_relay.session import close_reason

    assert close_reason("") is None
    assert close_reason("short") == "short"
    long = "upstream refused the connection: " + "é word " * 40
    reason = close_reason(long)
    assert reason is not None and len(reason.encode()) <= 123 and reason.endswith("...")
    assert long.startswith(reason[:-3])

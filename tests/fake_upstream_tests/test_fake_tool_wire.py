"""Function calling through the fake's real server over loopback: a call and the reply to its
output, and what ``spoken_texts`` (``--spoken-text``) makes a spoken turn say."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from fake_support import (
    append_event,
    function_output,
    function_tool,
    session_update,
    speech_pcm,
    user_text,
    with_tools,
)
from trio_websocket import WebSocketConnection, open_websocket_url

from fake_upstream import FakeUpstream, FakeUpstreamOptions, open_fake_upstream
from fake_upstream.__main__ import parse_args

STEP_S = 5.0
BEARER = [(b"authorization", b"Bearer sk-test")]
GA = "/v1/realtime?model=gpt-realtime"
TOOLS = [function_tool("get_time")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    options = FakeUpstreamOptions(spoken_texts=("what time is it in Sydney?",))
    async with open_fake_upstream(options=options) as fake:
        yield fake


async def until(ws: WebSocketConnection, kind: str) -> list[dict[str, Any]]:
    """Events up to and including the first of ``kind``."""
    seen: list[dict[str, Any]] = []
    with trio.fail_after(STEP_S):
        while not seen or seen[-1]["type"] != kind:
            seen.append(json.loads(await ws.get_message()))
    return seen


async def send(ws: WebSocketConnection, event: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(event))


async def test_a_function_call_round_trip_over_the_wire(fake: FakeUpstream) -> None:
    async with open_websocket_url(fake.url + GA, extra_headers=BEARER) as ws:
        await until(ws, "session.created")
        await send(ws, with_tools(session_update("ga", modality="text"), TOOLS))
        await until(ws, "session.updated")
        await send(ws, user_text("What time is it in Tokyo?"))
        await send(ws, {"type": "response.create"})
        called = await until(ws, "response.done")
        done = next(e for e in called if e["type"] == "response.function_call_arguments.done")
        assert (done["name"], done["arguments"]) == ("get_time", '{"timezone":"Asia/Tokyo"}')
        output = '{"timezone":"Asia/Tokyo","time":"21:00"}'
        await send(ws, function_output(done["call_id"], output))
        await until(ws, "conversation.item.done")
        await send(ws, {"type": "response.create"})
        reply = await until(ws, "response.done")
    text = next(e["text"] for e in reply if e["type"] == "response.output_text.done")
    assert text == f"The get_time tool says: {output}"
    record = fake.connections[0]
    assert [e["type"] for e in record.received].count("response.create") == 2


async def test_spoken_texts_are_what_each_connections_spoken_turns_say(
    fake: FakeUpstream,
) -> None:
    pcm = speech_pcm()
    for _ in range(2):  # every connection starts from the first text
        async with open_websocket_url(fake.url + GA, extra_headers=BEARER) as ws:
            await until(ws, "session.created")
            await send(ws, with_tools(session_update("ga"), TOOLS))
            await until(ws, "session.updated")
            for start in range(0, len(pcm), 4800):
                await send(ws, append_event(pcm[start : start + 4800]))
            turn = await until(ws, "response.done")
        transcript = next(
            e["transcript"]
            for e in turn
            if e["type"] == "conversation.item.input_audio_transcription.completed"
        )
        assert transcript == "what time is it in Sydney?"
        call = next(e for e in turn if e["type"] == "response.function_call_arguments.done")
        assert call["arguments"] == '{"timezone":"Australia/Sydney"}'


def test_the_cli_takes_spoken_texts_in_order() -> None:
    args = parse_args(["--spoken-text", "roll a die", "--spoken-text", "call get_time {}"])
    assert args.spoken_text == ["roll a die", "call get_time {}"]
    assert parse_args([]).spoken_text == []

"""The official ``openai`` SDK's realtime client (asyncio + websockets, an implementation that is
neither ours nor the fake's Trio one) against the fake upstream over ``wss://`` with a test CA:
a text turn and a spoken turn complete, and every event the fake sends validates strictly
against the SDK's own typed models, so the fake speaks the GA protocol the SDK knows."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import openai
import pydantic
import pytest
import trio
import trustme
from harness import speech_like_pcm
from openai.types.realtime import RealtimeServerEvent

from fake_upstream import FakeUpstream, open_fake_upstream

TURN_TIMEOUT_S = 20.0
STRICT = pydantic.TypeAdapter(RealtimeServerEvent)
PCM = {"type": "audio/pcm", "rate": 24000}


@pytest.fixture
async def tls_fake() -> AsyncIterator[tuple[FakeUpstream, ssl.SSLContext]]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    async with open_fake_upstream(ssl_context=server) as fake:
        yield fake, client


def session(modality: str) -> Any:  # a RealtimeSessionCreateRequestParam
    return {
        "type": "realtime",
        "output_modalities": [modality],
        "instructions": "Be brief.",
        "audio": {
            "input": {
                "format": PCM,
                "transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
            },
            "output": {"format": PCM, "voice": "alloy"},
        },
    }


async def converse(url: str, context: ssl.SSLContext, spoken: bool) -> list[tuple[str, Any]]:
    """One turn with the SDK (in its own asyncio loop): every event as (raw JSON, SDK parse)."""
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=url.replace("wss://", "https://"))
    seen: list[tuple[str, Any]] = []
    options: Any = {"ssl": context}  # passed to websockets' connect
    async with asyncio.timeout(TURN_TIMEOUT_S):
        realtime = client.realtime
        async with realtime.connect(
            model="gpt-realtime", websocket_connection_options=options
        ) as connection:

            async def until(kind: str) -> None:
                while not seen or seen[-1][1].type != kind:
                    raw = (await connection.recv_bytes()).decode()
                    seen.append((raw, connection.parse_event(raw)))

            await until("session.created")
            await connection.session.update(session=session("audio" if spoken else "text"))
            await until("session.updated")
            if spoken:
                pcm = speech_like_pcm()
                for start in range(0, len(pcm), 4800):
                    chunk = base64.b64encode(pcm[start : start + 4800]).decode()
                    await connection.input_audio_buffer.append(audio=chunk)
            else:
                await connection.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "What is Trio?"}],
                    }
                )
                await connection.response.create()
            await until("response.done")
    return seen


async def turn(tls_fake: tuple[FakeUpstream, ssl.SSLContext], spoken: bool) -> list[Any]:
    fake, context = tls_fake
    with trio.fail_after(TURN_TIMEOUT_S + 5):
        seen = await trio.to_thread.run_sync(
            lambda: asyncio.run(converse(f"{fake.url}/v1", context, spoken))
        )
    for raw, parsed in seen:
        strict = STRICT.validate_json(raw)  # raises on any field the SDK's model refuses
        assert type(parsed) is type(strict), raw  # the SDK's lenient parse found the same model
        assert isinstance(parsed, pydantic.BaseModel) and not parsed.model_extra, raw
    record = fake.connections[0]
    with trio.fail_after(TURN_TIMEOUT_S):
        await record.closed.wait()
    assert record.close_code == 1000
    assert [json.loads(raw) for raw, _ in seen] == record.sent[: len(seen)]  # every one, in order
    return [parsed for _, parsed in seen]


async def test_the_sdk_completes_a_text_turn_over_wss(
    tls_fake: tuple[FakeUpstream, ssl.SSLContext],
) -> None:
    events = await turn(tls_fake, spoken=False)
    kinds = [e.type for e in events]
    assert "response.output_text.delta" in kinds
    assert events[-1].response.status == "completed"


async def test_the_sdk_completes_a_spoken_turn_over_wss(
    tls_fake: tuple[FakeUpstream, ssl.SSLContext],
) -> None:
    events = await turn(tls_fake, spoken=True)
    kinds = [e.type for e in events]
    for kind in (
        "input_audio_buffer.speech_started",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.output_audio.delta",
    ):
        assert kind in kinds
    assert events[-1].response.status == "completed"

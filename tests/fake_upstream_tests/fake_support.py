"""Helpers for the fake upstream's tests: synthetic speech, session shapes a relay sends, and a
synchronous driver for the engine."""

from __future__ import annotations

import base64
import json
import math
import random
import struct
from collections.abc import Sequence
from typing import Any

from fake_upstream.engine import Engine, Output
from fake_upstream.protocol import DialectName

RATE = 24000
BYTES_PER_MS = 48
DIALECTS: list[DialectName] = ["ga", "beta"]

AUDIO_DELTA = {"ga": "response.output_audio.delta", "beta": "response.audio.delta"}
TRANSCRIPT_DELTA = {
    "ga": "response.output_audio_transcript.delta",
    "beta": "response.audio_transcript.delta",
}
TEXT_DELTA = {"ga": "response.output_text.delta", "beta": "response.text.delta"}
ITEM_ADDED = {"ga": "conversation.item.added", "beta": "conversation.item.created"}


def speech_pcm(
    lead_ms: int = 500, speech_ms: int = 1000, tail_ms: int = 500, amplitude: int = 8000
) -> bytes:
    """PCM16 24 kHz: silence, a noisy 200 Hz tone (a stand-in for a voice), silence."""
    noise = random.Random(1234)
    samples = [0] * (RATE * lead_ms // 1000)
    for n in range(RATE * speech_ms // 1000):
        tone = math.sin(2 * math.pi * 200 * n / RATE)
        value = amplitude * (0.8 * tone + 0.2 * noise.uniform(-1, 1))
        samples.append(int(value))
    samples += [0] * (RATE * tail_ms // 1000)
    return struct.pack(f"<{len(samples)}h", *samples)


def session_update(
    dialect: DialectName,
    *,
    modality: str = "audio",
    transcription: bool = True,
    turn_detection: dict[str, Any] | None | bool = True,
) -> dict[str, Any]:
    """A ``session.update`` shaped as the relay sends it (protocol.md, section 2)."""
    detection: dict[str, Any] | None
    if turn_detection is True:
        detection = {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
            "create_response": True,
            "interrupt_response": True,
        }
    else:
        detection = turn_detection or None
    whisper = {"model": "whisper-1"} if transcription else None
    if dialect == "ga":
        pcm = {"type": "audio/pcm", "rate": 24000}
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": [modality],
            "instructions": "Be brief.",
            "audio": {
                "input": {"format": pcm, "transcription": whisper, "turn_detection": detection},
                "output": {"format": pcm, "voice": "alloy"},
            },
        }
    else:
        session = {
            "modalities": ["text", "audio"] if modality == "audio" else ["text"],
            "instructions": "Be brief.",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": whisper,
            "turn_detection": detection,
        }
    return {"type": "session.update", "session": session}


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def append_event(pcm: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}


def events(outputs: Sequence[Output]) -> list[dict[str, Any]]:
    return [output for output in outputs if isinstance(output, dict)]


def kinds(outputs: Sequence[Output]) -> list[str]:
    return [event["type"] for event in events(outputs)]


def of_kind(outputs: Sequence[Output], kind: str) -> list[dict[str, Any]]:
    return [event for event in events(outputs) if event["type"] == kind]


def send(engine: Engine, event: dict[str, Any]) -> list[Output]:
    return engine.receive(json.dumps(event))


def started(
    dialect: DialectName, model: str = "gpt-realtime", **kwargs: Any
) -> tuple[Engine, list[Output]]:
    """An engine past the handshake and the relay's ``session.update``."""
    update = kwargs.pop("update", None) or session_update(dialect)
    engine = Engine(dialect, model, **kwargs)
    outputs = engine.open()
    outputs += send(engine, update)
    return engine, outputs


def append_all(engine: Engine, pcm: bytes, frame_bytes: int = 4800) -> list[Output]:
    outputs: list[Output] = []
    for start in range(0, len(pcm), frame_bytes):
        outputs += send(engine, append_event(pcm[start : start + frame_bytes]))
    return outputs


def audio_of(outputs: Sequence[Output], dialect: DialectName) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in of_kind(outputs, AUDIO_DELTA[dialect]))


def take(engine: Engine, count: int) -> list[Output]:
    """The next ``count`` outputs, as the server would send them one by one."""
    outputs: list[Output] = []
    for _ in range(count):
        output = engine.next_output()
        assert output is not None
        outputs.append(output)
    return outputs


def function_tool(name: str) -> dict[str, Any]:
    """A function tool as a relay declares it in ``session.tools``."""
    return {
        "type": "function",
        "name": name,
        "description": f"The {name} tool.",
        "parameters": {"type": "object", "properties": {}},
    }


def with_tools(
    update: dict[str, Any], tools: list[dict[str, Any]], tool_choice: Any = None
) -> dict[str, Any]:
    """``update`` (a ``session.update``) declaring these tools (and this tool choice)."""
    session = {**update["session"], "tools": tools}
    if tool_choice is not None:
        session["tool_choice"] = tool_choice
    return {**update, "session": session}


def function_output(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def said_in(outputs: Sequence[Output], dialect: DialectName) -> str:
    """What the responses in ``outputs`` said, as text or as the transcript of their audio."""
    kinds = (TEXT_DELTA[dialect], TRANSCRIPT_DELTA[dialect])
    return "".join(e["delta"] for e in events(outputs) if e["type"] in kinds)

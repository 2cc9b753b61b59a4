"""``trio-relay-probe URL``: a scripted browser client that checks a running relay end to end.

It waits for ``connected``, sends one text turn and prints the streamed answer, then streams a
synthetic spoken turn (20 ms PCM16 frames at real-time pace) and prints the transcription and how
much assistant audio came back. Exit code 0 when every step arrived within the time limit.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from collections.abc import Sequence
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

RATE = 24000
FRAME_MS = 20


def speech_like_pcm(
    *, lead_silence_ms: int = 400, speech_ms: int = 1200, tail_silence_ms: int = 900
) -> bytes:
    """PCM16 24 kHz mono: silence, a loud voiced-like signal (harmonics with vibrato), silence."""
    samples: list[int] = [0] * (RATE * lead_silence_ms // 1000)
    for n in range(RATE * speech_ms // 1000):
        t = n / RATE
        f0 = 160 + 20 * math.sin(2 * math.pi * 3 * t)
        value = sum(math.sin(2 * math.pi * f0 * k * t) / k for k in (1, 2, 3, 4))
        samples.append(int(6000 * value))
    samples += [0] * (RATE * tail_silence_ms // 1000)
    return struct.pack(f"<{len(samples)}h", *samples)


async def _next_text(ws: WebSocketConnection, audio: bytearray) -> dict[str, Any]:
    while True:
        frame = await ws.get_message()
        if isinstance(frame, bytes):
            audio += frame
            continue
        message: dict[str, Any] = json.loads(frame)
        if message.get("type") == "error":
            print(f"  error from relay: {message.get('code')}: {message.get('message')}")
        return message


async def probe(url: str, step_timeout_s: float) -> None:
    audio = bytearray()
    async with open_websocket_url(url) as ws:
        with trio.fail_after(step_timeout_s):
            hello = await _next_text(ws, audio)
            if hello.get("action") != "connected":
                raise RuntimeError(f"expected 'connected', got {hello}")
            print(f"connected: {hello.get('greeting')!r}")

            await ws.send_message(json.dumps({"type": "user_message", "text": "Hello, relay!"}))
            answer = ""
            while (message := await _next_text(ws, audio)).get("action") != "text_done":
                answer += message.get("delta", "")
            print(f"text turn: assistant said {answer!r} (+{len(audio)} bytes of audio)")

        audio.clear()
        pcm = speech_like_pcm()
        frame_bytes = FRAME_MS * RATE * 2 // 1000
        start = trio.current_time()
        for i in range(0, len(pcm), frame_bytes):
            await trio.sleep_until(start + i / (RATE * 2))
            await ws.send_message(pcm[i : i + frame_bytes])
        with trio.fail_after(step_timeout_s):
            transcript, answer = None, ""
            while (message := await _next_text(ws, audio)).get("action") != "text_done":
                if message.get("type") == "transcription":
                    transcript = message.get("text")
                answer += message.get("delta", "")
            print(f"audio turn: transcription {transcript!r}, assistant said {answer!r}")
            print(f"audio turn: {len(audio)} bytes ({len(audio) / (RATE * 2):.2f} s) of audio back")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trio-relay-probe", description=__doc__)
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8080/realtime")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per step")
    args = parser.parse_args(argv)
    try:
        trio.run(probe, args.url, args.timeout)
    except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError, RuntimeError) as exc:
        print(f"trio-relay-probe: failed: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Replaying recorded sessions: the fake upstream serves a recording's upstream stream, a browser
sends the recording's ``client_in`` frames, and what the browser receives is the recording's
``client_out`` stream (text byte for byte; audio equal in bytes when kept, in length when
redacted; the same close code)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import trio
from harness import open_browser, start_relay
from trio_websocket import ConnectionClosed, WebSocketConnection

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from fake_upstream.replay import load_replay
from trio_relay.config import RelayConfig, openai_target

RECORDINGS = Path(__file__).resolve().parent.parent / "fixtures" / "recordings"
FIXTURES = sorted(path.stem for path in RECORDINGS.glob("*.jsonl"))
REPLAY_TIMEOUT_S = 10.0

# A browser stream, normalised: text frames as they are, each run of binary frames joined
# (the relay merges queued audio into larger frames, as timing allows).
Stream = list[tuple[str, str | bytes | int]]


def browser_stream(lines: list[dict[str, Any]], *, audio_kept: bool) -> Stream:
    """The recorded client_out lines as a :data:`Stream` (redacted audio as its length)."""
    stream: Stream = []
    for line in lines:
        if "text" in line:
            stream.append(("text", line["text"]))
        elif "audio_bytes" in line:
            audio: bytes | int = (
                base64.b64decode(line["audio"]) if audio_kept else int(line["audio_bytes"])
            )
            _add_audio(stream, audio)
    return stream


def _add_audio(stream: Stream, audio: bytes | int) -> None:
    if stream and stream[-1][0] == "audio":
        previous = stream[-1][1]
        assert not isinstance(previous, str)
        joined = previous + audio if isinstance(audio, bytes) else int(previous) + audio  # type: ignore[operator]
        stream[-1] = ("audio", joined)
    else:
        stream.append(("audio", audio))


def received_stream(frames: list[str | bytes], *, audio_kept: bool) -> Stream:
    stream: Stream = []
    for frame in frames:
        if isinstance(frame, str):
            stream.append(("text", frame))
        else:
            _add_audio(stream, frame if audio_kept else len(frame))
    return stream


def progress(frames: list[str | bytes]) -> tuple[int, int]:
    """How far a browser stream has got: text frames and audio bytes."""
    texts = sum(isinstance(frame, str) for frame in frames)
    return texts, sum(len(frame) for frame in frames if isinstance(frame, bytes))


def recorded_progress(lines: list[dict[str, Any]]) -> tuple[int, int]:
    return sum("text" in line for line in lines), sum(line.get("audio_bytes", 0) for line in lines)


def client_frame(line: dict[str, Any]) -> str | bytes:
    if "text" in line:
        return str(line["text"])
    if "audio" in line:
        return base64.b64decode(line["audio"])
    return bytes(int(line["audio_bytes"]))  # redacted: silence of the recorded length


class ReplayBrowser:
    """Reads everything the relay sends, so the driver can wait for a point of the stream."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.frames: list[str | bytes] = []
        self.close_code: int | None = None
        self._changed = trio.Event()

    async def read(self) -> None:
        try:
            while True:
                self.frames.append(await self.ws.get_message())
                self._changed.set()
                self._changed = trio.Event()
        except ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason else None
            self._changed.set()

    async def reached(self, point: tuple[int, int]) -> None:
        texts, audio = point
        while self.close_code is None:
            got_texts, got_audio = progress(self.frames)
            if got_texts >= texts and got_audio >= audio:
                return
            await self._changed.wait()


async def replay(name: str, nursery: trio.Nursery) -> tuple[list[dict[str, Any]], ReplayBrowser]:
    text = (RECORDINGS / f"{name}.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    options = FakeUpstreamOptions(replay=load_replay(text), validate_client_events=False)
    async with open_fake_upstream(options=options) as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-replay-key-0000")
        port = await start_relay(nursery, RelayConfig(upstream=target))
        with trio.fail_after(REPLAY_TIMEOUT_S):
            async with open_browser(f"ws://127.0.0.1:{port}/realtime") as ws_browser:
                browser = ReplayBrowser(ws_browser.ws)
                async with trio.open_nursery() as reading:
                    reading.start_soon(browser.read)
                    outs: list[dict[str, Any]] = []
                    for line in lines:
                        if line["dir"] == "client_out":
                            outs.append(line)
                        elif line["dir"] == "client_in":
                            # Sent where the recorded browser sent it: after what it had got.
                            await browser.reached(recorded_progress(outs))
                            await ws_browser.ws.send_message(client_frame(line))
                    await browser.reached(recorded_progress(outs))
                    if not any("close" in line for line in outs):
                        await ws_browser.ws.aclose()  # the recorded browser left first
                    reading.cancel_scope.deadline = trio.current_time() + REPLAY_TIMEOUT_S
    return lines, browser


@pytest.mark.parametrize("name", FIXTURES)
async def test_replayed_session_gives_the_browser_the_recorded_stream(
    nursery: trio.Nursery, name: str
) -> None:
    lines, browser = await replay(name, nursery)
    audio_kept = lines[0]["audio"] == "kept"
    outs = [line for line in lines if line["dir"] == "client_out"]
    expected = browser_stream(outs, audio_kept=audio_kept)
    assert received_stream(browser.frames, audio_kept=audio_kept) == expected
    closes = [line["close"] for line in outs if "close" in line]
    if closes:
        assert browser.close_code == closes[0]["code"]


def test_the_fixtures_cover_text_audio_barge_in_and_upstream_failures() -> None:
    assert {"text_turn", "audio_turn", "barge_in", "upstream_error", "upstream_drop"} <= set(
        FIXTURES
    )
    for name in FIXTURES:
        text = (RECORDINGS / f"{name}.jsonl").read_text()
        assert len(text) < 64 * 1024, f"{name}: fixtures stay small"
        kept = json.loads(text.splitlines()[0])["audio"] == "kept"
        assert kept == (name == "audio_turn"), f"{name}: audio is kept only in the short turn"

"""One load-generator process (a *shard*): N WebSocket sessions on asyncio + ``websockets``.

A shard speaks either protocol to either target:

- ``relay``: the browser protocol (protocol.md section 1) to trio-relay: binary PCM16 frames
  in, ``control/speech_started`` and binary audio out; ``user_message`` in, ``text_delta`` and
  ``control/text_done`` out.
- ``direct``: the Realtime protocol straight to the fake upstream (the no-relay floor):
  ``session.update``, one ``input_audio_buffer.append`` per 20 ms frame, and
  ``input_audio_buffer.speech_started`` / ``response.output_audio.delta`` back; for text,
  ``conversation.item.create`` + ``response.create``, then the transcript/text deltas and their
  ``.done`` (the relay's ``text_done`` comes from that same event).

Life of a shard (driven by :mod:`bench.orchestrate` over stdin/stdout, one JSON object a line):
connect every session, print ``{"event": "ready", ...}``, read the common start time ``t0`` (a
``time.monotonic()`` value: CLOCK_MONOTONIC is one clock for every process on the machine), run
the workload on an absolute schedule, print ``{"event": "result", ...}`` and exit.

Only what happens inside the measured window ``[t0 + warmup, t0 + warmup + duration)`` counts.
Audio frames are written by one task per shard from a heap of due times, pre-framed and
pre-masked, so a frame costs the generator one ``write``; a write never waits, so a frame's
lateness is the generator's own (reported apart, with a loop-lag probe), while a server that
stops reading shows as frames written into a full socket buffer, and in the turn latencies.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import json
import math
import struct
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

RATE = 24000
BYTES_PER_MS = RATE * 2 // 1000
FRAME_MS = 20  # 960 bytes: 50 frames a second per session
TURN_BYTES = 48000  # fake-upstream --turn-trigger-bytes: one turn per second of audio
TURN_S = TURN_BYTES / BYTES_PER_MS / 1000  # 1.0: sessions start spread over one turn period

# "Keeps real time": no frame more than this late, every turn answered within TURN_LIMIT_S.
FRAME_LATE_LIMIT_S = 0.100
TURN_LIMIT_S = 0.500

MODEL = "gpt-realtime"
TEXT = "ping"


def tone(frame_ms: int) -> bytes:
    """A frame of a quiet 220 Hz tone (the content does not matter to the benchmark fake)."""
    count = frame_ms * RATE // 1000
    samples = [int(3000 * math.sin(2 * math.pi * 220 * n / RATE)) for n in range(count)]
    return struct.pack(f"<{count}h", *samples)


def append_event(pcm: bytes) -> str:
    return '{"type":"input_audio_buffer.append","audio":"' + base64.b64encode(pcm).decode() + '"}'


USER_MESSAGE = json.dumps({"type": "user_message", "text": TEXT})
ITEM_CREATE = json.dumps(
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": TEXT}],
        },
    }
)
RESPONSE_CREATE = '{"type":"response.create"}'


def session_update() -> str:
    """What the relay sends upstream with its default settings (GA dialect)."""
    audio_format = {"type": "audio/pcm", "rate": RATE}
    return json.dumps(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["audio"],
                "instructions": "You are a helpful assistant.",
                "audio": {
                    "input": {
                        "format": audio_format,
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 500,
                            "create_response": True,
                            "interrupt_response": True,
                        },
                    },
                    "output": {"format": audio_format, "voice": "alloy"},
                },
            },
        }
    )


def event_type(message: str) -> str:
    """The ``type`` of a Realtime event; cheap for the fake's compact ``{"type":"..."`` prefix."""
    if message.startswith('{"type":"'):
        end = message.find('"', 9)
        if end > 0:
            return message[9:end]
    try:
        value = json.loads(message).get("type")
    except (ValueError, AttributeError):
        return "?"
    return value if isinstance(value, str) else "?"


def browser_kind(message: str) -> str:
    """A relay text message's kind: its ``type``, or its ``action`` for ``control`` messages."""
    try:
        data = json.loads(message)
    except ValueError:
        return "?"
    if not isinstance(data, dict):
        return "?"
    kind = data.get("action") if data.get("type") == "control" else data.get("type")
    return kind if isinstance(kind, str) else "?"


@dataclass
class ShardSpec:
    target: str  # "relay" or "direct"
    url: str
    mode: str  # "audio" or "text"
    sessions: int
    frame_ms: int = FRAME_MS  # audio frame length; must divide a turn (1000 ms) evenly
    first_index: int = 0  # global index of this shard's first session (for the start spread)
    total_sessions: int = 0  # sessions over all shards
    warmup_s: float = 5.0
    duration_s: float = 15.0
    grace_s: float = 2.0  # after the window: time for the last turns' answers
    text_interval_s: float = 0.0  # text mode: a turn every this many seconds; 0 = closed loop
    turn_timeout_s: float = 5.0
    connect_timeout_s: float = 30.0
    connect_concurrency: int = 32
    api_key: str = "bench"


@dataclass
class SessionResult:
    index: int
    ok: bool = True
    failure: str | None = None
    # audio mode
    frames: int = 0
    late_frames: int = 0  # measured frames written more than 100 ms after their schedule
    max_sent_late_ms: float = 0.0  # writes never wait: this lateness is the generator's own
    backpressured_frames: int = 0  # written while the socket buffer was full (server not reading)
    turns: int = 0  # turns completed by a measured frame
    missed_turns: int = 0  # ... of which no speech_started or no reply audio came back at all
    speech_started_ms: list[float] = field(default_factory=list)
    first_audio_ms: list[float] = field(default_factory=list)
    audio_in_bytes: int = 0
    # text mode
    first_text_ms: list[float] = field(default_factory=list)
    text_done_ms: list[float] = field(default_factory=list)
    max_send_late_ms: float = 0.0  # paced text: how late turns were started
    errors: dict[str, int] = field(default_factory=dict)

    def kept_real_time(self) -> bool:
        if not self.ok:
            return False
        if self.frames and self.max_sent_late_ms > FRAME_LATE_LIMIT_S * 1000:
            return False
        if self.backpressured_frames:
            return False
        if self.missed_turns:
            return False
        limit = TURN_LIMIT_S * 1000
        return all(v <= limit for v in self.speech_started_ms) and all(
            v <= limit for v in self.first_audio_ms
        )


class Window:
    def __init__(self, t0: float, warmup_s: float, duration_s: float) -> None:
        self.t0 = t0
        self.start = t0 + warmup_s
        self.end = self.start + duration_s

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end


class Session:
    """One connected session and what it measured."""

    def __init__(self, spec: ShardSpec, index: int, ws: ClientConnection) -> None:
        self.spec = spec
        self.index = index
        self.ws = ws
        self.result = SessionResult(index)
        self.errors: Counter[str] = Counter()
        total = max(spec.total_sessions, spec.sessions)
        # Real clients are not in phase: spread session starts (and so frames and turns).
        self.offset = TURN_S * (spec.first_index + index) / total

    # --- audio --------------------------------------------------------------------------------

    def start_audio(self) -> None:
        spec = self.spec
        relay = spec.target == "relay"
        pcm = tone(spec.frame_ms)
        if relay:
            payload, opcode = pcm, Opcode.BINARY
        else:
            payload, opcode = append_event(pcm).encode(), Opcode.TEXT
        # The frame is masked once and written as is: the server never checks that masking keys
        # vary, and the generator saves the masking and framing work of every send.
        self.wire_frame = Frame(opcode, payload).serialize(mask=True)
        self.turn_frames = TURN_BYTES // (spec.frame_ms * BYTES_PER_MS)
        self.sent_frames = 0
        self.turn_sent: dict[int, float] = {}  # turn number (1-based) -> its last frame's send
        self.speech_at: dict[int, float] = {}
        self.audio_at: dict[int, float] = {}
        self.receiver = asyncio.create_task(self._receive_audio(self.speech_at, self.audio_at))

    def send_frame(self, scheduled: float, window: Window) -> bool:
        """Write the next frame now (it was due at ``scheduled``); False once the socket closed."""
        transport = self.ws.transport
        if transport.is_closing():
            return False
        now = time.monotonic()
        backlog = transport.get_write_buffer_size()
        transport.write(self.wire_frame)
        self.sent_frames += 1
        if self.sent_frames % self.turn_frames == 0:
            self.turn_sent[self.sent_frames // self.turn_frames] = now
        if scheduled >= window.start:
            r = self.result
            late_ms = (now - scheduled) * 1000
            r.frames += 1
            if late_ms > FRAME_LATE_LIMIT_S * 1000:
                r.late_frames += 1
            if late_ms > r.max_sent_late_ms:
                r.max_sent_late_ms = late_ms
            if backlog:  # the kernel's socket buffer is full: the server is not reading
                r.backpressured_frames += 1
        return True

    async def finish_audio(self, window: Window) -> None:
        receiver = self.receiver
        try:
            await asyncio.wait(
                [receiver], timeout=max(0.0, window.end + self.spec.grace_s - time.monotonic())
            )
        finally:
            receiver.cancel()
        r = self.result
        if receiver.done() and not receiver.cancelled():
            r.ok = False  # the server ended the session before the client did
            exc = receiver.exception()
            r.failure = f"closed by the server: {exc or 'normal close'}"[:300]
        for turn, sent in self.turn_sent.items():
            if sent not in window:
                continue
            r.turns += 1
            if turn not in self.speech_at or turn not in self.audio_at:
                r.missed_turns += 1
                continue
            r.speech_started_ms.append((self.speech_at[turn] - sent) * 1000)
            r.first_audio_ms.append((self.audio_at[turn] - sent) * 1000)

    async def _receive_audio(self, speech_at: dict[int, float], audio_at: dict[int, float]) -> None:
        relay = self.spec.target == "relay"
        monotonic = time.monotonic
        turn = 0  # speech_started messages seen
        waiting_audio = False
        r = self.result
        async for message in self.ws:
            if isinstance(message, bytes):  # relay: assistant audio
                r.audio_in_bytes += len(message)
                if waiting_audio:
                    audio_at[turn] = monotonic()
                    waiting_audio = False
                continue
            if relay:
                kind = browser_kind(message)
                if kind == "speech_started":
                    turn += 1
                    speech_at[turn] = monotonic()
                    waiting_audio = True
                elif kind == "error":
                    self._error(message, "code")
                continue
            kind = event_type(message)
            if kind == "response.output_audio.delta":
                r.audio_in_bytes += (len(message) - 150) * 3 // 4  # roughly: base64 payload
                if waiting_audio:
                    audio_at[turn] = monotonic()
                    waiting_audio = False
            elif kind == "input_audio_buffer.speech_started":
                turn += 1
                speech_at[turn] = monotonic()
                waiting_audio = True
            elif kind == "error":
                self._error(message, None)

    def _error(self, message: str, field_name: str | None) -> None:
        try:
            data = json.loads(message)
            code = data.get(field_name) if field_name else (data.get("error") or {}).get("code")
            upstream = data.get("upstream_code")
            name = f"{code}/{upstream}" if upstream else str(code)
        except (ValueError, AttributeError):
            name = "unparsed"
        self.errors[name] += 1

    # --- text ---------------------------------------------------------------------------------

    async def run_text(self, window: Window) -> None:
        r = self.result
        interval = self.spec.text_interval_s
        first = window.t0 + self.offset * (interval / TURN_S if interval else 0.0)
        k = 0
        while True:
            now = time.monotonic()
            if interval:
                scheduled = first + k * interval
                if scheduled >= window.end:
                    break
                if scheduled > now:
                    await asyncio.sleep(scheduled - now)
            elif now >= window.end:
                break
            else:
                scheduled = now
            sent = time.monotonic()
            k += 1
            try:
                async with asyncio.timeout(self.spec.turn_timeout_s):
                    first_text, text_done = await self._text_turn()
            except TimeoutError:
                if sent in window:
                    r.missed_turns += 1
                    r.turns += 1
                continue
            if sent not in window:
                continue
            r.turns += 1
            r.max_send_late_ms = max(r.max_send_late_ms, (sent - scheduled) * 1000)
            r.first_text_ms.append((first_text - sent) * 1000)
            r.text_done_ms.append((text_done - sent) * 1000)
        # Give a late answer time to arrive, so the session ends clean.
        await asyncio.sleep(max(0.0, window.end - time.monotonic()))

    async def _text_turn(self) -> tuple[float, float]:
        """One text turn: (first text delta, text done) times. The relay's client starts its
        next turn at ``text_done`` (the relay holds a ``response.create`` until the response
        before is done); the direct client must read up to ``response.done`` itself."""
        ws = self.ws
        monotonic = time.monotonic
        first_text: float | None = None
        text_done: float | None = None
        relay = self.spec.target == "relay"
        if relay:
            await ws.send(USER_MESSAGE)
        else:
            await ws.send(ITEM_CREATE)
            await ws.send(RESPONSE_CREATE)
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                self.result.audio_in_bytes += len(message)
                continue
            if relay:
                kind = browser_kind(message)
                if kind == "text_delta":
                    first_text = first_text or monotonic()
                elif kind == "text_done":
                    assert first_text is not None, "text_done before any text_delta"
                    return first_text, monotonic()
                elif kind == "error":
                    self._error(message, "code")
                continue
            kind = event_type(message)
            if kind in ("response.output_audio_transcript.delta", "response.output_text.delta"):
                first_text = first_text or monotonic()
            elif kind in ("response.output_audio_transcript.done", "response.output_text.done"):
                text_done = monotonic()
            elif kind == "response.done":
                assert first_text is not None and text_done is not None, "incomplete response"
                return first_text, text_done
            elif kind == "error":
                self._error(message, None)


async def send_audio(sessions: list[Session], window: Window) -> None:
    """Every session's frames on its absolute schedule, from one task: a heap of due times.

    One wake-up sends every frame that is due, so the generator costs a ``write`` per frame and
    about one timer per millisecond, however many sessions it drives.
    """
    period = sessions[0].spec.frame_ms / 1000 if sessions else 0.0
    due = [(window.t0 + s.offset, i) for i, s in enumerate(sessions)]
    heapq.heapify(due)
    monotonic = time.monotonic
    while due:
        scheduled, i = due[0]
        now = monotonic()
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
            continue
        if sessions[i].send_frame(scheduled, window) and scheduled + period < window.end:
            heapq.heapreplace(due, (scheduled + period, i))
        else:
            heapq.heappop(due)


async def open_session(spec: ShardSpec, index: int) -> Session:
    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.target == "direct" else None
    ws = await connect(
        spec.url,
        additional_headers=headers,
        compression=None,
        proxy=None,
        max_size=None,
        ping_interval=None,
        open_timeout=spec.connect_timeout_s,
        close_timeout=2,
    )
    try:
        async with asyncio.timeout(spec.connect_timeout_s):
            if spec.target == "relay":
                first = await ws.recv()
                if not (isinstance(first, str) and '"action":"connected"' in first):
                    raise RuntimeError(f"expected connected, got {str(first)[:200]}")
            else:
                await ws.send(session_update())
                while True:
                    message = await ws.recv()
                    kind = event_type(message if isinstance(message, str) else "")
                    if kind == "session.updated":
                        break
                    if kind == "error":
                        raise RuntimeError(f"session.update failed: {str(message)[:200]}")
    except BaseException:
        await ws.close()
        raise
    return Session(spec, index, ws)


class LoopLag:
    """How late the generator's own event loop wakes up: its load, never the relay's."""

    PERIOD_S = 0.010

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self, window: Window) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.PERIOD_S)
            after = time.monotonic()
            if before in window:
                self.samples.append(max(0.0, after - before - self.PERIOD_S) * 1000)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run_shard(spec: ShardSpec) -> None:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    gate = asyncio.Semaphore(spec.connect_concurrency)

    async def opened(index: int) -> Session | str:
        async with gate:
            try:
                return await open_session(spec, index)
            except Exception as exc:  # report, never crash the shard
                return f"{type(exc).__name__}: {exc}"[:300]

    outcomes = await asyncio.gather(*(opened(i) for i in range(spec.sessions)))
    sessions = [s for s in outcomes if isinstance(s, Session)]
    failures = [s for s in outcomes if isinstance(s, str)]
    emit(
        {
            "event": "ready",
            "connected": len(sessions),
            "failed": len(failures),
            "connect_s": time.monotonic() - started,
        }
    )
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if not line.strip():
        return  # the orchestrator gave up
    window = Window(float(line), spec.warmup_s, spec.duration_s)
    lag = LoopLag()
    lag_task = asyncio.create_task(lag.run(window))

    async def run_one(session: Session) -> None:
        try:
            if spec.mode == "audio":
                await session.finish_audio(window)
            else:
                await session.run_text(window)
        except ConnectionClosed as exc:
            session.result.ok = False
            session.result.failure = f"connection closed: {exc}"[:300]
        except Exception as exc:
            session.result.ok = False
            session.result.failure = f"{type(exc).__name__}: {exc}"[:300]

    if spec.mode == "audio":
        for session in sessions:
            session.start_audio()
        await send_audio(sessions, window)
    await asyncio.gather(*(run_one(s) for s in sessions))
    lag_task.cancel()
    closing = [asyncio.create_task(s.ws.close()) for s in sessions]
    if closing:
        await asyncio.wait(closing, timeout=5)
    results = []
    for s in sessions:
        s.result.errors = dict(s.errors)
        results.append(asdict(s.result) | {"kept": s.result.kept_real_time()})
    emit(
        {
            "event": "result",
            "sessions": results,
            "connect_failures": failures,
            "loop_lag_p99_ms": percentile(lag.samples, 99),
            "loop_lag_max_ms": max(lag.samples, default=None),
        }
    )


def main(spec_json: str) -> int:
    spec = ShardSpec(**json.loads(spec_json))
    try:
        import uvloop
    except ImportError:  # optional: plain asyncio works, a little slower
        asyncio.run(run_shard(spec))
    else:
        uvloop.run(run_shard(spec))
    return 0

"""Replaying a recorded session's upstream stream (``fake-upstream --replay FILE``). Pure: no
sockets, no tasks, no clock.

The recording is the relay's (``trio-relay --record DIR``, format in ``trio_relay/record.py``;
this module reads it without importing the relay): ``upstream_out`` lines are what the relay
sent, ``upstream_in`` lines what it received. A :class:`Replay` turns them into steps: each
``upstream_out`` event is a condition the client must meet, followed by the ``upstream_in``
events recorded after it, which are sent once that condition and every one before it are met.
So the client sees exactly the recorded events, in the recorded order, each no earlier than
after the client event that preceded it in the recording.

Matching is by event ``type`` only (ids, timings and values may differ), in the recorded order;
a client event that is not the next one expected is counted in :attr:`Replayer.unexpected` and
otherwise ignored. Appended audio is matched by its running total of bytes, not by event: the
relay's coalescing (one append per read of the browser) makes the number of appends a matter of
timing, the bytes are not. ``session.created``, which the service sends on connect, is sent on
connect whatever was recorded before it.

Upstream events are sent as recorded; redacted audio (``{"redacted_audio_bytes": N}``) is sent
as N bytes of silence. A recorded non-JSON frame is sent as :class:`~.protocol.Garbage`, the
upstream's close as :class:`~.protocol.Close` (or :class:`~.protocol.Drop` without a close
frame): the same outputs the :class:`~fake_upstream.engine.Engine` gives the server, so
:class:`Replayer` plugs in where the server chooses the engine of a connection.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from typing import Any

import attrs

from .protocol import Close, Drop, Garbage, Output

APPEND = "input_audio_buffer.append"
REDACTED_AUDIO = "redacted_audio_bytes"


class ReplayError(Exception):
    """The file is not a recording this module can replay; the message says where and why."""


@attrs.frozen
class Expect:
    """The client sends an event of this type (the next one expected)."""

    type: str


@attrs.frozen
class AudioUpTo:
    """The client has appended at least this many bytes of audio in all."""

    total_bytes: int


Condition = Expect | AudioUpTo


@attrs.frozen
class Step:
    condition: Condition
    outputs: tuple[Output, ...]


@attrs.frozen
class Replay:
    """A recording, ready to serve: what to send on connect, then the steps."""

    opening: tuple[Output, ...]
    steps: tuple[Step, ...]

    def start(self) -> Replayer:
        """A fresh replay for one connection."""
        return Replayer(self)


def load_replay(text: str) -> Replay:
    """Parse a recording (the contents of a ``.jsonl`` file)."""
    opening: list[Output] = []
    steps: list[tuple[Condition, list[Output]]] = []
    audio_total = 0
    events_in = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise ReplayError(f"line {number} is not JSON") from None
        if not isinstance(entry, dict):
            raise ReplayError(f"line {number} is not a JSON object")
        direction = entry.get("dir")
        if direction == "upstream_out":
            event = entry.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                continue  # the relay sends only events; anything else cannot be expected
            if event["type"] == APPEND:
                audio_total += _audio_length(event.get("audio"))
                steps.append((AudioUpTo(audio_total), []))
            else:
                steps.append((Expect(event["type"]), []))
        elif direction == "upstream_in":
            output = _output(entry, number)
            if output is None:
                continue
            created = isinstance(output, dict) and output.get("type") == "session.created"
            if not steps or (created and not events_in):
                opening.append(output)  # said on connect
            else:
                steps[-1][1].append(output)
            events_in += isinstance(output, dict)
    return Replay(tuple(opening), tuple(Step(c, tuple(o)) for c, o in steps))


def _output(entry: dict[str, Any], number: int) -> Output | None:
    if "event" in entry:
        event = entry["event"]
        if not isinstance(event, dict):
            raise ReplayError(f"line {number}: 'event' is not a JSON object")
        return dict(_restore_audio(event))
    if "close" in entry:
        close = entry["close"]
        if close is None:
            return Drop()
        return Close(int(close["code"]), str(close.get("reason") or ""))
    if "text" in entry:
        return Garbage(str(entry["text"]))
    return None  # a binary frame: the fake has no way to send one


def _restore_audio(value: Any) -> Any:
    """Redacted audio comes back as silence of the recorded length."""
    if isinstance(value, list):
        return [_restore_audio(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {REDACTED_AUDIO}:
        return base64.b64encode(bytes(int(value[REDACTED_AUDIO]))).decode("ascii")
    return {key: _restore_audio(item) for key, item in value.items()}


def _audio_length(audio: Any) -> int:
    if isinstance(audio, dict):
        return int(audio.get(REDACTED_AUDIO, 0))
    if isinstance(audio, str):
        return len(audio) * 3 // 4 - (len(audio) - len(audio.rstrip("=")))
    return 0


class Replayer:
    """One connection's replay: the engine's interface (``open``, ``receive_frame``,
    ``next_output``, ``backlog``, ``wake_at``), answering from the recording instead of a
    script."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.unexpected: list[str] = []  # client event types that were not the next expected
        self.audio_bytes = 0  # appended by the client so far
        self._met = [False] * len(replay.steps)
        self._next_expected = self._expect_after(-1)
        self._released = 0  # steps whose outputs have been queued
        self._outbox: deque[Output] = deque()
        self._finished = False

    @property
    def backlog(self) -> int:
        return len(self._outbox)

    @property
    def wake_at(self) -> float | None:
        """A replay keeps the recorded order, not its pacing: it never waits on the clock."""
        return None

    @property
    def done(self) -> bool:
        """Every step is met and its events handed out."""
        return self._released == len(self.replay.steps) and not self._outbox

    def waiting_for(self) -> Condition | None:
        """The condition the replay waits on now (for a test's failure message)."""
        if self._released == len(self.replay.steps):
            return None
        return self.replay.steps[self._released].condition

    def open(self) -> list[Output]:
        self._release()  # steps met from the start (none, unless the recording starts oddly)
        return [*self.replay.opening, *self._drain()]

    def receive_frame(self, frame: str | bytes) -> None:
        if self._finished:
            return
        try:
            event = json.loads(frame) if isinstance(frame, str) else None
        except ValueError:
            event = None
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            self.unexpected.append("<not an event>")
            return
        assert isinstance(event, dict)
        if kind == APPEND:
            self.audio_bytes += _audio_length(event.get("audio"))
        elif self._next_expected is not None and self._expected(self._next_expected) == kind:
            self._met[self._next_expected] = True
            self._next_expected = self._expect_after(self._next_expected)
        else:
            self.unexpected.append(kind)
        self._release()

    def next_output(self) -> Output | None:
        if self._finished or not self._outbox:
            return None
        output = self._outbox.popleft()
        if isinstance(output, Close | Drop):
            self._finished = True
        return output

    def _drain(self) -> list[Output]:
        outputs = []
        while (output := self.next_output()) is not None:
            outputs.append(output)
        return outputs

    def _expected(self, index: int) -> str:
        condition = self.replay.steps[index].condition
        assert isinstance(condition, Expect)
        return condition.type

    def _expect_after(self, index: int) -> int | None:
        for later in range(index + 1, len(self.replay.steps)):
            if isinstance(self.replay.steps[later].condition, Expect):
                return later
        return None

    def _release(self) -> None:
        steps = self.replay.steps
        while self._released < len(steps):
            condition = steps[self._released].condition
            if isinstance(condition, AudioUpTo):
                if self.audio_bytes < condition.total_bytes:
                    return
            elif not self._met[self._released]:
                return
            self._outbox.extend(steps[self._released].outputs)
            self._released += 1

"""Benchmark mode: no VAD and next to no work. Every ``turn_trigger_bytes`` of appended audio is
one complete turn (speech started and stopped, committed, transcribed) answered with the same
precomputed audio: ``reply_audio_ms`` in 10 deltas, with 5 transcript deltas, between
``response.created`` and ``response.done`` (no output item or content part events, no rate
limits). The fake must not be what a benchmark of hundreds of sessions measures. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .conversation import Conversation
from .protocol import NAMES, DialectName, Output
from .responses import ResponseStream
from .scripts import BENCH_TRANSCRIPT, BYTES_PER_MS, bench_reply

BENCH_TEXT = "".join(BENCH_TRANSCRIPT)
BENCH_INPUT_TRANSCRIPT = "[bench turn]"


class BenchTurns:
    """Counts appended audio (its base64 size only: nothing is decoded) and says when a turn
    is complete."""

    def __init__(self, turn_trigger_bytes: int) -> None:
        self.turn_trigger_bytes = turn_trigger_bytes
        self._pending = 0  # bytes towards the next turn
        self._position = 0  # bytes of every completed turn

    def append(self, audio_base64: str) -> Iterator[tuple[int, int]]:
        """The (start_ms, end_ms) of each turn this audio completes."""
        padding = 2 if audio_base64.endswith("==") else 1 if audio_base64.endswith("=") else 0
        self._pending += len(audio_base64) // 4 * 3 - padding
        while self._pending >= self.turn_trigger_bytes:
            self._pending -= self.turn_trigger_bytes
            start_ms = self._position // BYTES_PER_MS
            self._position += self.turn_trigger_bytes
            yield start_ms, self._position // BYTES_PER_MS

    def answer(
        self,
        audio_base64: str,
        dialect: DialectName,
        conversation: Conversation,
        new_id: Callable[[str], str],
        voice: str,
        reply_audio_ms: int,
    ) -> list[Output]:
        """Every event of the turns this audio completes (ids from ``new_id``)."""
        outputs: list[Output] = []
        for start_ms, end_ms in self.append(audio_base64):
            item_id, reply_id = new_id("item"), new_id("item")
            previous = conversation.reserve(item_id)
            conversation.reserve(reply_id)  # nothing is kept: the benchmark runs for hours
            # ... but a client may truncate the last two replies (the one playing when the
            # next turn started, and that turn's own): their lengths are known.
            audio_ms = conversation.assistant_audio_ms
            audio_ms[reply_id] = reply_audio_ms
            while len(audio_ms) > 2:
                del audio_ms[next(iter(audio_ms))]
            outputs += bench_turn(
                dialect,
                item_id=item_id,
                previous_item_id=previous,
                response_id=new_id("resp"),
                reply_id=reply_id,
                start_ms=start_ms,
                end_ms=end_ms,
                reply_audio_ms=reply_audio_ms,
                voice=voice,
            )
        return outputs


def bench_turn(
    dialect: DialectName,
    *,
    item_id: str,
    previous_item_id: str | None,
    response_id: str,
    reply_id: str,
    start_ms: int,
    end_ms: int,
    reply_audio_ms: int,
    voice: str,
) -> list[Output]:
    """Every event of one benchmark turn, the whole response included (it is never interrupted,
    so a benchmark counts complete answers only)."""
    outputs: list[Output] = [
        {
            "type": "input_audio_buffer.speech_started",
            "audio_start_ms": start_ms,
            "item_id": item_id,
        },
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms, "item_id": item_id},
        {
            "type": "input_audio_buffer.committed",
            "previous_item_id": previous_item_id,
            "item_id": item_id,
        },
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id,
            "content_index": 0,
            "transcript": BENCH_INPUT_TRANSCRIPT,
            "usage": {"type": "duration", "seconds": (end_ms - start_ms) / 1000},
        },
    ]
    stream = ResponseStream(
        dialect,
        response_id=response_id,
        item_id=reply_id,
        previous_item_id=item_id,
        text=BENCH_TEXT,
        audio=bench_reply(reply_audio_ms),
        voice=voice,
        pieces=BENCH_TRANSCRIPT,
    )
    # The answer in the fewest events that still say everything a relay forwards: the
    # output item and content part events would only make the fake busier.
    transcript_done = {"type": NAMES[dialect].transcript_done, "transcript": BENCH_TEXT}
    return [
        *outputs,
        stream.created(),
        *stream.deltas(),
        {**transcript_done, **stream.where},
        stream.done(),
    ]

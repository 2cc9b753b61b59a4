"""One assistant response, produced one event at a time in the real API's order, so that it can
be cancelled part-way (``response.cancel``, or the user barging in) and then closed the way the
real service closes it: the pending ``.done`` events, then ``response.done`` ``cancelled``.
Its output: tool items first, if any (:mod:`.output_items`), then the assistant's message (a
function-call response has none).
Pure: no I/O; the events carry no ``event_id`` (the engine stamps it when it sends them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .conversation import Settled
from .output_items import OutputItem
from .protocol import NAMES, DialectName, Drop, Event, Output
from .scripts import BYTES_PER_MS, words
from .timing import Wait

CONVERSATION_ID = "conv_0001"


def response_object(
    dialect: DialectName, response_id: str, status: str, *, audio_out: bool, voice: str
) -> dict[str, Any]:
    """The ``response`` object of ``response.created`` / ``response.done``, without output."""
    response: dict[str, Any] = {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": None,
        "output": [],
        "conversation_id": CONVERSATION_ID,
        "usage": None,
        "metadata": None,
        "max_output_tokens": "inf",
    }
    if dialect == "ga":
        response["output_modalities"] = ["audio" if audio_out else "text"]
        pcm = {"type": "audio/pcm", "rate": 24000}
        response["audio"] = {"output": {"format": pcm, "voice": voice}}
    else:
        response["modalities"] = ["text", "audio"] if audio_out else ["text"]
        response["voice"], response["output_audio_format"] = voice, "pcm16"
        response["temperature"] = 0.8
    return response


def _usage(text: str, audio_bytes: int) -> dict[str, Any]:
    text_tokens = len(text.split())
    audio_tokens = audio_bytes // (50 * BYTES_PER_MS)  # one token per 50 ms
    return {
        "total_tokens": 20 + text_tokens + audio_tokens,
        "input_tokens": 20,
        "output_tokens": text_tokens + audio_tokens,
        "input_token_details": {"text_tokens": 20, "audio_tokens": 0, "cached_tokens": 0},
        "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
    }


class ResponseStream:
    """A response saying ``text``: as text, or as the transcript of ``audio`` (base64 deltas with
    their decoded sizes); before it, the ``leading`` output items (with ``text`` None, they are
    the whole output, and ``item_id`` is None). Faults (counting the message's deltas):
    ``drop_after`` ends the stream with :class:`Drop` after that many deltas; ``cut_after``
    ends it ``incomplete`` (``max_output_tokens``) there; ``pause_after`` makes it
    :attr:`paused` there (nothing more until it is cancelled);
    ``fail_with`` (a ``status_details.error``) makes it fail before any output. Pacing:
    ``first_delta_delay_s`` before the first delta, ``audio_delays_s[i]`` before audio chunk
    ``i``, given as :class:`~fake_upstream.timing.Wait` markers for the engine."""

    def __init__(
        self,
        dialect: DialectName,
        *,
        response_id: str,
        item_id: str | None,
        previous_item_id: str | None,
        text: str | None,
        audio: Sequence[tuple[str, int]] | None,
        leading: Sequence[OutputItem] = (),
        voice: str = "alloy",
        pieces: Sequence[str] | None = None,
        drop_after: int | None = None,
        cut_after: int | None = None,
        pause_after: int | None = None,
        fail_with: dict[str, Any] | None = None,
        first_delta_delay_s: float = 0.0,
        audio_delays_s: Sequence[float] = (),
    ) -> None:
        self.dialect = dialect
        self.names = NAMES[dialect]
        self.response_id = response_id
        self.item_id = item_id
        self.previous_item_id = previous_item_id
        self.text = text
        self.audio = audio
        self.voice = voice
        self.leading = list(leading)
        for index, output_item in enumerate(self.leading):
            output_item.response_id, output_item.output_index = response_id, index
        self.pieces = list(pieces) if pieces is not None else words(text or "")
        self.drop_after = drop_after
        self.cut_after = cut_after
        self.pause_after = pause_after
        self.fail_with = fail_with
        self.first_delta_delay_s = first_delta_delay_s
        self.audio_delays_s = audio_delays_s
        self.wake_at: float | None = None  # paced: the next event is due then
        self.paused = False  # a stalled response: it says nothing more until cancelled
        self.text_sent = ""  # text or transcript sent so far
        self.audio_bytes_sent = 0
        self.item_added = False  # the assistant item is in the conversation
        self._part_added = False
        self._steps = self._script()

    @property
    def where(self) -> dict[str, Any]:
        return {
            "response_id": self.response_id,
            "item_id": self.item_id,
            "output_index": len(self.leading),
            "content_index": 0,
        }

    def outputs(self, status: str) -> list[Settled]:
        """Its output items as it leaves them (None for one never given), for the conversation;
        ``status``: the message's."""
        outputs: list[Settled] = [
            (lead.item_id, lead.previous_item_id, lead.snapshot() if lead.added else None)
            for lead in self.leading
        ]
        if self.item_id is not None:
            item = self.item(status) if self.item_added else None
            outputs.append((self.item_id, self.previous_item_id, item))
        return outputs

    def given(self) -> list[dict[str, Any]]:
        """The tool items handed out so far (they are in the conversation already)."""
        return [lead.snapshot() for lead in self.leading if lead.added]

    def created(self) -> Event:
        return {"type": "response.created", "response": self._response("in_progress")}

    def next_event(self, now: float | None = None) -> Output | Wait | None:
        """The next event of this response; None once ``response.done`` has been given. On a
        clock (``now``), a Wait while the next one is not due (see :attr:`wake_at`); without
        one, nothing waits."""
        if self.wake_at is not None and now is not None and now < self.wake_at:
            return Wait(self.wake_at - now)
        self.wake_at = None
        output = next(self._steps, None)
        while isinstance(output, Wait):
            if now is not None:
                self.wake_at = now + output.seconds
                return output
            output = next(self._steps, None)
        return output

    def cancel(self, reason: str) -> list[Event]:
        """Stop here: the events that close what was started, ending with ``response.done``."""
        self._steps = iter(())
        return self._finish("cancelled", reason)

    def item(self, status: str) -> dict[str, Any]:
        """The assistant item as it stands (a fresh dict: events never share state)."""
        content: list[dict[str, Any]] = []
        if self._part_added and self.audio is not None:
            content = [{"type": self.names.audio_content, "transcript": self.text_sent}]
        elif self._part_added:
            content = [{"type": self.names.text_content, "text": self.text_sent}]
        return {
            "id": self.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": content,
        }

    def _response(self, status: str) -> dict[str, Any]:
        return response_object(
            self.dialect, self.response_id, status, audio_out=self.audio is not None,
            voice=self.voice,
        )  # fmt: skip

    def deltas(self) -> Iterator[Event]:
        """Only the deltas, for callers that do without the item and part events (benchmarks)."""
        return (delta for delta in self._plan(paced=False) if not isinstance(delta, Wait))

    def done(
        self,
        status: str = "completed",
        reason: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> Event:
        """The ``response.done`` event for what has been produced so far."""
        item_status = "completed" if status == "completed" else "incomplete"
        response = self._response(status)
        response["output"] = [lead.snapshot() for lead in self.leading if lead.added]
        if self.item_added:
            response["output"].append(self.item(item_status))
        response["usage"] = _usage(self.text_sent, self.audio_bytes_sent)
        if reason is not None:
            response["status_details"] = {"type": status, "reason": reason}
        if error is not None:
            response["status_details"] = {"type": status, "error": dict(error)}
        return {"type": "response.done", "response": response}

    def _plan(self, paced: bool = True) -> Iterator[Event | Wait]:
        """The deltas: transcript pieces spread evenly between the audio chunks; each wait
        comes before the delta it delays, so nothing of that delta has happened yet."""
        n = self.names
        if paced and self.first_delta_delay_s > 0:
            yield Wait(self.first_delta_delay_s)
        if self.audio is None:
            for piece in self.pieces:
                self.text_sent += piece
                yield {"type": n.text_delta, "delta": piece, **self.where}
            return
        chunks = max(1, len(self.audio))
        due = [index * chunks // max(1, len(self.pieces)) for index in range(len(self.pieces))]
        pieces = iter(self.pieces)
        for position, (encoded, size) in enumerate(self.audio):
            if paced and position < len(self.audio_delays_s) and self.audio_delays_s[position] > 0:
                yield Wait(self.audio_delays_s[position])
            for _ in range(due.count(position)):
                piece = next(pieces)
                self.text_sent += piece
                yield {"type": n.transcript_delta, "delta": piece, **self.where}
            self.audio_bytes_sent += size
            yield {"type": n.audio_delta, "delta": encoded, **self.where}
        for piece in pieces:  # only when there is no audio at all
            self.text_sent += piece
            yield {"type": n.transcript_delta, "delta": piece, **self.where}

    def _script(self) -> Iterator[Output | Wait]:
        # State changes come before each yield: once an event is handed out, it has happened.
        if self.fail_with is not None:
            yield self.done("failed", error=self.fail_with)
            return
        for lead in self.leading:
            yield from lead.events()
        if self.text is None:
            yield from self._finish("completed", None)
            return
        self.item_added = True
        yield {
            "type": "response.output_item.added",
            "response_id": self.response_id,
            "output_index": len(self.leading),
            "item": self.item("in_progress"),
        }
        yield {
            "type": self.names.item_added,
            "previous_item_id": self.previous_item_id,
            "item": self.item("in_progress"),
        }
        self._part_added = True
        part = (
            {"type": "audio", "transcript": ""}
            if self.audio is not None
            else {"type": "text", "text": ""}
        )
        yield {"type": "response.content_part.added", "part": part, **self.where}
        count = 0
        for delta in self._plan():
            if isinstance(delta, Wait):
                yield delta
                continue
            count += 1
            self.paused = count == self.pause_after  # set before the delta goes: it is the last
            yield delta
            if count == self.drop_after:
                yield Drop()
                return
            if count == self.cut_after:
                yield from self._finish("incomplete", "max_output_tokens")
                return
        yield from self._finish("completed", None)

    def _finish(self, status: str, reason: str | None) -> list[Event]:
        n, events = self.names, list[Event]()
        item_status = "completed" if status == "completed" else "incomplete"
        for lead in self.leading:
            events += lead.finish(item_status)
        if self._part_added:
            if self.audio is not None:
                events.append({"type": n.audio_done, **self.where})
                events.append(
                    {"type": n.transcript_done, "transcript": self.text_sent, **self.where}
                )
                part = {"type": "audio", "transcript": self.text_sent}
            else:
                events.append({"type": n.text_done, "text": self.text_sent, **self.where})
                part = {"type": "text", "text": self.text_sent}
            events.append({"type": "response.content_part.done", "part": part, **self.where})
        if self.item_added:
            events.append(
                {
                    "type": "response.output_item.done",
                    "response_id": self.response_id,
                    "output_index": len(self.leading),
                    "item": self.item(item_status),
                }
            )
            if n.item_done is not None:
                events.append({"type": n.item_done, "item": self.item(item_status)})
        events.append(self.done(status, reason))
        return events

"""Where the events go that the timing (:mod:`.timing`) moves about a response: a spoken
turn's input transcription (before ``response.created``, after it, mid-response or after
``response.done``) and ``rate_limits.updated`` (before or after ``response.created``, or after
``response.done``).
Pure: no I/O, no clock; the engine tells it when a response starts, sends a delta or ends, and
queues what it gives back.
"""

from __future__ import annotations

from .protocol import Event
from .scripts import input_transcript, seconds_of, words
from .timing import Where

# The error of a failed input transcription, as the real service words it.
TRANSCRIPTION_ERROR = {
    "type": "transcription_error",
    "code": "audio_unintelligible",
    "message": "Audio is unintelligible.",
    "param": None,
}
_KIND = "conversation.item.input_audio_transcription"


def transcription_events(
    item_id: str, audio_bytes: int, fails: bool = False, said: str | None = None
) -> tuple[str | None, list[Event]]:
    """A spoken turn's transcript (None if it ``fails``) and its input transcription events:
    the deltas and ``completed``, or ``failed``. ``said``: what the turn says (the engine's
    ``spoken_texts``), else a made-up transcript giving its length."""
    where = {"item_id": item_id, "content_index": 0}
    if fails:
        return None, [{"type": f"{_KIND}.failed", **where, "error": dict(TRANSCRIPTION_ERROR)}]
    transcript = said if said is not None else input_transcript(seconds_of(audio_bytes))
    events: list[Event] = [
        {"type": f"{_KIND}.delta", **where, "delta": piece} for piece in words(transcript)
    ]
    usage = {"type": "duration", "seconds": seconds_of(audio_bytes)}
    events.append({"type": f"{_KIND}.completed", **where, "transcript": transcript, "usage": usage})
    return transcript, events


def rate_limits_event(responses: int) -> Event:
    """``rate_limits.updated`` after ``responses`` responses: 1000 requests, 100000 tokens."""
    limits = [("requests", 1000, responses, 60.0), ("tokens", 100000, 20 * responses, 1.0)]
    return {
        "type": "rate_limits.updated",
        "rate_limits": [
            {"name": name, "limit": limit, "remaining": limit - used, "reset_seconds": reset}
            for name, limit, used, reset in limits
        ],
    }


class HeldEvents:
    """Events waiting for a point of the active response, or of the next one to start (a turn
    committed while none runs waits for one: the real service transcribes alongside it)."""

    def __init__(self) -> None:
        self._for_next: list[tuple[Where, int, list[Event]]] = []
        self._mid: tuple[int, list[Event]] | None = None  # (after that many deltas, events)
        self._deltas_sent = 0  # deltas of the active response handed out
        self._after_done: dict[str, list[Event]] = {}  # response id -> events

    def hold(
        self, where: Where, after_deltas: int, events: list[Event], active: str | None
    ) -> list[Event]:
        """Hold ``events`` for ``where`` of the ``active`` response (its id), or of the next
        one if None; returns what is due at once."""
        if where is Where.BEFORE_RESPONSE:
            return events
        if active is None:
            self._for_next.append((where, after_deltas, events))
        elif where is Where.AFTER_DONE or (where is Where.MID_RESPONSE and self._mid is not None):
            self._after_done.setdefault(active, []).extend(events)
        elif where is Where.MID_RESPONSE:
            self._mid = (self._deltas_sent + after_deltas, events)
        else:
            return events  # response.created has gone already
        return []

    def response_started(
        self, response_id: str, fails: bool, rate_limits: Event, rate_limits_at: Where
    ) -> tuple[list[Event], list[Event]]:
        """A response starts; returns what goes right before and right after its
        ``response.created``. Events for mid-response wait for its deltas (for its done, if it
        ``fails`` before any)."""
        before: list[Event] = []
        after_created: list[Event] = []
        if rate_limits_at is Where.BEFORE_RESPONSE:
            before.append(rate_limits)
        elif rate_limits_at is Where.AFTER_CREATED:
            after_created.append(rate_limits)
        else:
            self._after_done[response_id] = [rate_limits]
        self._deltas_sent, self._mid = 0, None
        for where, after_deltas, events in self._for_next:
            if where is Where.AFTER_CREATED:
                after_created += events
            elif where is Where.MID_RESPONSE and not fails and self._mid is None:
                self._mid = (after_deltas, events)
            else:
                self._after_done.setdefault(response_id, []).extend(events)
        self._for_next.clear()
        return before, after_created

    def delta_sent(self) -> list[Event]:
        """The active response handed out a delta; returns what is due now."""
        self._deltas_sent += 1
        if self._mid is not None and self._deltas_sent >= self._mid[0]:
            events, self._mid = self._mid[1], None
            return events
        return []

    def response_done(self, response_id: str) -> list[Event]:
        """A response ended (however); returns what goes after its ``response.done``, including
        what waited for deltas that never came."""
        events: list[Event] = []
        if self._mid is not None:
            events, self._mid = self._mid[1], None
        return events + self._after_done.pop(response_id, [])

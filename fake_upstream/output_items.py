"""The output items of a response that are not an assistant message (function calls, MCP calls,
MCP approval requests): what they share is how they open and close. A
:class:`~fake_upstream.responses.ResponseStream` streams them, in order, before its message (if
it has one), and closes the one in progress when it is cut short. Pure: no I/O; the events carry
no ``event_id`` (the engine stamps it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .protocol import NAMES, DialectName, Event

ARGUMENT_DELTA_CHARS = 8  # arguments are streamed in pieces of this many characters


def pieces_of(text: str, size: int = ARGUMENT_DELTA_CHARS) -> list[str]:
    """``text`` in pieces that concatenate back to it; never an empty list."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class OutputItem:
    """One output item: ``output_item.added`` and the conversation's ``item.added``, what
    :meth:`body` streams, then ``output_item.done`` (and, GA, ``conversation.item.done``).
    Subclasses say what the item looks like (:meth:`snapshot`), what comes between (:meth:`body`)
    and what closes a body cut short (:meth:`cut_short`)."""

    def __init__(self, dialect: DialectName, item_id: str) -> None:
        self.dialect = dialect
        self.names = NAMES[dialect]
        self.item_id = item_id
        # Set by the response that streams it:
        self.response_id = ""
        self.output_index = 0
        self.previous_item_id: str | None = None
        self.added = False  # output_item.added has been given: the item is in the conversation
        self.status = "in_progress"  # then "completed", or "incomplete" if cut short

    def snapshot(self) -> dict[str, Any]:
        """The item as it stands (a fresh dict: events never share state)."""
        raise NotImplementedError

    def body(self) -> Iterator[Event]:
        """The events between the item's opening and its closing."""
        return iter(())

    def cut_short(self) -> list[Event]:
        """What closes the body when the response ends before it did."""
        return []

    @property
    def where(self) -> dict[str, Any]:
        return {
            "response_id": self.response_id,
            "item_id": self.item_id,
            "output_index": self.output_index,
        }

    def events(self) -> Iterator[Event]:
        # State changes come before each yield: once an event is handed out, it has happened.
        self.added = True
        yield {
            "type": "response.output_item.added",
            "response_id": self.response_id,
            "output_index": self.output_index,
            "item": self.snapshot(),
        }
        yield {
            "type": self.names.item_added,
            "previous_item_id": self.previous_item_id,
            "item": self.snapshot(),
        }
        yield from self.body()
        yield from self._done("completed")

    def finish(self, status: str) -> list[Event]:
        """Close the item if it was opened and is not closed yet (its response was cancelled or
        cut); nothing otherwise."""
        if not self.added or self.status != "in_progress":
            return []
        return [*self.cut_short(), *self._done(status)]

    def _done(self, status: str) -> list[Event]:
        self.status = status
        events: list[Event] = [
            {
                "type": "response.output_item.done",
                "response_id": self.response_id,
                "output_index": self.output_index,
                "item": self.snapshot(),
            }
        ]
        if self.names.item_done is not None:
            events.append({"type": self.names.item_done, "item": self.snapshot()})
        return events

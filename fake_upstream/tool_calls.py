"""Function calling: the ``function_call`` output item a response streams when the user asks for
a declared tool, and the reply that quotes the ``function_call_output`` items a client answers
with (:meth:`~fake_upstream.conversation.Conversation.check_answer` refuses one that answers no
call). Pure: no I/O.

A function-call response has no message: ``response.created``, then per call
``response.output_item.added`` (status ``in_progress``, ``arguments`` empty), the conversation's
item added, ``response.function_call_arguments.delta`` (pieces of 8 characters),
``response.function_call_arguments.done``, ``response.output_item.done`` (``completed``) and,
GA, ``conversation.item.done``; then ``response.done`` with the calls in ``output``.

After the client has sent a ``function_call_output`` item for (some of) the calls, the next
response says, one sentence per output in call order, separated by one space:
``The NAME tool says: OUTPUT`` (OUTPUT exactly as the client sent it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .output_items import OutputItem, pieces_of
from .protocol import DialectName, Event


class FunctionCallItem(OutputItem):
    """One ``function_call`` output item: its arguments streamed in a few deltas."""

    def __init__(
        self, dialect: DialectName, item_id: str, *, call_id: str, name: str, arguments: str
    ) -> None:
        super().__init__(dialect, item_id)
        self.call_id = call_id
        self.name = name
        self.arguments = arguments
        self.arguments_sent = ""
        self.arguments_done = False

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": self.status,
            "name": self.name,
            "call_id": self.call_id,
            "arguments": self.arguments_sent,
        }

    def body(self) -> Iterator[Event]:
        for piece in pieces_of(self.arguments):
            self.arguments_sent += piece
            yield {
                "type": "response.function_call_arguments.delta",
                **self.where,
                "call_id": self.call_id,
                "delta": piece,
            }
        yield from self.cut_short()

    def cut_short(self) -> list[Event]:
        # The real service sends the .done of the arguments however the response ends.
        if self.arguments_done:
            return []
        self.arguments_done = True
        done: Event = {
            "type": "response.function_call_arguments.done",
            **self.where,
            "call_id": self.call_id,
            "arguments": self.arguments_sent,
        }
        if self.dialect == "ga":
            done["name"] = self.name  # the beta event has no name
        return [done]


def quote_outputs(calls: Iterable[dict[str, Any]], outputs: dict[str, str]) -> str | None:
    """The reply quoting the ``outputs`` (call id -> output) of these ``function_call`` items,
    in call order; None if none of them has an output yet."""
    sentences = [
        f"The {call['name']} tool says: {outputs[call['call_id']]}"
        for call in calls
        if call.get("call_id") in outputs
    ]
    return " ".join(sentences) if sentences else None

"""The conversation: its items in order, the audio of spoken user items and the length of each
assistant item's audio (what ``conversation.item.truncate`` checks against). Pure: no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .scripts import BYTES_PER_MS

Item = dict[str, Any]
Settled = tuple[str, str | None, Item | None]  # a response's output: id, previous id, the item
# An answer's type -> (its key, the type it answers, that item's key, how the error names it).
_ANSWERS = {
    "function_call_output": ("call_id", "function_call", "call_id", "function call"),
    "mcp_approval_response": (
        "approval_request_id",
        "mcp_approval_request",
        "id",
        "approval request",
    ),
}


class ConversationError(Exception):
    """A conversation event the real service would refuse, with the code and param it names."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


def _not_found(item_id: str) -> ConversationError:
    return ConversationError(
        f"Item with item_id '{item_id}' not found.", "item_not_found", "item_id"
    )


class Conversation:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.item_audio: dict[str, bytes] = {}  # user item id -> its committed input audio
        self.assistant_audio_ms: dict[str, int] = {}  # assistant item id -> its audio length
        self.last_item_id: str | None = None

    def add(self, item: Item, audio: bytes | None = None) -> str | None:
        """Append ``item`` (and the audio it holds); returns the previous item's id."""
        if item["id"] in self.items:
            raise ConversationError(
                f"Item with id '{item['id']}' already exists.", "invalid_value", "item.id"
            )
        previous, self.last_item_id = self.last_item_id, item["id"]
        self.items[item["id"]] = item
        if audio is not None:
            self.item_audio[item["id"]] = audio
        return previous

    def reserve(self, item_id: str) -> str | None:
        """A response's item will come next; returns the previous item's id."""
        previous, self.last_item_id = self.last_item_id, item_id
        return previous

    def settle(self, outputs: Sequence[Settled], audio_bytes: int | None = None) -> None:
        """A response ended: its output items join the conversation in order; the ids reserved
        for those that never appeared (None; always the last ones) are given back.
        ``audio_bytes``: the length of the last item's audio, if it has audio."""
        for item_id, _, item in outputs:
            if item is not None:
                self.items[item_id] = item
        for item_id, previous_id, item in reversed(outputs):
            if item is None and self.last_item_id == item_id:
                self.last_item_id = previous_id
        if outputs and outputs[-1][2] is not None and audio_bytes is not None:
            self.assistant_audio_ms[outputs[-1][0]] = audio_bytes // BYTES_PER_MS

    def check_answer(self, item: Item, pending: Sequence[Item]) -> None:
        """Refuse a ``function_call_output`` or ``mcp_approval_response`` that answers no item
        of the conversation (``pending``: the items of the response being produced count)."""
        if item.get("type") not in _ANSWERS:
            return
        key, kind, asked_key, what = _ANSWERS[item["type"]]
        wanted = item.get(key)
        asked = [*self.items.values(), *pending]
        if not any(i.get("type") == kind and i.get(asked_key) == wanted for i in asked):
            raise ConversationError(
                f"No {what} found with {key} '{wanted}'. Answer one of this conversation's "
                f"{kind} items.",
                "invalid_value",
                f"item.{key}",
            )

    def get(self, item_id: str) -> Item:
        if item_id not in self.items:
            raise _not_found(item_id)
        return copy.deepcopy(self.items[item_id])

    def delete(self, item_id: str) -> None:
        if item_id not in self.items:
            raise _not_found(item_id)
        del self.items[item_id]
        self.item_audio.pop(item_id, None)
        self.assistant_audio_ms.pop(item_id, None)
        self.last_item_id = next(reversed(self.items), None)

    def truncate(
        self, item_id: str, content_index: int, end_ms: int, streaming_ms: int | None
    ) -> None:
        """Cut an assistant item's audio at ``end_ms``; ``streaming_ms``: the length so far of
        the item being produced, if ``item_id`` is that one."""
        if streaming_ms is not None:
            length_ms = streaming_ms
        elif item_id in self.assistant_audio_ms:
            length_ms = self.assistant_audio_ms[item_id]
        elif item_id in self.items:
            raise ConversationError(
                "Only the audio of an assistant message can be truncated.",
                "invalid_value",
                "item_id",
            )
        else:
            raise _not_found(item_id)
        if content_index != 0:
            raise ConversationError(
                f"Invalid 'content_index': {content_index}. The item has one content part.",
                "invalid_value",
                "content_index",
            )
        if end_ms > length_ms:
            raise ConversationError(
                f"Audio content of {length_ms}ms is already shorter than {end_ms}ms",
                "invalid_value",
                "audio_end_ms",
            )
        self.assistant_audio_ms[item_id] = end_ms

"""The assistant's text streams (its text, or the transcript of its audio) as the browser gets
them. Pure: no I/O here.

The rule it keeps (protocol.md): every ``text_delta`` stream ends with exactly one
``text_done``, whether the upstream ends the text, its content part or the whole response, and
a text that arrives only whole, in its done event, is not lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .browser import BrowserMessage, TextDelta, TextDone
from .realtime import string_field


class TextStreams:
    def __init__(self) -> None:
        self._open: dict[str, None] = {}  # insertion-ordered set of stream ids

    def delta(self, event: Mapping[str, Any]) -> list[BrowserMessage]:
        stream = text_id(event)
        self._open[stream] = None
        return [TextDelta(stream, string_field(event, "delta"))]

    def done(self, event: Mapping[str, Any]) -> list[BrowserMessage]:
        stream = text_id(event)
        full = event.get("text", event.get("transcript"))
        if stream not in self._open and isinstance(full, str) and full:
            # The whole text arrived only in the done event: do not lose it.
            return [TextDelta(stream, full), TextDone(stream)]
        return self.close(stream)

    def close(self, stream: str) -> list[BrowserMessage]:
        if stream in self._open:
            del self._open[stream]
            return [TextDone(stream)]
        return []

    def close_all(self) -> list[BrowserMessage]:
        """The response ended (or the relay gave up on it): every stream still open ends."""
        closing: list[BrowserMessage] = [TextDone(stream) for stream in self._open]
        self._open.clear()
        return closing


def text_id(event: Mapping[str, Any]) -> str:
    """A stream's id for the browser: ``"<item_id>-<content_index>"``."""
    return f"{string_field(event, 'item_id')}-{int(event.get('content_index', 0))}"

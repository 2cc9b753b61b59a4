"""A scripted stand-in for the relay's browser endpoint (docs/protocol.md, section 1).

The browser tests use it for what the real relay does not send yet, or sends only when an
operator configures it (``tool_call``, ``transcription_delta``), and for closes the relay would
explain itself: the test says what to send and when, and the page's reaction is read from the
DOM. It greets every connection with ``connected``, counts the microphone audio it receives,
and records how each connection closed. One page at a time.
"""

from __future__ import annotations

import json
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket


class FakeRelay:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting
        self.port = 0
        self.connections = 0
        self.audio_bytes = 0
        #: One per ended connection: the close code the page sent (None: no close frame).
        self.close_codes: list[int | None] = []
        self._page: WebSocketConnection | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/realtime"

    async def handle(self, request: WebSocketRequest) -> None:
        page = await request.accept()
        self._page = page
        self.connections += 1
        await page.send_message(
            json.dumps({"type": "control", "action": "connected", "greeting": self.greeting})
        )
        try:
            while True:
                frame = await page.get_message()
                if isinstance(frame, bytes):
                    self.audio_bytes += len(frame)
        except ConnectionClosed as closed:
            self.close_codes.append(closed.reason.code)
        finally:
            if self._page is page:
                self._page = None

    async def send(self, message: dict[str, Any]) -> None:
        """Sends ``message`` (a text frame) to the connected page."""
        await self._connected_page().send_message(json.dumps(message))

    async def close(self, code: int, reason: str = "") -> None:
        """Closes the page's connection with ``code``, without an ``error`` message first."""
        await self._connected_page().aclose(code, reason)

    def _connected_page(self) -> WebSocketConnection:
        if self._page is None:
            raise AssertionError("no page is connected to the fake relay")
        return self._page


async def start_fake_relay(nursery: trio.Nursery, greeting: str) -> FakeRelay:
    """A fake relay on an ephemeral loopback port, served in ``nursery`` until it is cancelled."""
    relay = FakeRelay(greeting)
    server = await nursery.start(serve_websocket, relay.handle, "127.0.0.1", 0, None)
    relay.port = server.port
    return relay

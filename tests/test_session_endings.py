"""How a session ends when the browser misbehaves at the WebSocket level: it only pings, never
finishes a message, floods empty fragments, or stops reading. The browser is a hand-driven
``websockets`` Sans-I/O peer on an in-memory stream (so it can send frames no real client
library would); the upstream is the fake on loopback. Every ending is named, with its code."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from harness import read_head
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from fake_upstream import FakeUpstream, open_fake_upstream
from trio_relay.config import Limits, RelayConfig, openai_target
from trio_relay.downstream import client_gone
from trio_relay.errors import ClientGone, IdleTimeout, SessionEnd, SlowClient
from trio_relay.session import Session
from trio_relay.websocket import Close, ConnectionClosed, accept


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with open_fake_upstream() as fake:
        yield fake


@attrs.define
class RawBrowser:
    """The browser side: frames made by hand, everything the relay sent recorded."""

    peer: ClientProtocol
    stream: trio.abc.Stream
    texts: list[str] = attrs.Factory(list)

    async def flush(self) -> None:
        data = b"".join(self.peer.data_to_send())
        if data:
            await self.stream.send_all(data)

    async def read(self) -> bool:
        """One read; False once the relay has closed the connection."""
        data = await self.stream.receive_some()
        if not data:
            self.peer.receive_eof()
            return False
        self.peer.receive_data(data)
        for event in self.peer.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.texts.append(event.data.decode())
        await self.flush()  # pongs, the close reply
        return True

    async def read_until(self, found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        with trio.fail_after(5):
            while True:
                for text in self.texts:
                    if found(json.loads(text)):
                        return dict(json.loads(text))
                assert await self.read(), "the relay closed the connection"

    async def read_to_the_end(self) -> Close | None:
        """Everything up to the relay's close; its close frame (None: it sent none)."""
        with trio.fail_after(5):
            while await self.read():
                pass
        await self.stream.aclose()  # as a browser does once the relay has closed
        close = self.peer.close_rcvd
        return None if close is None else Close(int(close.code), close.reason)


@attrs.define
class RelaySide:
    session: Session = attrs.field(init=False)
    end: SessionEnd | None = None
    started: trio.Event = attrs.Factory(trio.Event)
    ended: trio.Event = attrs.Factory(trio.Event)

    @property
    def ending(self) -> trio.Event:
        """Set when the session's end is decided (before it tells the browser)."""
        return self.session.ending


def connected(message: dict[str, Any]) -> bool:
    return message.get("action") == "connected"


async def open_session(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    limits: Limits,
    streams: Callable[[], tuple[trio.abc.Stream, trio.abc.Stream]] = (
        trio.testing.memory_stream_pair
    ),
) -> tuple[RawBrowser, RelaySide]:
    """A session on the relay side of ``streams``, its browser on the other side (handshake
    done, ``connected`` not yet read)."""
    target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-test")
    config = RelayConfig(upstream=target, limits=limits)
    client_stream, server_stream = streams()
    browser = RawBrowser(ClientProtocol(parse_uri("ws://relay/realtime")), client_stream)
    browser.peer.send_request(browser.peer.connect())
    relay = RelaySide()

    async def serve() -> None:
        client = await accept(
            server_stream,
            await read_head(server_stream),
            max_message_bytes=limits.max_message_bytes,
            subprotocol=None,
            write_timeout_s=limits.write_timeout_s,
            max_message_fragments=limits.max_message_fragments,
        )
        assert client is not None
        relay.session = Session(client, config, target)
        relay.started.set()
        relay.end = await relay.session.run()
        relay.ended.set()

    nursery.start_soon(serve)
    nursery.start_soon(browser.flush)  # the request (a lockstep stream: until it is read)
    with trio.fail_after(5):
        assert await browser.read()  # the handshake answer
        await relay.started.wait()
    return browser, relay


def session_ended(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """The fields of the session's ``session ended`` log line (structlog's event dict)."""
    for record in caplog.records:
        fields = record.msg
        if isinstance(fields, dict) and fields.get("event") == "session ended":
            return {**fields, "levelno": record.levelno}
    raise AssertionError("no 'session ended' line was logged")


async def test_a_client_that_only_pings_is_idle(
    nursery: trio.Nursery, fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Not waiting for `connected`: the idle timeout runs from the start, whatever the upstream.
    browser, relay = await open_session(nursery, fake, Limits(idle_timeout_s=0.5))
    with trio.fail_after(5):
        while not relay.ending.is_set():  # a ping every 100 ms, each one answered
            browser.peer.send_ping(b"still here")
            await browser.flush()
            with trio.move_on_after(0.1):
                await relay.ending.wait()
    assert await browser.read_to_the_end() == Close(1000, "no message from the client for 0.5 s")
    with trio.fail_after(5):
        await relay.ended.wait()
    assert isinstance(relay.end, IdleTimeout)
    error = json.loads(browser.texts[-1])
    assert error["type"] == "error" and error["code"] == "idle_timeout"
    # The end line counts every frame the browser got, the final error included.
    ended = session_ended(caplog)
    assert ended["outcome"] == "IdleTimeout" and ended["close_code"] == 1000
    assert ended["duration_s"] >= 0.5
    assert ended["bytes_out"] == sum(len(text) for text in browser.texts)


async def test_a_message_that_never_ends_is_idle(nursery: trio.Nursery, fake: FakeUpstream) -> None:
    browser, relay = await open_session(nursery, fake, Limits(idle_timeout_s=0.5))
    browser.peer.send_text(b'{"type":"user_message","text":"', fin=False)
    with trio.fail_after(5):
        while not relay.ending.is_set():  # a fragment every 100 ms, never the last one
            browser.peer.send_continuation(b"more ", fin=False)
            await browser.flush()
            with trio.move_on_after(0.1):
                await relay.ending.wait()
    assert isinstance(relay.session.end, IdleTimeout)
    error = await browser.read_until(lambda m: m["type"] == "error")
    assert error["code"] == "idle_timeout"


async def test_a_flood_of_empty_fragments_is_closed_1009_as_the_clients_fault(
    nursery: trio.Nursery, fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    browser, relay = await open_session(nursery, fake, Limits(max_message_fragments=32))
    await browser.read_until(connected)
    browser.peer.send_binary(b"", fin=False)
    for _ in range(100):
        browser.peer.send_continuation(b"", fin=False)
    await browser.flush()
    close = await browser.read_to_the_end()
    assert close is not None and close.code == 1009
    with trio.fail_after(5):
        await relay.ended.wait()
    assert isinstance(relay.end, ClientGone) and relay.end.seen_code == 1009
    ended = session_ended(caplog)
    assert ended["outcome"] == "ClientGone" and ended["close_code"] == 1009
    assert "more than 32 fragments" in ended["reason"]


async def test_a_client_that_never_reads_is_a_slow_client_though_it_keeps_sending(
    nursery: trio.Nursery, fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream with no buffer at all: once the browser stops reading, the relay's next write
    (``connected``, or a pong) waits. It keeps pinging, which is no activity; the write
    timeout, not the (long) idle timeout, ends the session."""
    caplog.set_level(logging.INFO)
    limits = Limits(write_timeout_s=0.5, idle_timeout_s=300)
    browser, relay = await open_session(nursery, fake, limits, trio.testing.lockstep_stream_pair)
    started = trio.current_time()

    async def keep_pinging() -> None:
        try:
            while True:
                browser.peer.send_ping(b"ping")
                await browser.flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the relay closed the connection

    nursery.start_soon(keep_pinging)
    with trio.fail_after(5):
        await relay.ended.wait()
    assert isinstance(relay.end, SlowClient)
    assert relay.end.message == "the client stopped reading: it took no data for 0.5 s"
    assert trio.current_time() - started < 2
    ended = session_ended(caplog)
    assert ended["outcome"] == "SlowClient" and ended["close_code"] == 1013


@pytest.mark.parametrize(
    ("received", "sent", "code", "words"),
    [
        (Close(1001, ""), Close(1001, ""), 1001, "the client closed the connection with code 1001"),
        (Close(4000, "bye"), Close(4000, "bye"), 4000, "with code 4000 (bye)"),
        (None, Close(1009, "too big"), 1009, "broke the WebSocket protocol (too big)"),
        (None, None, 1006, "dropped the connection without a close frame"),
    ],
)
def test_a_client_leaving_is_named_with_the_close_code_seen(
    received: Close | None, sent: Close | None, code: int, words: str
) -> None:
    gone = client_gone(ConnectionClosed(received, sent))
    assert gone.seen_code == code and words in gone.message

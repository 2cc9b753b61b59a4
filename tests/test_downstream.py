"""The session's downstream queue: byte-bounded, queued assistant audio merged into larger
frames (in order, never across items or other messages), written through by the
upstream-reader while the writer is idle, and flushed before the error when a session ends."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import trio
import trio.testing
from harness import tcp_accepted_pair
from trio_websocket import ConnectionClosed, WebSocketConnection

from trio_relay.browser import AssistantAudio, BrowserMessage, TextDelta
from trio_relay.config import Limits
from trio_relay.downstream import MERGED_AUDIO_BYTES, Downstream, close_reason
from trio_relay.errors import SlowClient, UpstreamFailed
from trio_relay.websocket import WebSocket


class Sent(list[tuple[BrowserMessage, int]]):
    """What the socket took, as the session's ``on_sent`` callback sees it."""

    def __call__(self, message: BrowserMessage, size: int) -> None:
        self.append((message, size))


def downstream(client: WebSocket | None = None, **limits: Any) -> Downstream:
    return Downstream(client, Limits(**limits), Sent())  # type: ignore[arg-type]


async def test_queued_audio_of_one_item_goes_out_as_one_frame_in_order() -> None:
    s = downstream()
    for message in (
        AssistantAudio(b"\x01\x01", "a"),
        AssistantAudio(b"\x02\x02", "a"),
        AssistantAudio(b"\x03\x03", "b"),
        TextDelta("a-0", "hi"),
        AssistantAudio(b"\x04\x04", "b"),
    ):
        s.queue(message)
    sent = [s.next_message() for _ in range(4)]
    assert [data for data, _ in sent] == [
        b"\x01\x01\x02\x02",
        b"\x03\x03",
        '{"type":"text_delta","id":"a-0","delta":"hi"}',
        b"\x04\x04",
    ]
    assert sent[0][1] == AssistantAudio(b"\x01\x01\x02\x02", "a")


async def test_merged_frames_stay_bounded() -> None:
    s = downstream(downstream_buffer_ms=10_000)
    chunk = bytes(4800)
    for _ in range(40):  # 4 s of audio queued
        s.queue(AssistantAudio(chunk, "a"))
    first, _ = s.next_message()
    assert MERGED_AUDIO_BYTES <= len(first) < MERGED_AUDIO_BYTES + len(chunk)


async def test_the_buffer_is_bounded_in_bytes() -> None:
    s = downstream(downstream_buffer_ms=100)  # 4800 bytes
    s.queue(AssistantAudio(bytes(4800), "a"))
    with pytest.raises(SlowClient):
        s.queue(AssistantAudio(b"\x00\x00", "a"))


def test_close_reasons_fit_the_frame_and_end_at_a_word() -> None:
    assert close_reason("") is None
    assert close_reason("short") == "short"
    long = "upstream refused the connection: " + "é word " * 40
    reason = close_reason(long)
    assert reason is not None and len(reason.encode()) <= 123 and reason.endswith("...")
    assert long.startswith(reason[:-3])


async def browser_session(nursery: trio.Nursery) -> tuple[Downstream, WebSocketConnection]:
    """A downstream whose client is a real WebSocket on loopback TCP, and the browser's end."""
    client, browser = await tcp_accepted_pair(nursery)
    return downstream(client), browser


async def test_while_the_writer_is_idle_the_upstream_reader_writes_through_without_waking_it(
    nursery: trio.Nursery,
) -> None:
    s, browser = await browser_session(nursery)
    nursery.start_soon(s.run_writer)
    await trio.testing.wait_all_tasks_blocked()  # the writer waits for messages
    s.queue(TextDelta("a-0", "hi"), wake_writer=False)
    s.queue(AssistantAudio(b"\x01\x02", "a"), wake_writer=False)
    with trio.testing.assert_no_checkpoints():
        s.write_through()
    assert not s._queued.is_set()  # the writer was never woken
    assert json.loads(await browser.get_message())["delta"] == "hi"
    assert await browser.get_message() == b"\x01\x02"
    assert len(s._on_sent) == 2 and s.queued_bytes == 0


async def test_while_the_writer_is_busy_the_upstream_reader_leaves_the_messages_to_it(
    nursery: trio.Nursery,
) -> None:
    s, browser = await browser_session(nursery)  # the writer is not waiting: "busy"
    s.queue(TextDelta("a-0", "hi"), wake_writer=False)
    s.write_through()
    assert s._queued.is_set() and len(s) == 1
    nursery.start_soon(s.run_writer)
    assert json.loads(await browser.get_message())["delta"] == "hi"


async def test_what_the_socket_does_not_take_at_once_the_writer_finishes_in_order(
    nursery: trio.Nursery,
) -> None:
    s, browser = await browser_session(nursery)
    stream = s.client.transport.stream
    assert isinstance(stream, trio.SocketStream)
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    nursery.start_soon(s.run_writer)
    await trio.testing.wait_all_tasks_blocked()
    audio = [AssistantAudio(bytes([index]) * 40_000, f"item-{index}") for index in range(12)]
    for message in audio:
        s.queue(message, wake_writer=False)
    s.write_through()
    assert s._unflushed and s._queued.is_set()  # partly written: the writer's now
    received = [await browser.get_message() for _ in audio]
    assert received == [message.pcm for message in audio]
    await trio.testing.wait_all_tasks_blocked()
    assert not s._unflushed and not s and s.queued_bytes == 0


async def test_when_the_session_ends_queued_messages_go_out_before_the_error(
    nursery: trio.Nursery,
) -> None:
    s, browser = await browser_session(nursery)
    s.queue(TextDelta("a-0", "last words"), wake_writer=False)
    end = UpstreamFailed("the upstream closed the connection with code 1011")
    nursery.start_soon(s.close, end)  # the browser reads meanwhile
    assert json.loads(await browser.get_message())["delta"] == "last words"
    assert json.loads(await browser.get_message())["code"] == "upstream_error"
    with pytest.raises(ConnectionClosed) as closed:
        await browser.get_message()
    assert closed.value.reason.code == 1011


async def test_a_client_that_stopped_reading_gets_only_the_error(nursery: trio.Nursery) -> None:
    s, browser = await browser_session(nursery)
    s.queue(TextDelta("a-0", "never read"), wake_writer=False)
    nursery.start_soon(s.close, SlowClient("the client is not reading"))
    assert json.loads(await browser.get_message())["code"] == "slow_client"
    with pytest.raises(ConnectionClosed) as closed:
        await browser.get_message()
    assert closed.value.reason.code == 1013

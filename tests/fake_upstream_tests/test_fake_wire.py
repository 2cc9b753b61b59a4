"""The fake upstream's own handshake and closing, seen from raw sockets and independent clients
(wsproto, trio-websocket): refusals as plain HTTP, request heads it drops unanswered or that
websockets answers itself, frames sent right behind the head, the message size limit, and
close_all while a reader is busy."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing
from fake_support import session_update
from trio_websocket import ConnectionClosed, WebSocketConnection, connect_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

import fake_upstream.server
from fake_upstream import FakeUpstream, open_fake_upstream

STEP_S = 5.0
GA = "/v1/realtime?model=gpt-realtime"
BEARER = [(b"authorization", b"Bearer sk-test")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with open_fake_upstream() as fake:
        yield fake


async def read_to_end(stream: trio.SocketStream) -> bytes:
    """Everything the fake sends until it closes the connection (a reset counts as closed)."""
    data = b""
    with trio.fail_after(STEP_S):
        while True:
            try:
                chunk = await stream.receive_some()
            except trio.BrokenResourceError:
                return data
            if not chunk:
                return data
            data += chunk


async def exchange(fake: FakeUpstream, request: bytes) -> bytes:
    async with await trio.open_tcp_stream("127.0.0.1", fake.port) as stream:
        await stream.send_all(request)
        return await read_to_end(stream)


def client_handshake(path: str = GA) -> tuple[WSConnection, bytes]:
    client = WSConnection(ConnectionType.CLIENT)
    request = Request(host="127.0.0.1", target=path, extra_headers=BEARER)
    return client, client.send(request)


def masked_text(text: str) -> bytes:
    """One client text frame (FIN, masked), framed by hand: wsproto sends none before the
    handshake is answered."""
    payload, mask = text.encode(), os.urandom(4)
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0xFE]) + size.to_bytes(2)
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


async def next_event(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(STEP_S):
        frame = await ws.get_message()
    assert isinstance(frame, str)
    event: dict[str, Any] = json.loads(frame)
    return event


async def closed_code(ws: WebSocketConnection) -> int | None:
    with trio.fail_after(STEP_S), pytest.raises(ConnectionClosed) as caught:
        while True:
            await ws.get_message()
    return caught.value.reason.code if caught.value.reason else None


async def test_a_refusal_is_a_complete_http_response_then_the_connection_closes(
    fake: FakeUpstream,
) -> None:
    _, request = client_handshake("/v1/realtime?model=fault-429")
    answer = await exchange(fake, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines)
    assert status == b"HTTP/1.1 429 Too Many Requests"
    assert headers[b"content-type"] == b"application/json" and headers[b"retry-after"] == b"1"
    assert headers[b"connection"] == b"close" and int(headers[b"content-length"]) == len(body)
    assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"
    record = fake.connections[0]
    assert record.rejected_status == 429
    with trio.fail_after(STEP_S):
        await record.closed.wait()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: x\r\n",  # never completed
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n",  # TLS hello
    ],
    ids=["incomplete", "garbage"],
)
async def test_a_bad_request_head_is_dropped_unanswered_and_unrecorded(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch, request_bytes: bytes
) -> None:
    monkeypatch.setattr(fake_upstream.server, "HANDSHAKE_TIMEOUT_S", 0.2)
    assert await exchange(fake, request_bytes) == b""
    assert fake.connections == []


async def test_a_header_line_over_websockets_limit_gets_its_431_and_is_unrecorded(
    fake: FakeUpstream,
) -> None:
    request = b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = await exchange(fake, request)
    assert answer.startswith(b"HTTP/1.1 431 ")  # websockets answers it before the fake sees it
    assert fake.connections == []


async def test_a_request_that_is_no_websocket_handshake_gets_websockets_own_http_error(
    fake: FakeUpstream,
) -> None:
    request = f"GET {GA} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n".encode()
    answer = await exchange(fake, request)
    assert answer.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    record = fake.connections[0]
    with trio.fail_after(STEP_S):
        await record.closed.wait()
    assert record.rejected_status == 426


# A client may send its first frames in the same write as the request head.
async def test_frames_sent_right_behind_the_request_head_are_taken(fake: FakeUpstream) -> None:
    client, request = client_handshake()
    update = session_update("ga")
    async with await trio.open_tcp_stream("127.0.0.1", fake.port) as stream:
        await stream.send_all(request + masked_text(json.dumps(update)))  # one write
        kinds: list[str] = []
        with trio.fail_after(1):
            while "session.updated" not in kinds:
                client.receive_data(await stream.receive_some())
                for event in client.events():
                    if isinstance(event, TextMessage):
                        kinds.append(json.loads(event.data)["type"])
                    else:
                        assert isinstance(event, AcceptConnection)
    assert kinds == ["session.created", "session.updated"]
    assert fake.connections[0].received == [update]


async def test_a_message_over_the_size_limit_is_closed_1009(
    fake: FakeUpstream, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_upstream.server, "MAX_MESSAGE_BYTES", 1024)
    ws = await connect_websocket(
        nursery, "127.0.0.1", fake.port, GA, use_ssl=False, extra_headers=BEARER
    )
    await next_event(ws)
    await ws.send_message("x" * 2000)
    assert await closed_code(ws) == 1009
    record = fake.connections[0]
    with trio.fail_after(STEP_S):
        await record.closed.wait()
    assert record.close_code == 1009


async def test_close_all_closes_1001_while_the_reader_waits(
    fake: FakeUpstream, nursery: trio.Nursery
) -> None:
    ws = await connect_websocket(
        nursery, "127.0.0.1", fake.port, GA, use_ssl=False, extra_headers=BEARER
    )
    await next_event(ws)
    await trio.testing.wait_all_tasks_blocked()  # the fake's reader is inside receive()
    with trio.fail_after(STEP_S):
        await fake.close_all()
    record = fake.connections[0]
    assert record.closed.is_set() and record.close_code == 1001
    assert await closed_code(ws) == 1001


async def test_close_all_does_not_wait_long_for_a_peer_that_never_answers(
    fake: FakeUpstream,
) -> None:
    client, request = client_handshake()
    async with await trio.open_tcp_stream("127.0.0.1", fake.port) as stream:
        await stream.send_all(request)
        with trio.fail_after(STEP_S):
            while not any(isinstance(e, TextMessage) for e in client.events()):
                client.receive_data(await stream.receive_some())
        start = trio.current_time()
        await fake.close_all()  # the peer reads nothing more, let alone answers the close
        assert trio.current_time() - start < 1.5 * fake_upstream.server.SHUTDOWN_CLOSE_TIMEOUT_S
        record = fake.connections[0]
        assert record.close_code == 1001
        with trio.fail_after(STEP_S):
            await record.closed.wait()


async def test_a_stalled_connection_is_dropped_without_a_close_frame_on_exit(
    nursery: trio.Nursery,
) -> None:
    path = "/v1/realtime?model=fault-stall-after-connect"
    async with open_fake_upstream() as fake:
        ws = await connect_websocket(
            nursery, "127.0.0.1", fake.port, path, use_ssl=False, extra_headers=BEARER
        )
        assert (await next_event(ws))["type"] == "session.created"
        await ws.send_message(json.dumps(session_update("ga")))
        assert (await next_event(ws))["type"] == "session.updated"
        await ws.send_message(json.dumps({"type": "response.create"}))  # stalls here
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)
        record = fake.connections[0]
        assert not record.closed.is_set()
        start = trio.current_time()
    assert trio.current_time() - start < fake_upstream.server.SHUTDOWN_CLOSE_TIMEOUT_S
    assert record.closed.is_set() and record.close_code == 1006
    assert await closed_code(ws) == 1006

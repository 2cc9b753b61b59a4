"""trio_relay.websocket against independent peers: trio-websocket (wsproto) and hand-made frames
from the ``websockets`` Sans-I/O client, over Trio's in-memory streams."""

from __future__ import annotations

import os
import socket

import pytest
import trio
import trio.lowlevel
import trio.testing
from harness import read_head, tcp_accepted_pair
from trio_websocket import ConnectionClosed as PeerClosed
from trio_websocket import WebSocketConnection, wrap_client_stream, wrap_server_stream
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from trio_relay.websocket import (
    Close,
    ConnectionClosed,
    HandshakeFailed,
    WebSocket,
    WriteTimeout,
    accept,
    connect,
)


async def accepted_pair(
    nursery: trio.Nursery, *, max_message_bytes: int = 1 << 20, subprotocol: str | None = None
) -> tuple[WebSocket, WebSocketConnection]:
    """Our server side, and a trio-websocket client, over an in-memory stream pair."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    server: list[WebSocket] = []

    async def serve() -> None:
        head = await read_head(server_stream)
        websocket = await accept(
            server_stream, head, max_message_bytes=max_message_bytes, subprotocol=subprotocol
        )
        assert websocket is not None
        server.append(websocket)

    nursery.start_soon(serve)
    client = await wrap_client_stream(
        nursery, client_stream, "relay", "/realtime", subprotocols=["realtime", "other"]
    )
    while not server:
        await trio.lowlevel.checkpoint()
    return server[0], client


async def raw_pair(
    max_message_bytes: int = 1024, *, max_message_fragments: int = 1024
) -> tuple[WebSocket, ClientProtocol, trio.testing.MemorySendStream | trio.abc.Stream]:
    """Our server side, and a client made of the ``websockets`` Sans-I/O protocol driven by
    hand (for frames trio-websocket never sends: fragments, bad UTF-8, silence)."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = ClientProtocol(parse_uri("ws://relay/realtime"))
    peer.send_request(peer.connect())
    await client_stream.send_all(b"".join(peer.data_to_send()))
    head = await read_head(server_stream)
    server = await accept(
        server_stream,
        head,
        max_message_bytes=max_message_bytes,
        subprotocol=None,
        max_message_fragments=max_message_fragments,
    )
    assert server is not None
    peer.receive_data(await client_stream.receive_some())
    assert [type(event).__name__ for event in peer.events_received()] == ["Response"]
    return server, peer, client_stream


async def test_text_and_binary_messages_go_both_ways(nursery: trio.Nursery) -> None:
    server, client = await accepted_pair(nursery)
    await client.send_message('{"type":"user_message","text":"hé"}')
    await client.send_message(b"\x01\x02" * 1000)
    assert await server.receive() == '{"type":"user_message","text":"hé"}'
    assert await server.receive() == b"\x01\x02" * 1000
    await server.send_many(["one", b"\x00\x01", "three"])
    assert [await client.get_message() for _ in range(3)] == ["one", b"\x00\x01", "three"]


async def test_the_subprotocol_is_chosen_only_when_offered(nursery: trio.Nursery) -> None:
    server, client = await accepted_pair(nursery, subprotocol="realtime")
    assert server.subprotocol == client.subprotocol == "realtime"
    server, client = await accepted_pair(nursery, subprotocol="not-offered")
    assert server.subprotocol is None and client.subprotocol is None


async def test_several_frames_from_one_read_are_messages_without_more_io(
    nursery: trio.Nursery,
) -> None:
    server, client = await accepted_pair(nursery)
    for index in range(5):
        await client.send_message(bytes([index]) * 640)
    await trio.testing.wait_all_tasks_blocked()
    assert server.receive_nowait() is None  # nothing read yet
    assert await server.receive() == bytes(640)
    # The rest came with the same read: available without waiting.
    assert [server.receive_nowait() for _ in range(4)] == [bytes([i]) * 640 for i in range(1, 5)]
    assert server.receive_nowait() is None


async def test_a_fragmented_message_is_assembled() -> None:
    server, peer, client_stream = await raw_pair()
    peer.send_text("hé".encode()[:2], fin=False)
    peer.send_ping(b"keepalive")  # control frames may come between fragments
    peer.send_continuation("hé".encode()[2:] + b" there", fin=True)
    peer.send_binary(b"\x01", fin=False)
    peer.send_continuation(b"\x02", fin=True)
    await client_stream.send_all(b"".join(peer.data_to_send()))
    assert await server.receive() == "hé there"
    assert await server.receive() == b"\x01\x02"
    peer.receive_data(await client_stream.receive_some())
    pongs = [event for event in peer.events_received() if event.opcode.name == "PONG"]
    assert [bytes(pong.data) for pong in pongs] == [b"keepalive"]


async def test_a_message_over_the_size_limit_closes_1009(nursery: trio.Nursery) -> None:
    server, client = await accepted_pair(nursery, max_message_bytes=4096)
    await client.send_message(b"fine")
    await client.send_message(bytes(4097))
    assert await server.receive() == b"fine"
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.received is None
    assert closed.value.sent is not None and closed.value.sent.code == 1009
    with pytest.raises(PeerClosed):
        await client.get_message()
    assert client.closed is not None and client.closed.code == 1009


async def test_invalid_utf8_in_a_text_message_closes_1007() -> None:
    server, peer, client_stream = await raw_pair()
    peer.send_text(b"\xff\xfe")
    await client_stream.send_all(b"".join(peer.data_to_send()))
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.sent is not None and closed.value.sent.code == 1007
    peer.receive_data(await client_stream.receive_some())
    assert peer.close_rcvd is not None and peer.close_rcvd.code == 1007


async def test_the_peer_closing_is_reported_with_its_code_and_echoed(
    nursery: trio.Nursery,
) -> None:
    server, client = await accepted_pair(nursery)
    await client.send_message("last words")
    nursery.start_soon(client.aclose, 4000, "bye")  # done once our side echoes the close
    assert await server.receive() == "last words"
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.received == Close(4000, "bye")
    with pytest.raises(ConnectionClosed):
        await server.send("too late")


async def test_a_dropped_connection_is_closed_without_a_close_frame() -> None:
    server, _, client_stream = await raw_pair()
    await client_stream.aclose()
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.received is None and closed.value.sent is None


async def test_aclose_sends_the_code_and_reason(nursery: trio.Nursery) -> None:
    server, client = await accepted_pair(nursery)
    await server.aclose(1013, "try again later")
    with pytest.raises(PeerClosed):
        await client.get_message()
    assert client.closed is not None
    assert (client.closed.code, client.closed.reason) == (1013, "try again later")


async def test_aclose_gives_up_on_a_silent_peer_after_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server, _, _ = await raw_pair()
    started = trio.current_time()
    await server.aclose(1000, close_timeout_s=2.0)  # the peer never answers the close
    assert trio.current_time() - started == pytest.approx(2.0)
    with pytest.raises(trio.ClosedResourceError):
        await server.stream.send_all(b"x")


async def test_an_invalid_upgrade_gets_a_400_and_no_websocket() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    head = (  # no Sec-WebSocket-Key, no version
        b"GET /realtime HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\n\r\n"
    )
    assert await accept(server_stream, head, max_message_bytes=1024, subprotocol=None) is None
    answer = await client_stream.receive_some()
    assert answer.startswith(b"HTTP/1.1 400 ") or answer.startswith(b"HTTP/1.1 426 ")


# --- the client side ------------------------------------------------------------------------


async def serve_with_trio_websocket(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    refuse: int | None = None,
    headers: dict[str, str] | None = None,
) -> WebSocketConnection | None:
    request = await wrap_server_stream(nursery, stream)
    if headers is not None:
        headers.update((k.decode(), v.decode()) for k, v in request.headers)
    if refuse is not None:
        await request.reject(refuse, extra_headers=[(b"content-type", b"text/plain")], body=b"no")
        return None
    return await request.accept()


async def test_connect_sends_the_headers_and_talks(nursery: trio.Nursery) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    accepted: list[WebSocketConnection] = []
    headers: dict[str, str] = {}

    async def serve() -> None:
        connection = await serve_with_trio_websocket(nursery, server_stream, headers=headers)
        assert connection is not None
        accepted.append(connection)

    nursery.start_soon(serve)
    websocket = await connect(
        client_stream,
        "wss://example.openai.azure.com/openai/realtime?api-version=2025-08-28",
        [("api-key", "secret")],
        max_message_bytes=1 << 20,
    )
    while not accepted:
        await trio.lowlevel.checkpoint()
    upstream = accepted[0]
    assert headers["api-key"] == "secret"
    assert upstream.path == "/openai/realtime?api-version=2025-08-28"
    await websocket.send('{"type":"session.update"}')
    assert await upstream.get_message() == '{"type":"session.update"}'
    await upstream.send_message('{"type":"session.updated"}')
    assert await websocket.receive() == '{"type":"session.updated"}'
    await websocket.aclose(1000)  # the client waits for the server's close reply and EOF
    assert upstream.closed is not None and upstream.closed.code == 1000


async def test_a_refused_handshake_raises_with_the_status(nursery: trio.Nursery) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    nursery.start_soon(lambda: serve_with_trio_websocket(nursery, server_stream, refuse=401))
    with pytest.raises(HandshakeFailed) as failed:
        await connect(client_stream, "ws://fake/v1/realtime", [], max_message_bytes=1024)
    assert failed.value.status == 401


async def test_a_non_websocket_answer_raises_without_a_status() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()

    async def answer_nonsense() -> None:
        await read_head(server_stream)
        await server_stream.send_all(b"SSH-2.0-OpenSSH_9.6\r\n")
        await server_stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_nonsense)
        with pytest.raises(HandshakeFailed) as failed:
            await connect(client_stream, "ws://fake/v1/realtime", [], max_message_bytes=1024)
    assert failed.value.status is None
    assert "did not answer with a WebSocket handshake" in failed.value.message


async def test_a_server_that_hangs_up_during_the_handshake_is_named() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()

    async def hang_up() -> None:
        await read_head(server_stream)
        await server_stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hang_up)
        with pytest.raises(HandshakeFailed) as failed:
            await connect(client_stream, "ws://fake:9/v1/realtime", [], max_message_bytes=1024)
    assert failed.value.status is None and "fake:9" in failed.value.message


async def test_an_interrupted_write_breaks_the_connection_instead_of_corrupting_it(
    nursery: trio.Nursery,
) -> None:
    # A lockstep stream: a write blocks until the peer reads, so it can be cancelled mid-way.
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    peer = ClientProtocol(parse_uri("ws://relay/realtime"))
    peer.send_request(peer.connect())
    nursery.start_soon(client_stream.send_all, b"".join(peer.data_to_send()))
    head = await read_head(server_stream)

    async def read_handshake_answer() -> None:
        await client_stream.receive_some()

    nursery.start_soon(read_handshake_answer)
    server = await accept(server_stream, head, max_message_bytes=1024, subprotocol=None)
    assert server is not None
    with trio.move_on_after(0.05):
        await server.send(b"x" * 10_000)  # nobody reads: cancelled mid-write
    assert not server.open
    with pytest.raises(ConnectionClosed):
        await server.send(b"more")


async def test_receive_ready_reads_what_gathered_in_the_socket_without_yielding(
    nursery: trio.Nursery,
) -> None:
    server, client = await tcp_accepted_pair(nursery)
    with trio.testing.assert_no_checkpoints():
        assert await server.receive_ready() is None  # nothing sent yet
    for index in range(5):
        await client.send_message(bytes([index]) * 960)
    await trio.sleep(0.05)  # as the client-reader does while a chunk gathers
    with trio.testing.assert_no_checkpoints():
        first = await server.receive_ready()
        rest = [server.receive_nowait() for _ in range(4)]
    assert [first, *rest] == [bytes([i]) * 960 for i in range(5)]
    assert await server.receive_ready() is None


async def test_receive_ready_answers_a_ping(nursery: trio.Nursery) -> None:
    server, client = await tcp_accepted_pair(nursery)
    with trio.fail_after(2):
        async with trio.open_nursery() as pinging:
            pinging.start_soon(client.ping, b"are you there")
            await trio.sleep(0.05)
            assert await server.receive_ready() is None  # the ping is no message...
            # ...but it was answered: the client's ping returns.


async def test_receive_ready_on_a_closing_connection_leaves_the_reason_to_receive(
    nursery: trio.Nursery,
) -> None:
    server, client = await tcp_accepted_pair(nursery)
    nursery.start_soon(client.aclose, 4000, "bye")
    await trio.sleep(0.05)
    assert await server.receive_ready() is None
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.received == Close(4000, "bye")


async def test_receive_ready_cannot_read_a_stream_without_waiting(nursery: trio.Nursery) -> None:
    server, client = await accepted_pair(nursery)  # in-memory streams
    await client.send_message("hello")
    await trio.testing.wait_all_tasks_blocked()
    assert await server.receive_ready() is None
    assert await server.receive() == "hello"


async def test_a_send_the_socket_takes_at_once_does_not_yield(nursery: trio.Nursery) -> None:
    server, client = await tcp_accepted_pair(nursery)
    with trio.testing.assert_no_checkpoints():
        await server.send_many(["one", b"two"])
    assert [await client.get_message() for _ in range(2)] == ["one", b"two"]


async def raw_tcp_pair() -> tuple[WebSocket, ClientProtocol, trio.SocketStream]:
    """Our server side on loopback TCP, and a peer made of the ``websockets`` Sans-I/O client
    that reads only when the test says so."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    peer_stream = await trio.open_tcp_stream("127.0.0.1", port)
    server_stream = await listeners[0].accept()
    await listeners[0].aclose()
    peer = ClientProtocol(parse_uri("ws://relay/realtime"), max_size=None)
    peer.send_request(peer.connect())
    await peer_stream.send_all(b"".join(peer.data_to_send()))
    server = await accept(
        server_stream, await read_head(server_stream), max_message_bytes=1024, subprotocol=None
    )
    assert server is not None
    return server, peer, peer_stream


async def test_a_send_to_a_peer_that_stopped_reading_times_out_and_breaks_the_connection() -> None:
    server, _, peer_stream = await raw_tcp_pair()
    with pytest.raises(trio.TooSlowError, match="took no data for 0.2 s"):
        for _ in range(1000):  # far more than the socket buffers hold
            await server.send(bytes(65536), timeout_s=0.2)
    assert not server.open
    with pytest.raises(ConnectionClosed):
        await server.send(b"more")
    await server.aclose(close_timeout_s=0.1)
    await peer_stream.aclose()


async def test_send_many_nowait_sends_what_the_socket_takes_at_once(
    nursery: trio.Nursery,
) -> None:
    server, client = await tcp_accepted_pair(nursery)
    with trio.testing.assert_no_checkpoints():
        assert server.send_many_nowait(["one", b"two"]) is True
    assert not server.unsent
    assert [await client.get_message() for _ in range(2)] == ["one", b"two"]


async def test_what_send_many_nowait_could_not_write_goes_first_and_in_order(
    nursery: trio.Nursery,
) -> None:
    server, client = await tcp_accepted_pair(nursery)
    server_socket = server.transport.stream
    assert isinstance(server_socket, trio.SocketStream)
    server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    big = [bytes([index]) * 100_000 for index in range(8)]  # more than the socket buffers hold
    with trio.testing.assert_no_checkpoints():
        assert server.send_many_nowait(big[:4]) is False
        assert server.unsent
        assert server.send_many_nowait(big[4:6]) is False  # queued behind the rest
    received: list[str | bytes] = []

    async def read_all() -> None:
        while len(received) < 9:
            received.append(await client.get_message())

    async with trio.open_nursery() as reading:
        reading.start_soon(read_all)
        await server.send_many([*big[6:], "last"])  # writes what was left unsent first
        assert not server.unsent
    assert received == [*big, "last"]


async def test_send_many_nowait_never_cuts_into_another_tasks_write(nursery: trio.Nursery) -> None:
    server, peer, peer_stream = await raw_tcp_pair()
    big = b"\x01" * 3_000_000
    nursery.start_soon(server.send, big)  # blocks mid-frame: the peer is not reading yet
    await trio.testing.wait_all_tasks_blocked()
    # The peer reads some (without yielding): the socket has room before the writer runs again.
    received = os.read(peer_stream.socket.fileno(), 1 << 20)
    assert server.send_many_nowait(["after"]) is False  # queued behind the frame in progress
    peer.receive_data(received)
    nursery.start_soon(server.send_many, [])  # the writer's flush: waits for the lock
    messages: list[bytes] = []
    while len(messages) < 2:
        peer.receive_data(await peer_stream.receive_some(1 << 20))
        messages += [bytes(e.data) for e in peer.events_received() if isinstance(e, Frame)]
    assert messages == [big, b"after"]
    assert not server.unsent
    await peer_stream.aclose()


async def test_send_many_nowait_on_a_stream_that_cannot_be_written_without_waiting(
    nursery: trio.Nursery,
) -> None:
    server, client = await accepted_pair(nursery)  # in-memory streams
    assert server.send_many_nowait(["queued"]) is False and server.unsent
    await server.send_many([])
    assert await client.get_message() == "queued"
    assert not server.unsent


async def test_send_many_nowait_on_a_closed_connection_raises(nursery: trio.Nursery) -> None:
    server, client = await tcp_accepted_pair(nursery)
    await server.aclose(close_timeout_s=0.2)
    with pytest.raises(ConnectionClosed):
        server.send_many_nowait(["late"])


async def test_frames_sent_in_the_same_write_as_the_request_head_are_received() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = ClientProtocol(parse_uri("ws://relay/realtime"))
    peer.send_request(peer.connect())
    request = b"".join(peer.data_to_send())
    frame = Frame(Opcode.TEXT, b"eager").serialize(mask=True, extensions=[])
    await client_stream.send_all(request + frame)  # one write: no waiting for the 101
    head = await server_stream.receive_some()
    server = await accept(server_stream, head, max_message_bytes=1024, subprotocol=None)
    assert server is not None
    assert server.receive_nowait() == "eager"


# --- bounds: message size over all fragments, fragment count, every write timed ---------------


async def test_fragments_count_toward_the_size_limit_in_total() -> None:
    server, peer, client_stream = await raw_pair(max_message_bytes=1024)
    peer.send_binary(bytes(300), fin=False)
    for _ in range(3):  # each fragment is small; together they are over the limit
        peer.send_continuation(bytes(300), fin=False)
    peer.send_continuation(b"", fin=True)
    await client_stream.send_all(b"".join(peer.data_to_send()))
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.sent is not None and closed.value.sent.code == 1009
    peer.receive_data(await client_stream.receive_some())
    assert peer.close_rcvd is not None and peer.close_rcvd.code == 1009


async def test_a_message_of_too_many_fragments_closes_1009_however_small_they_are() -> None:
    server, peer, client_stream = await raw_pair(max_message_fragments=8)
    peer.send_text(b"", fin=False)
    for _ in range(8):  # one frame and eight continuations: nine fragments
        peer.send_continuation(b"", fin=False)
    peer.send_continuation(b"never seen", fin=True)
    peer.send_text(b"nor this: it came after the failure")
    await client_stream.send_all(b"".join(peer.data_to_send()))
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.sent == Close(1009, "a message of more than 8 fragments")
    assert server.receive_nowait() is None
    peer.receive_data(await client_stream.receive_some())
    assert peer.close_rcvd is not None and peer.close_rcvd.code == 1009


async def test_a_message_of_as_many_fragments_as_allowed_is_received() -> None:
    server, peer, client_stream = await raw_pair(max_message_fragments=8)
    peer.send_text(b"a", fin=False)
    for index in range(7):
        peer.send_continuation(b"b", fin=index == 6)
    await client_stream.send_all(b"".join(peer.data_to_send()))
    assert await server.receive() == "abbbbbbb"


async def test_nothing_after_invalid_utf8_in_the_same_read_is_a_message() -> None:
    server, peer, client_stream = await raw_pair()
    peer.send_text(b"\xff")
    peer.send_text(b"after the failure")
    await client_stream.send_all(b"".join(peer.data_to_send()))
    with pytest.raises(ConnectionClosed) as closed:
        await server.receive()
    assert closed.value.sent is not None and closed.value.sent.code == 1007
    assert server.receive_nowait() is None


async def lockstep_pair(
    nursery: trio.Nursery, *, write_timeout_s: float
) -> tuple[WebSocket, ClientProtocol, trio.abc.Stream]:
    """Our server side on a stream with no buffer at all (a write waits until the peer reads),
    and a hand-driven peer that has read the handshake answer and reads nothing more."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    peer = ClientProtocol(parse_uri("ws://relay/realtime"))
    peer.send_request(peer.connect())
    nursery.start_soon(client_stream.send_all, b"".join(peer.data_to_send()))
    head = await read_head(server_stream)

    async def read_handshake_answer() -> None:
        peer.receive_data(await client_stream.receive_some())

    nursery.start_soon(read_handshake_answer)
    server = await accept(
        server_stream,
        head,
        max_message_bytes=1024,
        subprotocol=None,
        write_timeout_s=write_timeout_s,
    )
    assert server is not None
    return server, peer, client_stream


async def test_a_send_without_its_own_timeout_gives_up_after_the_write_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server, _, _ = await lockstep_pair(nursery, write_timeout_s=3.0)
    started = trio.current_time()
    with pytest.raises(WriteTimeout) as timeout:
        await server.send("nobody reads this")
    assert isinstance(timeout.value, trio.TooSlowError)
    assert timeout.value.connection is server and timeout.value.timeout_s == 3.0
    assert trio.current_time() - started == pytest.approx(3.0)
    assert not server.open


async def test_a_pong_the_peer_does_not_read_times_out_in_receive(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server, peer, client_stream = await lockstep_pair(nursery, write_timeout_s=3.0)
    peer.send_ping(b"are you there")
    nursery.start_soon(client_stream.send_all, b"".join(peer.data_to_send()))
    started = trio.current_time()
    with pytest.raises(WriteTimeout):
        await server.receive()  # reads the ping; its pong never goes out
    assert trio.current_time() - started == pytest.approx(3.0)
    with pytest.raises(ConnectionClosed):
        await server.receive()


async def test_aclose_to_a_peer_that_does_not_read_returns_within_the_close_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    for write_timeout_s in (0.5, 60.0):  # the write gives up first, or the close timeout does
        server, _, _ = await lockstep_pair(nursery, write_timeout_s=write_timeout_s)
        started = trio.current_time()
        await server.aclose(1000, close_timeout_s=2.0)  # never raises
        assert trio.current_time() - started == pytest.approx(min(write_timeout_s, 2.0))
        with pytest.raises(trio.ClosedResourceError):
            await server.stream.send_all(b"x")


async def test_accept_gives_up_on_a_client_that_does_not_read_the_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    peer = ClientProtocol(parse_uri("ws://relay/realtime"))
    peer.send_request(peer.connect())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client_stream.send_all, b"".join(peer.data_to_send()))
        head = await read_head(server_stream)
    started = trio.current_time()
    websocket = await accept(
        server_stream, head, max_message_bytes=1024, subprotocol=None, write_timeout_s=4.0
    )
    assert websocket is None
    assert trio.current_time() - started == pytest.approx(4.0)


async def test_accept_to_a_client_that_left_is_no_websocket() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = ClientProtocol(parse_uri("ws://relay/realtime"))
    peer.send_request(peer.connect())
    await client_stream.send_all(b"".join(peer.data_to_send()))
    head = await read_head(server_stream)
    await client_stream.aclose()
    assert await accept(server_stream, head, max_message_bytes=1024, subprotocol=None) is None


async def test_a_write_waiting_behind_a_write_that_timed_out_raises_instead_of_vanishing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server, _, _ = await lockstep_pair(nursery, write_timeout_s=3.0)
    outcomes: list[str] = []

    async def send(message: str) -> None:
        try:
            await server.send(message)
        except (WriteTimeout, ConnectionClosed) as exc:
            outcomes.append(type(exc).__name__)

    async with trio.open_nursery() as senders:
        senders.start_soon(send, "first")
        await trio.testing.wait_all_tasks_blocked()
        senders.start_soon(send, "second")  # waits for the lock
    assert outcomes == ["WriteTimeout", "ConnectionClosed"]

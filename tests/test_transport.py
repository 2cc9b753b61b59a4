"""trio_relay.transport: the direct TCP socket path, over real loopback sockets, and the
stream path every other stream takes."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from harness import is_control, open_browser, serve

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from trio_relay import transport as transport_module
from trio_relay.config import RelayConfig, openai_target
from trio_relay.transport import SocketTransport, Transport, transport_for


@pytest.fixture
async def tcp_pair() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    """A connected loopback TCP pair: (ours, the peer's)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    ours = await trio.open_tcp_stream("127.0.0.1", port)
    peer = await listeners[0].accept()
    await listeners[0].aclose()
    yield ours, peer
    await trio.aclose_forcefully(ours)
    await trio.aclose_forcefully(peer)


async def arrived(transport: SocketTransport) -> bytes:
    await trio.lowlevel.wait_readable(transport.socket)
    data = transport.receive_nowait()
    assert data is not None
    return data


def small_buffers(ours: trio.SocketStream, peer: trio.SocketStream) -> None:
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)


def test_a_tcp_stream_gets_the_socket_path_and_any_other_stream_its_own_methods() -> None:
    ours, _ = trio.testing.memory_stream_pair()
    assert type(transport_for(ours)) is Transport


async def test_receive_nowait_reads_what_is_there_and_never_waits(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream],
) -> None:
    ours, peer = tcp_pair
    transport = transport_for(ours)
    assert isinstance(transport, SocketTransport)
    with trio.testing.assert_no_checkpoints():
        assert transport.receive_nowait() is None
    await peer.send_all(b"one")
    await peer.send_all(b"two")
    await trio.lowlevel.wait_readable(ours.socket)
    with trio.testing.assert_no_checkpoints():
        data = transport.receive_nowait()
    assert data is not None and b"onetwo".startswith(data)


async def test_receive_nowait_says_end_of_stream_when_the_peer_closes(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream],
) -> None:
    ours, peer = tcp_pair
    transport = SocketTransport(ours)
    await peer.aclose()
    assert await arrived(transport) == b""


async def test_a_reset_connection_reads_as_end_of_stream_and_refuses_writes(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream],
) -> None:
    ours, peer = tcp_pair
    transport = SocketTransport(ours)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await peer.aclose()  # linger 0: the peer's kernel answers with RST
    assert await arrived(transport) == b""
    with pytest.raises(trio.BrokenResourceError, match="the peer is gone"):
        for _ in range(3):  # the first write after a reset may still be accepted
            transport.send_nowait(memoryview(b"x" * 1000))
            await trio.sleep(0.01)


async def test_after_we_close_reads_end_and_writes_raise_closed(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream],
) -> None:
    ours, _ = tcp_pair
    transport = SocketTransport(ours)
    await ours.aclose()
    assert transport.receive_nowait() == b""
    assert await transport.receive() == b""
    with pytest.raises(trio.ClosedResourceError):
        transport.send_nowait(memoryview(b"x"))


async def test_receive_is_a_checkpoint_even_when_data_is_ready(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream],
) -> None:
    ours, peer = tcp_pair
    transport = SocketTransport(ours)
    await peer.send_all(b"ready")
    await trio.lowlevel.wait_readable(ours.socket)
    with trio.testing.assert_checkpoints():
        assert await transport.receive() == b"ready"


async def test_receive_waits_for_data(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream], nursery: trio.Nursery
) -> None:
    ours, peer = tcp_pair
    transport = SocketTransport(ours)

    async def later() -> None:
        await trio.sleep(0.05)
        await peer.send_all(b"late")

    nursery.start_soon(later)
    started = trio.current_time()
    assert await transport.receive() == b"late"
    assert trio.current_time() - started >= 0.04


async def test_a_receive_waiting_when_another_task_closes_the_socket_ends_the_stream(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream], nursery: trio.Nursery
) -> None:
    ours, _ = tcp_pair
    transport = SocketTransport(ours)
    nursery.start_soon(ours.aclose)
    assert await transport.receive() == b""


async def test_send_nowait_writes_what_fits_then_nothing_and_send_all_waits_for_the_reader(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream], nursery: trio.Nursery
) -> None:
    ours, peer = tcp_pair
    small_buffers(ours, peer)
    transport = SocketTransport(ours)
    data = memoryview(bytes(range(256)) * 4096)  # 1 MiB: far more than the buffers hold
    with trio.testing.assert_no_checkpoints():
        sent = transport.send_nowait(data)
        assert 0 < sent < len(data)
        while (more := transport.send_nowait(data[sent:])) > 0:
            sent += more
        assert transport.send_nowait(data[sent:]) == 0  # full: nothing, and no waiting

    received = bytearray()
    all_read = trio.Event()

    async def read_everything() -> None:
        while len(received) < len(data):
            received.extend(await peer.receive_some(65536))
        all_read.set()

    nursery.start_soon(read_everything)
    await transport.send_all(data[sent:])
    await all_read.wait()
    assert received == data


async def test_send_all_that_fits_does_not_yield(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream],
) -> None:
    ours, peer = tcp_pair
    transport = SocketTransport(ours)
    with trio.testing.assert_no_checkpoints():
        await transport.send_all(memoryview(b"small"))
    assert await peer.receive_some() == b"small"


async def test_send_after_eof_is_refused(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream],
) -> None:
    ours, peer = tcp_pair
    transport = SocketTransport(ours)
    await transport.send_eof()
    assert await peer.receive_some() == b""
    with pytest.raises(trio.ClosedResourceError, match="EOF"):
        transport.send_nowait(memoryview(b"x"))


async def test_any_other_stream_cannot_be_used_without_waiting_and_goes_through_its_methods() -> (
    None
):
    ours, peer = trio.testing.memory_stream_pair()
    transport = transport_for(ours)
    assert transport.receive_nowait() is None
    assert transport.send_nowait(memoryview(b"x")) == 0
    await transport.send_all(memoryview(b"hello"))
    assert await peer.receive_some() == b"hello"
    await peer.send_all(b"back")
    assert await transport.receive() == b"back"
    await peer.aclose()
    assert await transport.receive() == b""


# --- where the direct path is not to be taken ------------------------------------------------


async def test_where_sockets_are_not_file_descriptors_a_tcp_stream_takes_its_own_methods(
    tcp_pair: tuple[trio.SocketStream, trio.SocketStream], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "SOCKETS_ARE_FILE_DESCRIPTORS", False)  # Windows
    ours, peer = tcp_pair
    transport = transport_for(ours)
    assert type(transport) is Transport
    assert transport.receive_nowait() is None and transport.send_nowait(memoryview(b"x")) == 0
    await transport.send_all(memoryview(b"hello"))
    assert await peer.receive_some() == b"hello"
    await peer.send_all(b"back")
    assert await transport.receive() == b"back"


def test_on_posix_sockets_are_file_descriptors() -> None:
    assert transport_module.SOCKETS_ARE_FILE_DESCRIPTORS is (os.name == "posix")


async def test_a_session_works_on_the_stream_path_alone(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay as a whole, both hops on TCP, where the direct path is unavailable."""
    monkeypatch.setattr(transport_module, "SOCKETS_ARE_FILE_DESCRIPTORS", False)
    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
        relay = await serve(nursery, RelayConfig(upstream=target))
        async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
            await browser.until(is_control("connected"))
            await browser.send_text("hello")
            await browser.until(is_control("text_done"))

"""Every wait and write of the plain-HTTP path has a bound, on memory streams and virtual time.

A connection is served by :meth:`Relay.handle_connection` on one end of an in-memory stream; the
test plays the client on the other end, and reads the (virtual) time at which the relay let go.
"""

from __future__ import annotations

import resource
from collections.abc import Awaitable, Callable

import attrs
import h11
import pytest
import trio
import trio.testing

from trio_relay.config import Limits, RelayConfig, openai_target
from trio_relay.server import Relay
from trio_relay.serving import raise_open_file_limit

LIMITS = Limits(
    handshake_timeout_s=2.0,
    write_timeout_s=1.0,
    keepalive_timeout_s=0.5,
    max_request_body_bytes=1000,
)
CONFIG = RelayConfig(upstream=openai_target("http://127.0.0.1:9/v1", "m", "k"), limits=LIMITS)
HEALTHZ = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.fixture
def relay() -> Relay:
    assert CONFIG.upstream is not None
    return Relay(CONFIG, CONFIG.upstream, None)


Client = Callable[[trio.abc.Stream], Awaitable[None]]


async def served(relay: Relay, client: Client, *, lockstep: bool = False) -> float:
    """Serve one connection to ``client``; the time from the start until the relay let go."""
    ours, theirs = (
        trio.testing.lockstep_stream_pair() if lockstep else trio.testing.memory_stream_pair()
    )
    start = trio.current_time()
    async with trio.open_nursery() as nursery:

        async def play() -> None:
            try:
                await client(theirs)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the relay hung up on us

        nursery.start_soon(play)
        await relay.handle_connection(ours)
        ended = trio.current_time() - start
        nursery.cancel_scope.cancel()
    return ended


async def responses(stream: trio.abc.Stream, count: int = 1) -> list[tuple[int, bytes]]:
    """Read ``count`` responses (status, body), then wait for the relay to hang up."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    conn.send(h11.EndOfMessage())
    got: list[tuple[int, bytes]] = []
    status, body = 0, b""
    while len(got) < count:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Response):
            status, body = event.status_code, b""
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            got.append((status, body))
            if len(got) < count and conn.our_state is h11.DONE:
                conn.start_next_cycle()
                conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
                conn.send(h11.EndOfMessage())
        elif isinstance(event, h11.InformationalResponse):
            got.append((event.status_code, b""))
        else:
            raise AssertionError(f"unexpected {event!r}")
    return got


def dropped(relay: Relay, reason: str) -> float | None:
    return relay.metrics.registry.get_sample_value(
        "trio_relay_connections_dropped_total", {"reason": reason}
    )


async def test_a_body_that_trickles_slower_than_the_handshake_timeout_is_cut(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    answers: list[bytes] = []

    async def trickle(stream: trio.abc.Stream) -> None:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n")
        for _ in range(100):  # a byte every 0.1 s: 10 s for the body
            await stream.send_all(b"x")
            await trio.sleep(0.1)
        answers.append(await stream.receive_some(1024))

    assert await served(relay, trickle) == pytest.approx(LIMITS.handshake_timeout_s, abs=0.15)
    assert answers == [] and dropped(relay, "request_timeout") == 1


async def test_a_head_that_trickles_is_cut_at_the_same_deadline(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    async def trickle(stream: trio.abc.Stream) -> None:
        for byte in HEALTHZ[:-2]:
            await stream.send_all(bytes([byte]))
            await trio.sleep(0.1)

    assert await served(relay, trickle) == pytest.approx(LIMITS.handshake_timeout_s, abs=0.15)


async def test_a_client_that_never_reads_is_abandoned_after_the_write_timeout(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    sent_at: list[float] = []

    async def never_reads(stream: trio.abc.Stream) -> None:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        sent_at.append(trio.current_time())
        await trio.sleep_forever()

    ended = await served(relay, never_reads, lockstep=True)
    assert ended == pytest.approx(LIMITS.write_timeout_s, abs=0.05)
    assert dropped(relay, "write_timeout") == 1


async def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    answered_at: list[float] = []

    async def one_request_then_idle(stream: trio.abc.Stream) -> None:
        await stream.send_all(HEALTHZ)
        assert await responses(stream) == [(200, b"ok\n")]
        answered_at.append(trio.current_time())
        assert await stream.receive_some(1024) == b""  # then the relay hangs up
        await trio.sleep_forever()

    ended = await served(relay, one_request_then_idle)
    assert ended == pytest.approx(LIMITS.keepalive_timeout_s, abs=0.05)
    assert answered_at == [pytest.approx(0, abs=0.05)]
    assert dropped(relay, "request_timeout") is None  # an idle close is not a drop


async def test_a_keep_alive_request_started_but_not_finished_is_cut_at_the_request_deadline(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    async def second_request_stalls(stream: trio.abc.Stream) -> None:
        await stream.send_all(HEALTHZ)
        await responses(stream)
        await stream.send_all(b"GET /heal")
        await trio.sleep_forever()

    ended = await served(relay, second_request_stalls)
    assert ended == pytest.approx(LIMITS.handshake_timeout_s, abs=0.05)


async def test_pipelined_requests_are_all_answered_in_order(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[list[tuple[int, bytes]]] = []

    async def pipelined(stream: trio.abc.Stream) -> None:
        await stream.send_all(HEALTHZ + b"GET /nope HTTP/1.1\r\nhost: x\r\n\r\n" + HEALTHZ)
        got.append(await responses(stream, 3))

    await served(relay, pipelined)
    assert [status for status, _ in got[0]] == [200, 404, 200]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 1001\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"3e8\r\n"
        + b"x" * 1000
        + b"\r\n1\r\n",
    ],
)
async def test_a_body_over_the_limit_is_413_and_the_connection_closed(
    relay: Relay, autojump_clock: trio.testing.MockClock, head: bytes
) -> None:
    got: list[list[tuple[int, bytes]]] = []

    async def big_body(stream: trio.abc.Stream) -> None:
        await stream.send_all(head + b"x" * 1001)
        got.append(await responses(stream))
        assert await stream.receive_some(1024) == b""

    await served(relay, big_body)
    assert got[0][0][0] == 413


async def test_other_methods_are_405_without_the_body_being_read(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[list[tuple[int, bytes]]] = []

    async def post(stream: trio.abc.Stream) -> None:
        await stream.send_all(
            b"POST /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999\r\n\r\n"
        )
        got.append(await responses(stream))
        assert await stream.receive_some(1024) == b""

    assert await served(relay, post) < 0.05
    assert got[0][0][0] == 405


async def test_expect_100_continue_is_answered_before_the_body_is_read(
    relay: Relay, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[list[tuple[int, bytes]]] = []

    async def expects(stream: trio.abc.Stream) -> None:
        await stream.send_all(
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n"
        )
        got.append(await responses(stream))
        await stream.send_all(b"abc")
        got.append(await responses(stream))

    await served(relay, expects)
    assert got == [[(100, b"")], [(200, b"ok\n")]]


async def test_metrics_token_is_required_when_set(
    autojump_clock: trio.testing.MockClock,
) -> None:
    access = attrs.evolve(CONFIG.access, metrics_token="metrics-token-0123456789")
    config = attrs.evolve(CONFIG, access=access)
    assert config.upstream is not None
    relay = Relay(config, config.upstream, None)
    got: list[bytes] = []

    async def scrape(stream: trio.abc.Stream) -> None:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        await stream.send_all(
            b"GET /metrics HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\n\r\n"
        )
        await stream.send_all(
            b"GET /metrics HTTP/1.1\r\nhost: x\r\n"
            b"authorization: Bearer metrics-token-0123456789\r\nconnection: close\r\n\r\n"
        )
        while chunk := await stream.receive_some(65536):
            got.append(chunk)

    await served(relay, scrape)
    reply = b"".join(got)
    assert reply.count(b"HTTP/1.1 401") == 2
    assert reply.count(b'www-authenticate: Bearer realm="trio-relay metrics"') == 2
    assert b"HTTP/1.1 200" in reply and b"trio_relay_active_sessions" in reply


def test_the_open_file_limit_is_raised_and_a_shortfall_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raise_open_file_limit(Limits(max_connections=100, max_sessions=10))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(hard, 100 + 20 + 64)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    beyond = hard if hard != resource.RLIM_INFINITY else 1 << 40
    raise_open_file_limit(Limits(max_connections=beyond, max_sessions=1))
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert isinstance(warning.msg, dict) and warning.msg["needed"] > warning.msg["limit"]

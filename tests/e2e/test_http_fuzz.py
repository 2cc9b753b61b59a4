"""Hypothesis against ONE running relay: arbitrary request heads and bodies over raw TCP.

Methods, targets with every byte value and percent-encoding, header names and values (``Origin``,
``Host``, ``Transfer-Encoding`` / ``Content-Length`` combinations, WebSocket upgrades), truncated
and malformed bodies, pipelining, keep-alive; delivered in pieces, then the client half-closes,
resets, or waits for the relay to hang up. After every example: ``/healthz`` answers, no answer
was a 5xx, and the relay's tasks and this process's file descriptors are back to where they were
(the relay runs in this process, on the main thread; hypothesis drives it from a worker thread
with blocking sockets).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import trio
from harness import count_tasks, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_relay.config import Access, Limits, RelayConfig, openai_target
from trio_relay.server import Relay

LIMITS = Limits(
    handshake_timeout_s=0.4,
    write_timeout_s=0.4,
    keepalive_timeout_s=0.3,
    close_timeout_s=0.2,
    upstream_connect_timeout_s=1.0,
    max_request_body_bytes=300,
)
# Sessions get past admission now and then: the upstream is a closed port, so they end at once.
CONFIG = RelayConfig(
    upstream=openai_target("http://127.0.0.1:9/v1", "m", "k"),
    limits=LIMITS,
    access=Access(metrics_token="metrics-token-0123456789"),
)
SETTLE_S = 5.0  # how long the relay may take to be back at its baseline after an example
SOCKET_TIMEOUT_S = 5.0  # every relay answer and hang-up is bounded well below this


TOKEN = st.text(
    alphabet="!#$%&'*+-.^_`|~ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    min_size=1,
    max_size=8,
)
any_bytes = st.binary(max_size=24)
odd_methods = st.one_of(
    st.sampled_from([b"PUT", b"OPTIONS", b"CONNECT", b"PRI", b"get", b"DELETE"]),
    TOKEN.map(str.encode),
    any_bytes,
)
PATHS = ["/", "/healthz", "/readyz", "/metrics", "/realtime", "/index.html", "/assets/app.js"]
odd_targets = st.one_of(
    st.sampled_from(PATHS).map(str.encode),
    st.binary(max_size=30).map(lambda b: b"/" + b),  # every byte value, raw
    st.binary(max_size=12).map(lambda b: b"/" + b"".join(b"%%%02X" % c for c in b)),
    st.tuples(st.sampled_from(PATHS), st.binary(max_size=10)).map(
        lambda t: t[0].encode() + b"?token=" + b"".join(b"%%%02x" % c for c in t[1])
    ),
    st.tuples(
        st.sampled_from([b"http://", b"https://", b"//", b"ws://"]),
        any_bytes,
        st.sampled_from(PATHS),
    ).map(lambda t: t[0] + t[1] + t[2].encode()),
    st.sampled_from(
        [b"*", b"//[", b"http://[::1", b"http://[", b"/%00", b"/..%2f..%2fetc/passwd", b""]
    ),
)
odd_versions = st.sampled_from([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 x", b"", b"HTTP/1.1\n"])
header_values: dict[bytes, st.SearchStrategy[bytes]] = {
    b"host": st.sampled_from([b"relay", b"", b"a b", b"[::1]:80"]),
    b"origin": st.sampled_from(
        [
            b"http://localhost:5173",
            b"https://evil.example",
            b"http://[",
            b"http://[::1",
            b"null",
            b"http://127.0.0.1:8080/",
            b"\xff\xfe",
            b"http://localhost@evil",
        ]
    ),
    b"content-length": st.one_of(
        st.integers(0, 400).map(lambda n: str(n).encode()),
        st.sampled_from([b"-1", b"1e3", b"0x10", b"99999999999999999999", b"1, 2", b""]),
    ),
    b"transfer-encoding": st.sampled_from(
        [b"chunked", b"gzip, chunked", b"chunked, gzip", b"identity", b"xchunked"]
    ),
    b"connection": st.sampled_from([b"close", b"keep-alive", b"upgrade", b"Upgrade, keep-alive"]),
    b"upgrade": st.sampled_from([b"websocket", b"WebSocket", b"h2c", b""]),
    b"sec-websocket-key": st.sampled_from([b"dGhlIHNhbXBsZSBub25jZQ==", b"short", b""]),
    b"sec-websocket-version": st.sampled_from([b"13", b"8", b"x"]),
    b"sec-websocket-protocol": st.sampled_from([b"trio-relay", b"bearer.x", b",,,", b"\x00"]),
    b"expect": st.sampled_from([b"100-continue", b"nothing"]),
    b"x-forwarded-for": st.sampled_from([b"1.2.3.4", b"[::1]:1, x", b",,,", b"\xff"]),
    b"authorization": st.sampled_from([b"Bearer metrics-token-0123456789", b"Bearer", b"Basic x"]),
}
known_header = st.sampled_from(sorted(header_values)).flatmap(
    lambda name: st.tuples(st.just(name), header_values[name])
)
# any name, any value: colons, CR, LF, NUL included
odd_header = st.tuples(any_bytes, any_bytes)


def chunked(body: bytes, sizes: list[int], malformed: bytes) -> bytes:
    out, rest = b"", body
    for size in sizes:
        piece, rest = rest[:size], rest[size:]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    return out + malformed


bodies = st.one_of(
    st.just(b""),
    st.just(b""),
    st.binary(max_size=400),
    st.builds(
        chunked,
        st.binary(max_size=300),
        st.lists(st.integers(1, 100), max_size=4),
        st.sampled_from([b"0\r\n\r\n", b"0\r\n", b"zz\r\n", b"5\r\nab", b"", b"0\r\nx: y\r\n\r\n"]),
    ),
)


UPGRADE = [
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"sec-websocket-version", b"13"),
]
MUTATIONS = ["method", "target", "version", "no_host", "odd_header", "body", "bare_lf"]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """A valid request (a WebSocket upgrade, sometimes), then a few mutations of it: hypothesis
    shrinks towards the valid ones, and many reach past the parser to routing and admission."""
    method = draw(st.sampled_from([b"GET", b"HEAD", b"POST"]))
    upgrade = draw(st.booleans())
    target = b"/realtime" if upgrade else draw(st.sampled_from(PATHS)).encode()
    version = b"HTTP/1.1"
    head = [(b"host", b"relay")] + (UPGRADE if upgrade else [])
    head += draw(st.lists(known_header, max_size=4))
    body = b""
    line_end = b"\r\n"
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3, unique=True)):
        if mutation == "method":
            method = draw(odd_methods)
        elif mutation == "target":
            target = draw(odd_targets)
        elif mutation == "version":
            version = draw(odd_versions)
        elif mutation == "no_host":
            head = [field for field in head if field[0] != b"host"]
        elif mutation == "odd_header":
            head.insert(draw(st.integers(0, len(head))), draw(odd_header))
        elif mutation == "body":
            body = draw(bodies)
        else:
            line_end = b"\n"
    fields = b"".join(name + b": " + value + line_end for name, value in head)
    return method + b" " + target + b" " + version + line_end + fields + line_end + body


@attrs.frozen
class Exchange:
    requests: list[bytes]
    cuts: list[int]  # where the bytes are split into separate sends
    truncate: int | None  # send only this many bytes
    ending: str  # fin: half-close and read; rst: reset at once; wait: read until the relay hangs up


exchanges = st.builds(
    Exchange,
    st.lists(requests(), min_size=1, max_size=3),
    st.lists(st.integers(0, 2000), max_size=3),
    st.none() | st.integers(0, 600),
    st.sampled_from(["fin", "rst", "wait"]),
)


def deliver(port: int, exchange: Exchange) -> bytes:
    data = b"".join(exchange.requests)
    if exchange.truncate is not None:
        data = data[: exchange.truncate]
    bounds = [0, *sorted(c for c in exchange.cuts if c < len(data)), len(data)]
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for start, end in zip(bounds, bounds[1:], strict=False):
                sock.sendall(data[start:end])
            if exchange.ending == "rst":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return b""
            if exchange.ending == "fin":
                sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):  # socket.timeout here: the relay did not let go
                reply += chunk
        except TimeoutError:
            raise AssertionError(f"the relay did not let go of {exchange!r}") from None
        except OSError:  # EPIPE, ECONNRESET, ENOTCONN
            pass  # the relay hung up first: fine, what it said is in reply
    return reply


def healthz(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    return reply


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SETTLE_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def bugs_reached(relay: Relay) -> list[dict[str, str]]:
    """Connections that ended in an unexpected exception (a 500, logged with a traceback)."""
    return [
        sample.labels
        for metric in relay.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "trio_relay_connection_errors_total"
        and sample.labels["fault"] == "server"
        and sample.value
    ]


def run_examples(relay: Relay, tasks: int, fds: int) -> None:
    """Runs in a worker thread; the relay runs on the Trio thread."""

    def relay_tasks() -> int:
        assert relay.task is not None
        return trio.from_thread.run_sync(count_tasks, relay.task)

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(exchange=exchanges)
    def example(exchange: Exchange) -> None:
        reply = deliver(relay.port, exchange)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 "), reply[:200]
        assert re.search(rb"HTTP/1\.1 50[0-2] ", reply) is None, reply[:200]
        assert healthz(relay.port).endswith(b"\r\n\r\nok\n")
        assert trio.from_thread.run_sync(bugs_reached, relay) == []
        eventually(lambda: relay_tasks() <= tasks, "the relay's tasks are back to the baseline")
        eventually(lambda: fd_count() <= fds, "file descriptors are back to the baseline")

    example()


async def fuzz(static_dir: Path) -> None:
    (static_dir / "index.html").write_text("<!doctype html><title>relay</title>")
    (static_dir / "assets").mkdir()
    (static_dir / "assets" / "app.js").write_text("console.log(1)")
    async with trio.open_nursery() as nursery:
        relay = await serve(nursery, attrs.evolve(CONFIG, static_dir=str(static_dir)))
        assert relay.task is not None
        tasks, fds = count_tasks(relay.task), fd_count()
        await trio.to_thread.run_sync(run_examples, relay, tasks, fds)
        nursery.cancel_scope.cancel()


def test_arbitrary_requests_never_hurt_the_relay(tmp_path: Path) -> None:
    trio.run(fuzz, tmp_path)

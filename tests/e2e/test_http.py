"""Plain HTTP on the relay's port: probes, 404s, and the upgrade-only /realtime."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
import httpx
import pytest
import trio
from harness import count_tasks, is_control, open_browser, serve, start_relay
from trio_websocket import ConnectionRejected, open_websocket_url

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from trio_relay.client_auth import ClientAuth, ClientAuthMode
from trio_relay.config import Access, Limits, RelayConfig, openai_target
from trio_relay.http import Response
from trio_relay.server import Relay

# These tests never open a session, so the upstream is never contacted.
CONFIG = RelayConfig(upstream=openai_target("http://127.0.0.1:9/v1", "m", "k"))


async def test_healthz_and_readyz(nursery: trio.Nursery) -> None:
    port = await start_relay(nursery, CONFIG)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert (health.status_code, health.text) == (200, "ok\n")
    assert ready.status_code == 200


async def test_unknown_path_is_404_and_plain_get_of_realtime_is_400(nursery: trio.Nursery) -> None:
    port = await start_relay(nursery, CONFIG)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/nope")).status_code == 404
        realtime = await http.get("/realtime")
        assert realtime.status_code == 400 and "WebSocket" in realtime.text
        assert (await http.post("/healthz", content=b"x")).status_code == 405


async def test_websocket_upgrade_to_another_path_is_404(nursery: trio.Nursery) -> None:
    port = await start_relay(nursery, CONFIG)
    with pytest.raises(ConnectionRejected) as caught:
        async with open_websocket_url(f"ws://127.0.0.1:{port}/elsewhere"):
            pass
    assert caught.value.status_code == 404


async def test_malformed_request_gets_400(nursery: trio.Nursery) -> None:
    port = await start_relay(nursery, CONFIG)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"NOT A REQUEST\r\n\r\n")
        reply = await stream.receive_some(1024)
    assert reply.startswith(b"HTTP/1.1 400")


async def test_static_frontend_is_served_without_traversal(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>relay</title>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("nope")
    config = RelayConfig(upstream=CONFIG.upstream, static_dir=str(tmp_path))
    port = await start_relay(nursery, config)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        index = await http.get("/")
        script = await http.get("/assets/app-1234.js")
        encoded = await http.get("/%2e%2e/secret.txt")
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            b"GET /../secret.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        escaped = await stream.receive_some(1024)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert index.headers["cache-control"] == "no-cache"
    assert script.headers["content-type"].startswith("text/javascript")
    assert "immutable" in script.headers["cache-control"]
    assert escaped.startswith(b"HTTP/1.1 404") and encoded.status_code == 404


# --- requests that once ended the whole relay process (issue 11) -----------------------------


async def exchange(port: int, request: bytes, *, then_close: bool = True) -> bytes:
    """Send ``request`` raw (then FIN); everything the relay answers before it hangs up."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    reply = b""
    async with stream:
        await stream.send_all(request)
        if then_close:
            await stream.send_eof()
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                reply += chunk
    return reply


async def healthy(port: int) -> bool:
    reply = await exchange(port, b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    return reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok\n")


def static_config(tmp_path: Path) -> RelayConfig:
    (tmp_path / "index.html").write_text("<!doctype html><title>relay</title>")
    return attrs.evolve(CONFIG, static_dir=str(tmp_path))


async def test_nul_byte_in_a_static_path_is_404_and_the_relay_keeps_serving(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    port = await start_relay(nursery, static_config(tmp_path))
    reply = await exchange(port, b"GET /%00 HTTP/1.1\r\nhost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 404")
    assert await healthy(port)


async def test_overlong_static_path_is_404(nursery: trio.Nursery, tmp_path: Path) -> None:
    port = await start_relay(nursery, static_config(tmp_path))
    reply = await exchange(port, b"GET /" + b"a" * 1000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 404")
    assert await healthy(port)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"http://[::1", b"400"),  # not a URL
        (b"*", b"400"),  # asterisk form: not served here
        (b"x:y", b"400"),  # authority form: not served here
        (b"//[", b"404"),  # a (strange) path: no such file
        (b"//[/realtime", b"404"),
        (b"http://[x]y/healthz", b"400"),
        (b"http://u@host/healthz", b"400"),  # no userinfo
        (b"http://[::1]:8080/healthz", b"200"),  # absolute form: routed by its path
    ],
)
async def test_malformed_request_target_is_answered_and_the_relay_keeps_serving(
    nursery: trio.Nursery, tmp_path: Path, target: bytes, status: bytes
) -> None:
    port = await start_relay(nursery, static_config(tmp_path))
    reply = await exchange(port, b"GET " + target + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 " + status)
    assert await healthy(port)


async def test_absolute_form_target_is_routed_by_its_path(nursery: trio.Nursery) -> None:
    port = await start_relay(nursery, CONFIG)
    reply = await exchange(port, b"GET http://relay.example/healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok\n")


def upgrade(origin: bytes, target: bytes = b"/realtime") -> bytes:
    return (
        b"GET " + target + b" HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"origin: " + origin + b"\r\n\r\n"
    )


@pytest.mark.parametrize("auth", [ClientAuthMode.NONE, ClientAuthMode.TOKEN])
@pytest.mark.parametrize("origin", [b"http://[", b"http://[::1", b"https://[::1]:x", b"\xff\xfe"])
async def test_malformed_origin_on_an_upgrade_is_403(
    nursery: trio.Nursery, auth: ClientAuthMode, origin: bytes
) -> None:
    access = Access(client_auth=ClientAuth(auth, tokens=("a-client-token-0123456789",)))
    port = await start_relay(nursery, attrs.evolve(CONFIG, access=access))
    reply = await exchange(port, upgrade(origin))
    assert reply.startswith(b"HTTP/1.1 403")
    assert await healthy(port)


@pytest.mark.parametrize(
    "request_bytes",
    [
        # a chunked body whose chunk header is not hex
        b"GET /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        # a body cut short by FIN
        b"GET /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc",
        # a chunked body cut short by FIN
        b"GET /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
    ],
)
async def test_keep_alive_get_with_a_malformed_or_truncated_body_is_400(
    nursery: trio.Nursery, request_bytes: bytes
) -> None:
    port = await start_relay(nursery, CONFIG)
    reply = await exchange(port, request_bytes)
    assert reply.startswith(b"HTTP/1.1 400")
    assert await healthy(port)


# --- bounds on real sockets ------------------------------------------------------------------


def sample(relay: Relay, name: str, labels: dict[str, str]) -> float:
    return relay.metrics.registry.get_sample_value(name, labels) or 0.0


async def until(condition: Callable[[], bool], limit_s: float = 5.0) -> None:
    """Wait (bounded) for a condition the relay reaches on its own, checking every 10 ms."""
    with trio.fail_after(limit_s):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.01)


async def test_a_large_response_to_a_client_that_never_reads_is_abandoned(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    config = static_config(tmp_path)
    (tmp_path / "big.bin").write_bytes(b"\0" * (8 << 20))  # more than the kernel will buffer
    relay = await serve(nursery, attrs.evolve(config, limits=Limits(write_timeout_s=0.5)))
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window, never read
    await sock.connect(("127.0.0.1", relay.port))
    with sock:
        await sock.send(b"GET /big.bin HTTP/1.1\r\nhost: x\r\n\r\n")
        start = trio.current_time()
        await until(lambda: sample(relay, DROPPED, {"reason": "write_timeout"}) == 1)
        assert 0.5 <= trio.current_time() - start < 2.0
        await until(lambda: len(relay.connections) == 0)
    assert await healthy(relay.port)


DROPPED = "trio_relay_connections_dropped_total"


async def test_a_flood_of_half_open_connections_cannot_lock_out_healthz_or_sessions(
    nursery: trio.Nursery,
) -> None:
    """At MAX_CONNECTIONS, each new connection pushes out the oldest pending one; /healthz and a
    new session get through, the live session is never touched, and nothing leaks."""
    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        limits = Limits(max_connections=40, max_connections_per_ip=1000, handshake_timeout_s=30)
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
        relay = await serve(nursery, RelayConfig(upstream=target, limits=limits))
        url = f"ws://127.0.0.1:{relay.port}/realtime"
        async with open_browser(url) as live:
            await live.until(is_control("connected"))
            assert relay.task is not None
            tasks, fds = count_tasks(relay.task), len(os.listdir("/proc/self/fd"))
            pending: list[trio.SocketStream] = []

            async def connect(half_a_head: bool) -> None:
                dropped = sample(relay, DROPPED, {"reason": "max_connections"})
                opened = len(relay.connections)
                stream = await trio.open_tcp_stream("127.0.0.1", relay.port)
                if half_a_head:
                    await stream.send_all(b"GET /realtime HTTP/1.1\r\nhost: x\r\nupgr")
                pending.append(stream)
                # one at a time, so that the relay sees them in this order
                await until(
                    lambda: (
                        len(relay.connections) > opened
                        or sample(relay, DROPPED, {"reason": "max_connections"}) > dropped
                    )
                )

            for i in range(40):
                await connect(half_a_head=i % 2 == 1)
            assert len(relay.connections) == 40
            assert await healthy(relay.port)  # pushes out pending[0]
            with trio.fail_after(5):
                assert await pending[0].receive_some(1024) == b""
            await until(lambda: len(relay.connections) == 39)  # /healthz hung up
            for _ in range(10):  # the first fills the gap, the others push out pending[1:10]
                await connect(half_a_head=False)
            async with open_browser(url) as newcomer:  # its handshake pushes out pending[10]
                await newcomer.until(is_control("connected"))
                await newcomer.send_text("hello")
                await newcomer.until(is_control("text_done"))
            with trio.fail_after(5):
                for stream in pending[:11]:
                    assert await stream.receive_some(1024) == b""
            assert sample(relay, DROPPED, {"reason": "max_connections"}) == 11
            assert len(relay.connections) == 39  # pending[11:] are all still there
            await live.send_text("still here")
            await live.until(is_control("text_done"))
            for stream in pending:
                await stream.aclose()
            await until(lambda: len(relay.connections) == 0)
            await until(lambda: count_tasks(relay.task) == tasks)
            await until(lambda: len(os.listdir("/proc/self/fd")) <= fds)


async def test_metrics_on_a_port_of_their_own_with_a_token(nursery: trio.Nursery) -> None:
    token = "metrics-token-0123456789"
    config = attrs.evolve(CONFIG, metrics_port=0, access=Access(metrics_token=token))
    relay = await serve(nursery, config)
    assert relay.metrics_port is not None and relay.metrics_port != relay.port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.metrics_port}") as http:
        refused = await http.get("/metrics")
        scraped = await http.get("/metrics", headers={"authorization": f"Bearer {token}"})
        health = await http.get("/healthz")
        nothing_else = [await http.get(path) for path in ("/", "/readyz", "/realtime")]
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert scraped.status_code == 200 and "trio_relay_active_sessions" in scraped.text
    assert health.status_code == 200
    assert [r.status_code for r in nothing_else] == [404, 404, 404]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}") as http:
        assert (await http.get("/metrics")).status_code == 401  # the token holds on both ports


async def test_forwarded_for_counts_sessions_by_the_address_our_proxy_appended(
    nursery: trio.Nursery,
) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        access = Access(trust_forwarded_for=True)
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
        config = RelayConfig(upstream=target, access=access, limits=Limits(max_sessions_per_ip=1))
        relay = await serve(nursery, config)
        url = f"ws://127.0.0.1:{relay.port}/realtime"

        def forwarded(*lines: bytes) -> list[tuple[bytes, bytes]]:
            return [(b"x-forwarded-for", line) for line in lines]

        async with open_browser(url, extra_headers=forwarded(b"9.9.9.9, 1.1.1.1")) as first:
            await first.until(is_control("connected"))
            # a different claim of its own, but the same address appended by the proxy
            with pytest.raises(ConnectionRejected) as caught:
                async with open_websocket_url(url, extra_headers=forwarded(b"8.8.8.8", b"1.1.1.1")):
                    pass
            assert caught.value.status_code == 503
            async with open_browser(url, extra_headers=forwarded(b"1.1.1.1, 2.2.2.2")) as other:
                await other.until(is_control("connected"))


class BrokenStaticFiles:
    """A stand-in for a bug of ours in the file server."""

    def response(self, path: str, headers: Iterable[tuple[bytes, bytes]]) -> Response:
        raise RuntimeError("a bug")


@pytest.mark.expects_traceback
async def test_a_bug_while_answering_is_a_500_for_that_connection_only(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    relay = await serve(nursery, static_config(tmp_path))
    relay.static = BrokenStaticFiles()  # type: ignore[assignment]
    reply = await exchange(relay.port, b"GET /index.html HTTP/1.1\r\nhost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 500") and b"connection: close" in reply
    assert await healthy(relay.port)
    errors = {"stage": "response", "fault": "server"}
    assert sample(relay, "trio_relay_connection_errors_total", errors) == 1
    [logged] = [r for r in caplog.records if r.exc_info and r.name == "trio_relay.edge"]
    assert isinstance(logged.msg, dict) and logged.msg["conn_id"]  # which connection it was


async def test_a_request_that_breaks_http_is_a_400_logged_without_a_traceback(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="trio_relay")
    relay = await serve(nursery, CONFIG)
    reply = await exchange(relay.port, b"GET / HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400")
    assert (
        sample(relay, "trio_relay_connection_errors_total", {"stage": "request", "fault": "client"})
        == 1
    )
    logged = [r for r in caplog.records if r.name == "trio_relay.edge"]
    assert [r.levelname for r in logged] == ["DEBUG"] and not logged[0].exc_info


async def test_at_the_per_ip_cap_that_addresses_oldest_connection_gives_way(
    nursery: trio.Nursery,
) -> None:
    relay = await serve(nursery, attrs.evolve(CONFIG, limits=Limits(max_connections_per_ip=5)))
    idle = []
    for count in range(1, 6):
        idle.append(await trio.open_tcp_stream("127.0.0.1", relay.port))
        await until(lambda: len(relay.connections) == count)  # noqa: B023
    assert await healthy(relay.port)
    with trio.fail_after(5):
        assert await idle[0].receive_some(1024) == b""
    assert sample(relay, DROPPED, {"reason": "max_connections_per_ip"}) == 1
    assert sample(relay, DROPPED, {"reason": "max_connections"}) == 0
    for stream in idle:
        await stream.aclose()

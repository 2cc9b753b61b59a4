"""Plain HTTP on the relay's port: probes, 404s, and the upgrade-only /realtime."""

from __future__ import annotations

from pathlib import Path

import attrs
import httpx
import pytest
import trio
from harness import start_relay
from trio_websocket import ConnectionRejected, open_websocket_url

from trio_relay.client_auth import ClientAuth, ClientAuthMode
from trio_relay.config import Access, RelayConfig, openai_target

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

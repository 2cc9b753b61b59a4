"""Plain HTTP on the relay's port: probes, 404s, and the upgrade-only /realtime."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from harness import start_relay
from trio_websocket import ConnectionRejected, open_websocket_url

from trio_relay.config import RelayConfig, openai_target

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

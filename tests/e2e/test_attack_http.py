"""A real relay process under hostile HTTP: a crash shows up as a dead process.

The relay (``python -m trio_relay --workers 1``, the container default) first gets a live
WebSocket session; then every request shape that once ended the process, and other hostile
shapes, over raw sockets, some cut mid-request. Afterwards the process is alive, ``/healthz``
answers, the live session still completes a text turn, and the relay's log holds no traceback.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from harness import Browser, is_control, open_browser

CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("OPENAI_", "AZURE_", "BACKEND", "PORT", "HOST", "CLIENT_", "WORKERS"))
}
TOKEN = "a-client-token-0123456789"
UPGRADE = (
    b"GET /realtime HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
    b"sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)

# The request shapes that ended the whole process before issue 11 was fixed.
CRASHERS = {
    "NUL byte in a static path": b"GET /%00 HTTP/1.1\r\nhost: x\r\n\r\n",
    "malformed absolute target": b"GET http://[::1 HTTP/1.1\r\nhost: x\r\n\r\n",
    "malformed network-path target": b"GET //[ HTTP/1.1\r\nhost: x\r\n\r\n",
    "malformed Origin on an upgrade": UPGRADE + b"origin: http://[\r\n\r\n",
    "keep-alive GET with a bad chunk": (
        b"GET /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"
    ),
    "keep-alive GET with a body cut short": (
        b"GET /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc"
    ),
}
HOSTILE = {
    "overlong static path": b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
    "encoded traversal": b"GET /..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nhost: x\r\n\r\n",
    "header with a NUL": b"GET / HTTP/1.1\r\nhost: x\r\nx-a: b\x00c\r\n\r\n",
    "head over 16 KiB": b"GET / HTTP/1.1\r\nhost: x\r\nx-a: " + b"a" * 20000 + b"\r\n\r\n",
    "both Content-Length and chunked": (
        b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"
    ),
    "two Content-Lengths": (
        b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"
    ),
    "huge Content-Length": (
        b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999999999999\r\n\r\n"
    ),
    "POST with a body": b"POST /realtime HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
    "HTTP/0.9": b"GET /\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "TLS ClientHello": bytes.fromhex("16030100a5010000a10303") + os.urandom(64),
    "binary garbage": bytes(range(256)),
    "upgrade with a bad key": UPGRADE.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"x") + b"\r\n",
    "upgrade with frames sent early": UPGRADE + b"\r\n" + b"\x81\x85abcd" + b"xxxxx",
    "upgrade elsewhere": UPGRADE.replace(b"/realtime", b"/nope") + b"\r\n",
    "upgrade with a token in a malformed query": UPGRADE.replace(
        b"/realtime", b"/realtime?token=%ff%00&token"
    )
    + b"\r\n",
    "upgrade with a huge subprotocol list": UPGRADE
    + b"sec-websocket-protocol: "
    + b"a," * 4000
    + b"\r\n\r\n",
    "forwarded-for garbage": (
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-forwarded-for: [, :, \xff\r\n\r\n"
    ),
    "pipelined burst": b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n" * 50,
    "expect 100-continue, then nothing": (
        b"GET / HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n"
    ),
    "metrics with a wrong token": (
        b"GET /metrics HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \xff\r\n\r\n"
    ),
}


@asynccontextmanager
async def relay_process(env: dict[str, str], log: Path) -> AsyncIterator[tuple[trio.Process, int]]:
    """``trio-relay --workers 1`` on an ephemeral port; yields the process and its port."""
    with log.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "trio_relay", "--port", "0", "--workers", "1"],
            env={**CLEAN_ENV, "BACKEND": "fake", **env},
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert process.stdout is not None
            buffer = b""
            with trio.fail_after(20):
                while b"trio-relay ready:" not in buffer or not buffer.endswith(b"\n"):
                    chunk = await process.stdout.receive_some(4096)
                    assert chunk, "the relay exited before it was ready"
                    buffer += chunk
            url = buffer.decode().split("ws://", 1)[1].split()[0]
            yield process, int(url.split("/")[0].rsplit(":", 1)[1])
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def attack(port: int, data: bytes, ending: str) -> bytes:
    """Send ``data``; then half-close and read the answer, or reset the connection at once."""
    sock = trio.socket.socket()
    with sock:
        await sock.connect(("127.0.0.1", port))
        reply = b""
        try:
            await sock.send(data)  # one send: what does not fit is simply not sent
            if ending == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return b""
            sock.shutdown(socket.SHUT_WR)
            with trio.fail_after(5):  # every answer and hang-up is bounded by the relay
                while chunk := await sock.recv(65536):
                    reply += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    return reply


async def healthz(port: int) -> bytes:
    return await attack(port, b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n", "fin")


async def serving(port: int) -> bool:
    try:
        return (await healthz(port)).endswith(b"\r\n\r\nok\n")
    except OSError:  # connection refused: nobody listens any more
        return False


async def still_talks(browser: Browser, text: str) -> None:
    await browser.send_text(text)
    await browser.until(is_control("text_done"))


def no_tracebacks(log: Path) -> None:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    bad = [line for line in lines if "exception" in line or line["level"] in ("error", "critical")]
    assert bad == [], bad[:3]


async def test_hostile_requests_never_end_the_process(tmp_path: Path) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>relay</title>")
    env = {"STATIC_DIR": str(static), "HANDSHAKE_TIMEOUT_S": "1", "KEEPALIVE_TIMEOUT_S": "0.5"}
    log = tmp_path / "relay.log"
    async with relay_process(env, log) as (process, port):
        async with open_browser(f"ws://127.0.0.1:{port}/realtime") as live:
            await live.until(is_control("connected"))
            for name, data in {**CRASHERS, **HOSTILE}.items():
                for ending in ("fin", "reset"):
                    reply = await attack(port, data, ending)
                    assert not reply.startswith(b"HTTP/1.1 5"), (name, reply[:100])
                # and cut mid-request: half of it, then a reset
                await attack(port, data[: len(data) // 2], "reset")
                assert await serving(port), f"{name!r} ended the relay"
            assert (await attack(port, CRASHERS["NUL byte in a static path"], "fin")).startswith(
                b"HTTP/1.1 404"
            )
            assert (await healthz(port)).endswith(b"\r\n\r\nok\n")
            await still_talks(live, "still here after all that?")
        assert process.returncode is None
    no_tracebacks(log)


@pytest.mark.parametrize("origin", [b"http://[", b"http://[::1", b"https://[::1]:x"])
async def test_malformed_origin_is_403_with_client_auth_on(tmp_path: Path, origin: bytes) -> None:
    log = tmp_path / "relay.log"
    async with relay_process({"CLIENT_AUTH": "token", "CLIENT_TOKENS": TOKEN}, log) as (
        process,
        port,
    ):
        authorized = b"authorization: Bearer " + TOKEN.encode() + b"\r\n"
        for credential in (b"", authorized):
            reply = await attack(
                port, UPGRADE + credential + b"origin: " + origin + b"\r\n\r\n", "fin"
            )
            assert reply.startswith(b"HTTP/1.1 403")
        assert process.returncode is None
        assert (await healthz(port)).endswith(b"\r\n\r\nok\n")
        url = f"ws://127.0.0.1:{port}/realtime"
        async with open_browser(url, subprotocols=["trio-relay", f"bearer.{TOKEN}"]) as browser:
            await browser.until(is_control("connected"))
    no_tracebacks(log)

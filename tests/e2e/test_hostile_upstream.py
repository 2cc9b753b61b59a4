"""A hostile upstream echoes the credential it was given back in everything it says: an error
event, a close reason, a refused handshake (status line, headers and body), and, with Entra ID,
the token. None of it reaches a browser or the relay's log; the browser gets the stable code
and words for its user.

The upstream is written here on trio-websocket, independent of the relay's own WebSocket layer.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
import trio
from harness import STEP_TIMEOUT_S, FakeIdentityEndpoint, serve
from trio_websocket import (
    ConnectionClosed,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

from trio_relay.config import Limits, RelayConfig, UpstreamTarget, azure_target, openai_target
from trio_relay.errors import UNAVAILABLE_MESSAGE
from trio_relay.log import formatter
from trio_relay.redact import REDACTED
from trio_relay.upstream import ENDED_MESSAGE

API_KEY = "sk-hostile-test-SECRET-0123456789abcdef"
ENTRA_TOKEN = "entra-access-token-SECRET-9876543210fedcba"
FAST = Limits(upstream_session_timeout_s=2.0, upstream_connect_timeout_s=3.0, close_timeout_s=0.5)


@attrs.define
class HostileUpstream:
    """Speaks just enough Realtime to be believed; the model name says how it attacks."""

    url: str = ""
    credentials_seen: list[str] = attrs.Factory(list)

    async def serve(self, nursery: trio.Nursery) -> None:
        server = await nursery.start(partial(serve_websocket, self._handle, "127.0.0.1", 0, None))
        self.url = f"ws://127.0.0.1:{server.port}"

    async def _handle(self, request: WebSocketRequest) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        given = headers.get("authorization") or headers.get("api-key") or ""
        bare = given.removeprefix("Bearer ")
        self.credentials_seen.append(bare)
        echo = f"you sent {given!r}, that is {bare}"
        query = parse_qs(urlsplit(request.path).query)
        model = query.get("model", [""])[0]
        if model == "reject":
            await request.reject(
                401,
                extra_headers=[
                    (b"www-authenticate", f'Bearer error="{bare}"'.encode()),
                    (b"x-echo", given.encode()),
                ],
                body=json.dumps({"error": {"message": echo, "code": "invalid_api_key"}}).encode(),
            )
            return
        ws = await request.accept()
        await ws.get_message()  # session.update
        if model == "fatal-before-session":
            await ws.send_message(_error("invalid_api_key", f"Incorrect API key: {echo}"))
            with contextlib.suppress(ConnectionClosed):
                await ws.get_message()  # until the relay hangs up
            return
        await ws.send_message(json.dumps({"type": "session.updated", "session": {}}))
        await ws.send_message(_error("echo", f"a recoverable error: {echo}"))
        await ws.aclose(4000, f"goodbye {bare}")


def _error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "error": {"type": "x", "code": code, "message": message}})


@attrs.define
class Seen:
    texts: list[dict[str, Any]] = attrs.Factory(list)
    close_code: int | None = None
    close_reason: str | None = None

    def errors(self) -> list[dict[str, Any]]:
        return [t for t in self.texts if t.get("type") == "error"]


async def browse(port: int) -> Seen:
    """A browser that reads everything the relay sends until it closes."""
    seen = Seen()
    with trio.fail_after(STEP_TIMEOUT_S):
        async with open_websocket_url(f"ws://127.0.0.1:{port}/realtime") as ws:
            try:
                while True:
                    frame = await ws.get_message()
                    if isinstance(frame, str):
                        seen.texts.append(json.loads(frame))
            except ConnectionClosed as closed:
                seen.close_code = closed.reason.code
                seen.close_reason = closed.reason.reason
    return seen


@contextmanager
def rendered_log() -> Iterator[io.StringIO]:
    """The relay's log as it is written (JSON lines), the test clients' own lines left out."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(json_lines=True))
    handler.addFilter(lambda record: not record.name.startswith("trio-websocket"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


@pytest.fixture
async def hostile(nursery: trio.Nursery) -> AsyncIterator[HostileUpstream]:
    upstream = HostileUpstream()
    await upstream.serve(nursery)
    yield upstream


def assert_never_leaked(
    secret: str, seen: Seen, caplog: pytest.LogCaptureFixture, log: str
) -> None:
    said = json.dumps(seen.texts) + (seen.close_reason or "")
    assert secret not in said
    relay_records = [r for r in caplog.records if not r.name.startswith("trio-websocket")]
    captured = "".join(f"{r.getMessage()} {r.__dict__!r}\n" for r in relay_records)
    assert "session ended" in captured and "session ended" in log
    assert secret not in captured
    assert secret not in log


def session_end(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    (ended,) = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "session ended"
    ]
    return ended


async def run_against(
    nursery: trio.Nursery, target: UpstreamTarget, caplog: pytest.LogCaptureFixture
) -> tuple[Seen, str]:
    caplog.set_level(logging.DEBUG)
    relay = await serve(nursery, RelayConfig(upstream=target, limits=FAST))
    with rendered_log() as out:
        seen = await browse(relay.port)
        with trio.fail_after(STEP_TIMEOUT_S):
            await relay.sessions_ended()
    return seen, out.getvalue()


async def test_a_key_echoed_in_an_error_event_and_a_close_reason_never_leaks(
    nursery: trio.Nursery, hostile: HostileUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    target = openai_target(f"{hostile.url}/v1", "echo-in-session", API_KEY)
    seen, log = await run_against(nursery, target, caplog)
    assert hostile.credentials_seen == [API_KEY]  # the upstream did get the key to echo
    recoverable, final = seen.errors()
    assert recoverable["code"] == "upstream_error" and REDACTED in recoverable["message"]
    assert final == {"type": "error", "code": "upstream_error", "message": ENDED_MESSAGE}
    assert seen.close_code == 1011 and seen.close_reason == ENDED_MESSAGE
    # The operator learns what the upstream did, with the key redacted.
    assert "code 4000 (goodbye [redacted])" in session_end(caplog)["detail"]
    assert_never_leaked(API_KEY, seen, caplog, log)


async def test_a_key_echoed_in_a_fatal_error_before_the_session_never_leaks(
    nursery: trio.Nursery, hostile: HostileUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    target = openai_target(f"{hostile.url}/v1", "fatal-before-session", API_KEY)
    seen, log = await run_against(nursery, target, caplog)
    (error,) = seen.errors()
    assert error["code"] == "upstream_error" and error.get("upstream_code") == "invalid_api_key"
    assert REDACTED in error["message"] and len(error["message"]) <= 300
    assert seen.close_code == 1011
    assert_never_leaked(API_KEY, seen, caplog, log)


async def test_a_key_echoed_in_a_refused_handshake_never_leaks(
    nursery: trio.Nursery, hostile: HostileUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    target = azure_target(hostile.url, "reject", api_key=API_KEY, api_version=None)
    seen, log = await run_against(nursery, target, caplog)
    assert hostile.credentials_seen == [API_KEY]  # sent as api-key: the Azure way
    assert seen.errors() == [
        {"type": "error", "code": "upstream_unavailable", "message": UNAVAILABLE_MESSAGE}
    ]
    assert seen.close_code == 1011 and seen.close_reason == UNAVAILABLE_MESSAGE
    detail = session_end(caplog)["detail"]
    assert (
        "HTTP 401" in detail and "check the API key" in detail and "/openai/v1/realtime" in detail
    )
    assert_never_leaked(API_KEY, seen, caplog, log)


async def test_an_entra_token_echoed_back_never_leaks(
    nursery: trio.Nursery,
    hostile: HostileUpstream,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity = FakeIdentityEndpoint(secret_header="identity-header-SECRET", token=ENTRA_TOKEN)
    await identity.serve(nursery)
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_USERNAME",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
        "IMDS_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.url)
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-SECRET")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
    target = azure_target(hostile.url, "echo-in-session", api_key=None, api_version=None)
    seen, log = await run_against(nursery, target, caplog)
    assert hostile.credentials_seen == [ENTRA_TOKEN]
    recoverable, final = seen.errors()
    assert REDACTED in recoverable["message"] and final["message"] == ENDED_MESSAGE
    assert_never_leaked(ENTRA_TOKEN, seen, caplog, log)

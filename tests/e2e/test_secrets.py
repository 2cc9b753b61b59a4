"""Secrets never reach logs or browsers, whatever goes wrong in a session."""

from __future__ import annotations

import logging
import time

import attrs
import pytest
import trio
from harness import Browser, is_control, open_browser, read_head, serve
from trio_websocket import ConnectionRejected, open_websocket_url

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from trio_relay.client_auth import ClientAuth, ClientAuthMode, mint_ticket
from trio_relay.config import Access, RelayConfig, openai_target

UPSTREAM_KEY = "sk-upstream-SECRET-0123456789"
WRONG_UPSTREAM_KEY = "sk-wrong-SECRET-9876543210"
CLIENT_TOKEN = "client-token-SECRET-abcdefgh"
TICKET_SECRET = b"ticket-secret-SECRET-0123456789abcdef"


async def test_no_secret_in_any_log_line_or_client_message(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = mint_ticket(TICKET_SECRET, "alice", int(time.time()) + 60)
    secrets = [UPSTREAM_KEY, WRONG_UPSTREAM_KEY, CLIENT_TOKEN, TICKET_SECRET.decode(), ticket]
    seen: list[Browser] = []
    async with open_fake_upstream(options=FakeUpstreamOptions(api_key=UPSTREAM_KEY)) as fake:
        access = Access(client_auth=ClientAuth(ClientAuthMode.TOKEN, tokens=(CLIENT_TOKEN,)))
        good = RelayConfig(
            upstream=openai_target(f"{fake.url}/v1", "gpt-realtime", UPSTREAM_KEY), access=access
        )
        relays = {
            "good": await serve(nursery, good),
            "wrong_key": await serve(
                nursery,
                attrs.evolve(
                    good,
                    upstream=openai_target(f"{fake.url}/v1", "gpt-realtime", WRONG_UPSTREAM_KEY),
                ),
            ),
            "dropping": await serve(
                nursery,
                attrs.evolve(
                    good,
                    upstream=openai_target(
                        f"{fake.url}/v1", "fault-drop-mid-response", UPSTREAM_KEY
                    ),
                ),
            ),
            "ticketed": await serve(
                nursery,
                attrs.evolve(
                    good,
                    access=Access(
                        client_auth=ClientAuth(ClientAuthMode.TICKET, ticket_secret=TICKET_SECRET)
                    ),
                ),
            ),
        }

        def url(name: str, credential: str) -> str:
            return f"ws://127.0.0.1:{relays[name].port}/realtime?token={credential}"

        async with open_browser(url("good", CLIENT_TOKEN)) as browser:
            seen.append(browser)
            await browser.until(is_control("connected"))
            await browser.send_text("hello")
            await browser.until(is_control("text_done"))
            await browser.ws.send_message("{broken")
            await browser.next_message()
        async with open_browser(url("wrong_key", CLIENT_TOKEN)) as browser:
            seen.append(browser)
            await browser.closed()
        async with open_browser(url("dropping", CLIENT_TOKEN)) as browser:
            seen.append(browser)
            await browser.until(is_control("connected"))
            await browser.send_text("hello")
            await browser.closed()
        async with open_browser(url("ticketed", ticket)) as browser:
            seen.append(browser)
            await browser.until(is_control("connected"))
        for bad in (url("good", "not-the-token"), url("ticketed", ticket[:-3] + "AAA")):
            with pytest.raises(ConnectionRejected):
                async with open_websocket_url(bad):
                    pass
        for relay in relays.values():
            await relay.sessions_ended()

    # The test's own browser clients log the URLs they open (with ?token=): not the relay's.
    relay_records = [
        r
        for r in caplog.records
        if not r.getMessage().startswith("Connecting to ws://") or "/v1/realtime" in r.getMessage()
    ]
    logged = "".join(f"{r.getMessage()} {r.__dict__!r}\n" for r in relay_records)
    assert "session ended" in logged and "upstream_unavailable" not in secrets
    assert "HTTP 401" in logged  # the wrong key was reported to the operator, by status
    said = repr([b.texts for b in seen])
    assert "upstream_unavailable" in said and "401" not in said  # the user gets words, no status
    for secret in secrets:
        assert secret not in logged
        assert secret not in said


def _upgrade(port: int, protocols: str, credential: str) -> bytes:
    return (
        f"GET /realtime HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocols}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(f"trio-relay, bearer.{CLIENT_TOKEN}", b"trio-relay"), (f"bearer.{CLIENT_TOKEN}", None)],
)
async def test_a_token_offered_as_a_subprotocol_is_never_echoed_back(
    nursery: trio.Nursery, offered: str, chosen: bytes | None
) -> None:
    access = Access(client_auth=ClientAuth(ClientAuthMode.TOKEN, tokens=(CLIENT_TOKEN,)))
    relay = await serve(nursery, RelayConfig(access=access))
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", relay.port)
        async with stream:
            await stream.send_all(_upgrade(relay.port, offered, CLIENT_TOKEN))
            head = await read_head(stream)
    assert head.startswith(b"HTTP/1.1 101")  # the token in the subprotocol was accepted
    assert CLIENT_TOKEN.encode() not in head
    protocols = [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-protocol:")
    ]
    assert protocols == ([chosen] if chosen else [])

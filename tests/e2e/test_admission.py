"""Who gets in: origins, client credentials and slowloris, decided before any upstream connects."""

from __future__ import annotations

import time

import attrs
import pytest
import trio
from harness import serve
from trio_websocket import ConnectionRejected, open_websocket_url

from trio_relay.client_auth import ClientAuth, ClientAuthMode, mint_ticket
from trio_relay.config import Access, Limits, RelayConfig, openai_target

# The upstream is a closed port: a test that got past admission would see upstream_unavailable.
BASE = RelayConfig(upstream=openai_target("http://127.0.0.1:9/v1", "m", "k"))
TOKEN = "a-client-token-0123456789"
SECRET = b"t" * 32


def with_auth(mode: ClientAuthMode) -> RelayConfig:
    auth = ClientAuth(mode, tokens=(TOKEN,), ticket_secret=SECRET)
    return attrs.evolve(BASE, access=Access(client_auth=auth))


async def rejected(url: str, **kwargs: object) -> ConnectionRejected:
    with pytest.raises(ConnectionRejected) as caught:
        async with open_websocket_url(url, **kwargs):  # type: ignore[arg-type]
            pass
    return caught.value


async def accepted_then_upstream_error(url: str, **kwargs: object) -> str:
    async with open_websocket_url(url, **kwargs) as ws:  # type: ignore[arg-type]
        message = await ws.get_message()
    assert isinstance(message, str)
    return message


async def test_cross_site_origin_is_refused_with_403(nursery: trio.Nursery) -> None:
    relay = await serve(nursery, BASE)
    url = f"ws://127.0.0.1:{relay.port}/realtime"
    refusal = await rejected(url, extra_headers=[(b"origin", b"https://evil.example")])
    assert refusal.status_code == 403
    assert "upstream_unavailable" in await accepted_then_upstream_error(
        url, extra_headers=[(b"origin", b"http://localhost:8080")]
    )
    rejected_origins = relay.metrics.registry.get_sample_value(
        "trio_relay_handshake_rejections_total", {"reason": "origin"}
    )
    assert rejected_origins == 1


async def test_missing_token_is_401_with_www_authenticate(nursery: trio.Nursery) -> None:
    relay = await serve(nursery, with_auth(ClientAuthMode.TOKEN))
    refusal = await rejected(f"ws://127.0.0.1:{relay.port}/realtime")
    assert refusal.status_code == 401
    assert dict(refusal.headers)[b"www-authenticate"] == b'Bearer realm="trio-relay"'


async def test_wrong_token_is_401_invalid_token(nursery: trio.Nursery) -> None:
    relay = await serve(nursery, with_auth(ClientAuthMode.TOKEN))
    refusal = await rejected(
        f"ws://127.0.0.1:{relay.port}/realtime", extra_headers=[(b"authorization", b"Bearer nope")]
    )
    assert refusal.status_code == 401
    assert b'error="invalid_token"' in dict(refusal.headers)[b"www-authenticate"]


@pytest.mark.parametrize("where", ["header", "subprotocol", "query"])
async def test_token_is_accepted_from_header_subprotocol_or_query(
    nursery: trio.Nursery, where: str
) -> None:
    relay = await serve(nursery, with_auth(ClientAuthMode.TOKEN))
    url = f"ws://127.0.0.1:{relay.port}/realtime"
    kwargs: dict[str, object] = {}
    if where == "header":
        kwargs["extra_headers"] = [(b"authorization", f"Bearer {TOKEN}".encode())]
    elif where == "subprotocol":
        kwargs["subprotocols"] = ["trio-relay", f"bearer.{TOKEN}"]
    else:
        url += f"?token={TOKEN}"
    assert "upstream_unavailable" in await accepted_then_upstream_error(url, **kwargs)


async def test_ticket_auth(nursery: trio.Nursery) -> None:
    relay = await serve(nursery, with_auth(ClientAuthMode.TICKET))
    url = f"ws://127.0.0.1:{relay.port}/realtime"
    good = mint_ticket(SECRET, "alice", expires_at=int(time.time()) + 600)
    expired = mint_ticket(SECRET, "alice", expires_at=1)
    assert (await rejected(f"{url}?token={expired}")).status_code == 401
    assert "upstream_unavailable" in await accepted_then_upstream_error(f"{url}?token={good}")


async def test_slowloris_connection_is_dropped_after_the_handshake_timeout(
    nursery: trio.Nursery,
) -> None:
    relay = await serve(nursery, attrs.evolve(BASE, limits=Limits(handshake_timeout_s=0.2)))
    stream = await trio.open_tcp_stream("127.0.0.1", relay.port)
    async with stream:
        await stream.send_all(b"GET /realtime HTTP/1.1\r\nhost: x\r\n")  # never finished
        with trio.fail_after(2):
            assert await stream.receive_some(1024) == b""  # the relay hung up

"""Entra ID tokens: fetched in a worker thread, cached, refreshed before expiry, errors mapped."""

from __future__ import annotations

import threading
from typing import Any

import attrs
import pytest
import trio
from harness import serve

from trio_relay.config import (
    ENTRA_SCOPE,
    ENTRA_SCOPE_FALLBACK,
    RelayConfig,
    azure_target,
    openai_target,
)
from trio_relay.credentials import EntraTokenSource, upstream_headers
from trio_relay.errors import UpstreamUnavailable
from trio_relay.redact import redact


@attrs.frozen
class AccessToken:
    token: str
    expires_on: int


@attrs.define
class CountingCredential:
    lifetime_s: int = 3600
    now: float = 1_000_000.0
    calls: list[tuple[str, ...]] = attrs.Factory(list)
    threads: list[str] = attrs.Factory(list)

    def get_token(self, *scopes: str) -> Any:
        self.calls.append(scopes)
        self.threads.append(threading.current_thread().name)
        return AccessToken(f"token-{len(self.calls)}", int(self.now) + self.lifetime_s)


async def test_token_is_fetched_off_the_trio_thread_and_cached() -> None:
    credential = CountingCredential()
    source = EntraTokenSource(lambda: credential, clock=lambda: credential.now)
    assert await source.token() == "token-1"
    assert await source.token() == "token-1"
    assert credential.calls == [(ENTRA_SCOPE,)]
    assert credential.threads[0] != threading.main_thread().name


async def test_token_is_refreshed_shortly_before_it_expires() -> None:
    credential = CountingCredential(lifetime_s=600)
    source = EntraTokenSource(
        lambda: credential, clock=lambda: credential.now, refresh_margin_s=300
    )
    assert await source.token() == "token-1"
    credential.now += 299
    assert await source.token() == "token-1"
    credential.now += 2  # now within 300 s of expiry
    assert await source.token() == "token-2"


async def test_credential_failure_becomes_upstream_unavailable_with_advice() -> None:
    class NoCredential:
        def get_token(self, *scopes: str) -> Any:
            raise RuntimeError("DefaultAzureCredential failed to retrieve a token\nmore lines")

    source = EntraTokenSource(NoCredential)
    with pytest.raises(UpstreamUnavailable) as caught:
        await source.token()
    detail = caught.value.detail or ""
    assert "failed to retrieve a token" in detail
    assert "AZURE_OPENAI_API_KEY" in detail and "more lines" not in detail
    # The browser is told only that the service is unavailable; the advice is the operator's.
    assert "AZURE" not in caught.value.message and "unavailable" in caught.value.message


async def test_every_fetched_token_is_redacted_from_then_on() -> None:
    class OneToken:
        def get_token(self, *scopes: str) -> Any:
            return AccessToken("entra-access-token-0123456789", 2_000_000_000)

    token = await EntraTokenSource(OneToken).token()
    assert redact(f"the upstream said: Bearer-less {token}.") == (
        "the upstream said: Bearer-less [redacted]."
    )


async def test_auth_headers_follow_the_protocol_table() -> None:
    credential = CountingCredential()
    tokens = EntraTokenSource(lambda: credential)
    entra = azure_target("https://r.openai.azure.com", "d", api_key=None, api_version=None)
    keyed = azure_target("https://r.openai.azure.com", "d", api_key="az", api_version=None)
    openai = openai_target("https://api.openai.com/v1", "m", "sk")
    assert await upstream_headers(entra, tokens) == [("authorization", "Bearer token-1")]
    assert await upstream_headers(keyed, None) == [("api-key", "az")]
    assert await upstream_headers(openai, None) == [("authorization", "Bearer sk")]


async def test_the_relay_asks_for_tokens_of_the_configured_scope(nursery: trio.Nursery) -> None:
    entra = azure_target("http://127.0.0.1:9", "d", api_key=None, api_version=None)
    assert entra.entra_scope == ENTRA_SCOPE == "https://ai.azure.com/.default"
    target = attrs.evolve(entra, entra_scope=ENTRA_SCOPE_FALLBACK)
    relay = await serve(nursery, RelayConfig(upstream=target))
    assert relay.tokens is not None and relay.tokens.scope == ENTRA_SCOPE_FALLBACK
    credential = CountingCredential()
    await EntraTokenSource(lambda: credential, scope=relay.tokens.scope).token()
    assert credential.calls == [(ENTRA_SCOPE_FALLBACK,)]

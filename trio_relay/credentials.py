"""Upstream credentials: API keys as configured, or Entra ID tokens from azure-identity.

azure-identity's async credentials need asyncio, so the sync ``DefaultAzureCredential`` runs in a
worker thread (``trio.to_thread.run_sync``). Tokens are cached and refreshed a few minutes before
they expire; every new upstream connection asks for one, so none outlives its validity. Each
token is registered with the redactor as it is fetched: it never appears in a log or a browser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import trio

from . import redact
from .config import ENTRA_SCOPE, UpstreamTarget
from .errors import UNAVAILABLE_MESSAGE, UpstreamUnavailable


class TokenCredential(Protocol):
    """The part of azure-identity's sync ``TokenCredential`` the relay uses."""

    def get_token(self, *scopes: str) -> Any: ...  # returns azure.core.credentials.AccessToken


def _default_credential() -> TokenCredential:
    from azure.identity import DefaultAzureCredential  # imported lazily: slow and rarely needed

    return DefaultAzureCredential()


class EntraTokenSource:
    """Bearer tokens for the Azure OpenAI scope, cached until ``refresh_margin_s`` before expiry."""

    def __init__(
        self,
        credential_factory: Callable[[], TokenCredential] = _default_credential,
        *,
        scope: str = ENTRA_SCOPE,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential_factory = credential_factory
        self._credential: TokenCredential | None = None
        self._scope = scope
        self._refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = trio.Lock()
        self.fetches = 0

    @property
    def scope(self) -> str:
        """What the tokens are for (``ENTRA_SCOPE``)."""
        return self._scope

    async def token(self) -> str:
        async with self._lock:  # one fetch at a time; the others reuse its result
            fresh_until = self._expires_on - self._refresh_margin_s
            if self._token is not None and self._clock() < fresh_until:
                return self._token
            token, self._expires_on = await trio.to_thread.run_sync(self._fetch)
            redact.register(token, rotating=True)
            self._token = token
            self.fetches += 1
            return token

    def _fetch(self) -> tuple[str, float]:
        try:
            if self._credential is None:
                self._credential = self._credential_factory()
            access = self._credential.get_token(self._scope)
        except Exception as exc:  # azure-identity raises many kinds; all mean "no token"
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise UpstreamUnavailable(
                UNAVAILABLE_MESSAGE,
                detail=f"could not get an Entra ID token for Azure OpenAI ({first_line}); "
                "sign in (az login), give the relay a managed identity, "
                "or set AZURE_OPENAI_API_KEY",
            ) from None
        return access.token, float(access.expires_on)


async def upstream_headers(
    target: UpstreamTarget, tokens: EntraTokenSource | None
) -> list[tuple[str, str]]:
    """The auth headers protocol.md prescribes for ``target``."""
    if target.use_entra_id:
        if tokens is None:
            raise UpstreamUnavailable(
                UNAVAILABLE_MESSAGE, detail="Entra ID is configured but no token source was given"
            )
        return [("authorization", "Bearer " + await tokens.token())]
    if target.api_key is None:
        return []
    if target.backend.value == "azure":
        return [("api-key", target.api_key)]
    return [("authorization", "Bearer " + target.api_key)]

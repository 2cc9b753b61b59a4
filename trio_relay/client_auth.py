"""Who may open a session: browser origins and client credentials. Pure: no I/O here.

Browsers cannot set headers on a WebSocket, so a credential is taken from, in order,
``Authorization: Bearer T``, a ``Sec-WebSocket-Protocol`` entry ``bearer.T`` (the page opens
``new WebSocket(url, ["trio-relay", "bearer." + T])``) or a ``token`` query parameter.
Static tokens are compared in constant time; tickets are ``v1.<sub>.<exp>.<sig>`` with
``sig = HMAC-SHA256(secret, "v1.<sub>.<exp>")``, ``sub`` and ``sig`` base64url without padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

import attrs

SUBPROTOCOL = "trio-relay"
SUBPROTOCOL_TOKEN_PREFIX = "bearer."
TICKET_VERSION = "v1"


class ClientAuthMode(StrEnum):
    NONE = "none"
    TOKEN = "token"
    TICKET = "ticket"


class AuthFailed(Exception):
    """No or bad credentials: HTTP 401 before the upgrade is accepted."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing

    @property
    def www_authenticate(self) -> str:
        if self.missing:
            return 'Bearer realm="trio-relay"'
        return 'Bearer realm="trio-relay", error="invalid_token"'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_ticket(secret: bytes, subject: str, expires_at: int) -> str:
    body = f"{TICKET_VERSION}.{_b64(subject.encode())}.{expires_at}"
    return f"{body}.{_b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}"


def verify_ticket(secret: bytes, ticket: str, now: float) -> str:
    """The ticket's subject, or :class:`AuthFailed` saying why not (never echoing the ticket)."""
    parts = ticket.split(".")
    if len(parts) != 4 or parts[0] != TICKET_VERSION:
        raise AuthFailed("malformed ticket")
    body = ".".join(parts[:3])
    expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    try:
        signature = _unb64(parts[3])
        subject = _unb64(parts[1]).decode()
        expires_at = int(parts[2])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise AuthFailed("malformed ticket") from None
    if not hmac.compare_digest(signature, expected):
        raise AuthFailed("bad ticket signature")
    if now >= expires_at:
        raise AuthFailed("ticket expired")
    return subject


@attrs.frozen
class ClientAuth:
    """The configured client authentication. Secrets are kept out of ``repr``."""

    mode: ClientAuthMode = ClientAuthMode.NONE
    tokens: tuple[str, ...] = attrs.field(default=(), repr=False)
    ticket_secret: bytes | None = attrs.field(default=None, repr=False)

    def authenticate(self, credential: str | None, now: float) -> str:
        """The client's identity for logs (never the credential), or :class:`AuthFailed`."""
        if self.mode is ClientAuthMode.NONE:
            return "anonymous"
        if not credential:
            raise AuthFailed("no credentials", missing=True)
        if self.mode is ClientAuthMode.TICKET:
            assert self.ticket_secret is not None
            return f"ticket:{verify_ticket(self.ticket_secret, credential, now)}"
        given = credential.encode()
        # Compare against every token, always, so timing says nothing about which one matched.
        matches = [hmac.compare_digest(given, token.encode()) for token in self.tokens]
        if not any(matches):
            raise AuthFailed("unknown token")
        return f"token#{matches.index(True) + 1}"


def find_credential(headers: Sequence[tuple[bytes, bytes]], target: str) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    for offered in offered_subprotocols(headers):
        if offered.startswith(SUBPROTOCOL_TOKEN_PREFIX):
            return offered[len(SUBPROTOCOL_TOKEN_PREFIX) :]
    tokens = parse_qs(urlsplit(target).query).get("token")
    return tokens[0] if tokens else None


def offered_subprotocols(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    offered: list[str] = []
    for name, value in headers:
        if name.lower() == b"sec-websocket-protocol":
            offered += [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]
    return offered


def chosen_subprotocol(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Browsers fail a connection whose offered subprotocols are all ignored: pick ours."""
    offered = offered_subprotocols(headers)
    if SUBPROTOCOL in offered:
        return SUBPROTOCOL
    return offered[0] if offered else None


# --- origins ---------------------------------------------------------------------------------

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """``allowed`` holds exact origins, ``*`` (any), or ``loopback`` (any port on a loopback host).

    A request without ``Origin`` is not from a browser page, so cross-site WebSocket hijacking
    does not apply to it; it is allowed (client authentication still applies).
    """
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    for entry in allowed:
        if entry == "*" or entry.rstrip("/").lower() == origin:
            return True
        if entry == "loopback" and _is_loopback_origin(origin):
            return True
    return False


def _is_loopback_origin(origin: str) -> bool:
    """``http(s)://HOST[:PORT]`` with a loopback HOST. Parsed by hand, strictly: the header is
    whatever the client sent, and anything that is not exactly an origin is not a loopback one."""
    scheme, separator, authority = origin.partition("://")
    if not separator or scheme not in ("http", "https"):
        return False
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return False
        host, rest = authority[: end + 1], authority[end + 1 :]
    else:
        host, colon, port = authority.partition(":")
        rest = colon + port
    if rest and not (rest[0] == ":" and rest[1:].isascii() and rest[1:].isdigit()):
        return False
    return host in LOOPBACK_HOSTS

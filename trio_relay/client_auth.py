"""Who may open a session: browser origins and client credentials. Pure: no I/O here.

Browsers cannot set headers on a WebSocket, so a credential is taken from, in order,
``Authorization: Bearer T``, a ``Sec-WebSocket-Protocol`` entry ``bearer.T`` (the page opens
``new WebSocket(url, ["trio-relay", "bearer." + T])``; the relay answers ``trio-relay`` and
never echoes a ``bearer.`` entry) or a ``token`` query parameter.

Static tokens are compared in constant time. Tickets are JWTs (RFC 7519) signed with HS256 and
the shared ``TICKET_SECRET``, so a backend in any language mints them with its own JWT library:
claims ``sub`` (who), ``aud`` (``TICKET_AUDIENCE``), ``iat`` and ``exp`` (seconds since the
epoch) are required, ``jti`` (a unique id) is required when tickets are one-time, and the
optional budget claims (``max_session_s`` ...) narrow a session's budgets. The verifier accepts
HS256 only (no ``none``, no algorithm confusion), only the canonical base64url encoding of each
part (no malleable signatures), a lifetime of at most ``TICKET_MAX_LIFETIME_S``, and with
``TICKET_ONE_TIME=1`` each ``jti`` once (within the relay: its workers share the record, see
:mod:`trio_relay.shared_tickets`). Refusals say why, never echoing the
ticket.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import attrs
import jwt

SUBPROTOCOL = "trio-relay"
SUBPROTOCOL_TOKEN_PREFIX = "bearer."
TICKET_ALGORITHM = "HS256"
DEFAULT_AUDIENCE = "trio-relay"
REGISTERED_CLAIMS = ("sub", "aud", "exp", "iat", "nbf", "jti", "iss")
# Claims a ticket may carry to narrow its session's budgets (names of :class:`config.Limits`).
BUDGET_CLAIMS = (
    "max_session_s",
    "max_user_messages_per_min",
    "max_user_text_bytes_per_min",
    "max_responses_per_min",
)
# One-time tickets' ids are remembered until they expire; at most this many at once. When full
# of live ids, new one-time tickets are refused (fail closed) until some expire.
MAX_REMEMBERED_TICKETS = 100_000
MAX_SUBJECT_CHARS = 64
MAX_TICKET_CHARS = 8192


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


def _read_only(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(claims))


@attrs.frozen
class ClientIdentity:
    """Who opened a session: ``name`` is safe to log (never a credential); ``claims`` are a
    verified ticket's claims (empty for tokens and anonymous clients)."""

    name: str
    claims: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_read_only, repr=False, hash=False
    )


ANONYMOUS = ClientIdentity("anonymous")


@attrs.frozen
class TicketRules:
    """What the verifier demands of a ticket (``Access.ticket_*``)."""

    audience: str = DEFAULT_AUDIENCE
    max_lifetime_s: int = 24 * 3600
    leeway_s: int = 30
    one_time: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _canonical(part: str) -> bool:
    """Whether ``part`` is the one base64url spelling (no padding) of the bytes it decodes to:
    anything else (padding, stray characters, non-zero unused bits) makes a second spelling of
    the same ticket."""
    try:
        return _b64(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) == part
    except (binascii.Error, ValueError):
        return False


def mint_ticket(
    secret: bytes,
    subject: str,
    expires_at: int,
    *,
    issued_at: int | None = None,
    audience: str = DEFAULT_AUDIENCE,
    jti: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A ticket (a JWT, HS256). ``claims`` are extra claims (budgets); they cannot replace the
    registered ones."""
    extra = dict(claims or {})
    clash = sorted(set(extra) & set(REGISTERED_CLAIMS))
    if clash:
        raise ValueError(f"claims {clash} are set by the ticket itself")
    payload: dict[str, Any] = {
        **extra,
        "sub": subject,
        "aud": audience,
        "iat": int(time.time()) if issued_at is None else issued_at,
        "exp": expires_at,
    }
    if jti is not None:
        payload["jti"] = jti
    return jwt.encode(payload, secret, algorithm=TICKET_ALGORITHM)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def verify_ticket(
    secret: bytes, ticket: str, now: float, rules: TicketRules = TicketRules()
) -> dict[str, Any]:
    """The ticket's verified claims, or :class:`AuthFailed` saying why not (never echoing the
    ticket). Replays are the caller's to check (:class:`ReplayGuard`)."""
    parts = ticket.split(".")
    if len(ticket) > MAX_TICKET_CHARS or len(parts) != 3 or not all(map(_canonical, parts)):
        raise AuthFailed("malformed ticket")
    try:
        header = jwt.get_unverified_header(ticket)
        if header.get("alg") != TICKET_ALGORITHM:
            raise AuthFailed(f"ticket must be signed with {TICKET_ALGORITHM}")
        # Times are checked below against ``now`` (time passed in, as everywhere); PyJWT checks
        # the signature (HS256 only), the audience and that the claims are present.
        claims: dict[str, Any] = jwt.decode(
            ticket,
            secret,
            algorithms=[TICKET_ALGORITHM],
            audience=rules.audience,
            options={
                "require": ["sub", "aud", "exp", "iat"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise AuthFailed("bad ticket signature") from None
    except jwt.MissingRequiredClaimError as missing:
        raise AuthFailed(f"ticket has no {missing.claim!r} claim") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
        raise AuthFailed("ticket is for another audience") from None
    except jwt.InvalidAlgorithmError:
        raise AuthFailed(f"ticket must be signed with {TICKET_ALGORITHM}") from None
    except jwt.InvalidTokenError:  # DecodeError and the claim-type errors
        raise AuthFailed("malformed ticket") from None
    _check_times(claims, now, rules)
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise AuthFailed("ticket 'sub' must be a non-empty string")
    for name in BUDGET_CLAIMS:
        if name in claims and not (_number(claims[name]) and claims[name] > 0):
            raise AuthFailed(f"ticket claim {name!r} must be a positive number")
    return claims


def _check_times(claims: Mapping[str, Any], now: float, rules: TicketRules) -> None:
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
    if not _number(exp) or not _number(iat) or (nbf is not None and not _number(nbf)):
        raise AuthFailed("ticket times ('exp', 'iat', 'nbf') must be numbers")
    if now >= exp + rules.leeway_s:
        raise AuthFailed("ticket expired")
    if iat > now + rules.leeway_s or (nbf is not None and nbf > now + rules.leeway_s):
        raise AuthFailed("ticket is not valid yet (check the minting clock)")
    if exp - iat > rules.max_lifetime_s or exp - now > rules.max_lifetime_s:
        raise AuthFailed(f"ticket lives longer than the maximum of {rules.max_lifetime_s} s")


class TicketMemory(Protocol):
    """Where one-time tickets' ids are remembered: :class:`ReplayGuard` in one process;
    :class:`trio_relay.shared_tickets.SharedReplayGuard` across a relay's workers."""

    def first_use(self, jti: str, expires_at: float, now: float) -> None: ...


@attrs.define(eq=False)
class ReplayGuard:
    """The ids of one-time tickets seen in this process, each until its ticket expires."""

    capacity: int = MAX_REMEMBERED_TICKETS
    _seen: dict[str, float] = attrs.field(factory=dict, init=False)
    _expiries: list[tuple[float, str]] = attrs.field(factory=list, init=False)  # a heap

    def first_use(self, jti: str, expires_at: float, now: float) -> None:
        """Remember ``jti``, or :class:`AuthFailed` if it was used before."""
        while self._expiries and self._expiries[0][0] <= now:
            _, old = heapq.heappop(self._expiries)
            self._seen.pop(old, None)
        if jti in self._seen:
            raise AuthFailed("ticket was already used (one-time tickets)")
        if len(self._seen) >= self.capacity:
            raise AuthFailed("too many one-time tickets in use; try again shortly")
        self._seen[jti] = expires_at
        heapq.heappush(self._expiries, (expires_at, jti))


def _log_safe(subject: str) -> str:
    cleaned = "".join(c if c.isprintable() and not c.isspace() else "?" for c in subject)
    return cleaned[:MAX_SUBJECT_CHARS]


@attrs.frozen
class ClientAuth:
    """The configured client authentication. Secrets are kept out of ``repr``."""

    mode: ClientAuthMode = ClientAuthMode.NONE
    tokens: tuple[str, ...] = attrs.field(default=(), repr=False)
    ticket_secret: bytes | None = attrs.field(default=None, repr=False)
    tickets: TicketRules = TicketRules()
    replays: TicketMemory = attrs.field(factory=ReplayGuard, eq=False, repr=False)

    def authenticate(self, credential: str | None, now: float) -> ClientIdentity:
        """Who the client is (a name for logs, never the credential, and a ticket's verified
        claims), or :class:`AuthFailed`."""
        if self.mode is ClientAuthMode.NONE:
            return ANONYMOUS
        if not credential:
            raise AuthFailed("no credentials", missing=True)
        if self.mode is ClientAuthMode.TICKET:
            assert self.ticket_secret is not None
            claims = verify_ticket(self.ticket_secret, credential, now, self.tickets)
            if self.tickets.one_time:
                jti = claims.get("jti")
                if not isinstance(jti, str) or not jti:
                    raise AuthFailed("ticket has no 'jti' claim (tickets are one-time)")
                self.replays.first_use(jti, claims["exp"] + self.tickets.leeway_s, now)
            return ClientIdentity(f"ticket:{_log_safe(claims['sub'])}", claims)
        given = hashlib.sha256(credential.encode()).digest()
        # Compare against every token, always, so timing says nothing about which one matched
        # (digests: compare_digest's time depends on the lengths, which must say nothing either).
        matches = [
            hmac.compare_digest(given, hashlib.sha256(token.encode()).digest())
            for token in self.tokens
        ]
        if not any(matches):
            raise AuthFailed("unknown token")
        return ClientIdentity(f"token#{matches.index(True) + 1}")


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
    """Browsers fail a connection whose offered subprotocols are all ignored: pick ours, else
    the first one offered that is not a credential. A ``bearer.`` entry is never chosen: the
    response would echo the token (offering only that, a page gets no subprotocol)."""
    offered = [
        p for p in offered_subprotocols(headers) if not p.startswith(SUBPROTOCOL_TOKEN_PREFIX)
    ]
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

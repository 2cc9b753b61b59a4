"""Who may open a session: allowed browser origins, client authentication (tokens or tickets)
and the trusted proxies in front of the relay. Pure: no I/O besides reading the tokens file the
operator names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from ..client_auth import ClientAuth, ClientAuthMode, TicketRules
from ..errors import ConfigError
from .env import choice, flag, is_loopback, text, whole_number

MIN_TICKET_SECRET_BYTES = 32


@attrs.frozen
class Access:
    """Who may open a session: allowed browser origins and client authentication."""

    allowed_origins: tuple[str, ...] = ("loopback",)
    client_auth: ClientAuth = ClientAuth()
    allow_unauthenticated: bool = False
    # Behind a reverse proxy / ingress, the client address is the X-Forwarded-For entry
    # trusted_proxy_hops from the right (1: the one our own ingress appended).
    trust_forwarded_for: bool = False
    trusted_proxy_hops: int = 1
    # Tickets (CLIENT_AUTH=ticket): JWTs (HS256) with this audience, at most this lifetime.
    ticket_audience: str = "trio-relay"
    ticket_max_lifetime_s: int = 24 * 3600
    ticket_leeway_s: int = 30
    ticket_one_time: bool = False
    # /metrics: a bearer token it requires (None: open), and/or a port of its own.
    metrics_token: str | None = attrs.field(default=None, repr=False)


def _client_tokens(env: Mapping[str, str]) -> tuple[str, ...]:
    tokens = [t.strip() for t in env.get("CLIENT_TOKENS", "").split(",") if t.strip()]
    path = env.get("CLIENT_TOKENS_FILE", "").strip()
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(
                "CLIENT_TOKENS_FILE", f"cannot read {path!r}: {exc.strerror}"
            ) from None
        tokens += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return tuple(tokens)


def access_from_env(env: Mapping[str, str], host: str) -> Access:
    """The access rules for a relay listening on ``host`` (client authentication may be off
    only on loopback, unless the operator forces it)."""
    mode = choice(env, "CLIENT_AUTH", ClientAuthMode, ClientAuthMode.NONE)
    tokens: tuple[str, ...] = ()
    secret: bytes | None = None
    if mode is ClientAuthMode.TOKEN:
        tokens = _client_tokens(env)
        if not tokens:
            raise ConfigError(
                "CLIENT_TOKENS", "is required with CLIENT_AUTH=token (or CLIENT_TOKENS_FILE)"
            )
        if any(len(t) < 16 for t in tokens):
            raise ConfigError("CLIENT_TOKENS", "every token must be at least 16 characters long")
    if mode is ClientAuthMode.TICKET:
        secret = env.get("TICKET_SECRET", "").encode()
        if len(secret) < MIN_TICKET_SECRET_BYTES:
            raise ConfigError(
                "TICKET_SECRET",
                f"is required with CLIENT_AUTH=ticket and must be at least "
                f"{MIN_TICKET_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)",
            )
    forced = flag(env, "ALLOW_UNAUTHENTICATED")
    if mode is ClientAuthMode.NONE and not is_loopback(host) and not forced:
        raise ConfigError(
            "CLIENT_AUTH",
            f"is 'none' but HOST={host} is reachable from other machines: set CLIENT_AUTH=token "
            "or ticket, or ALLOW_UNAUTHENTICATED=1 to run without client authentication anyway",
        )
    origins = tuple(o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip())
    for origin in origins:
        if origin not in ("*", "loopback") and not origin.startswith(("http://", "https://")):
            raise ConfigError(
                "ALLOWED_ORIGINS",
                "entries are origins like https://app.example.com, 'loopback' or '*'; "
                f"got {origin!r}",
            )
    d = Access()
    access = Access(
        allowed_origins=origins or Access().allowed_origins,
        client_auth=ClientAuth(mode, tokens, secret),
        allow_unauthenticated=forced,
        trust_forwarded_for=flag(env, "TRUST_X_FORWARDED_FOR"),
        trusted_proxy_hops=whole_number(env, "TRUSTED_PROXY_HOPS", d.trusted_proxy_hops, minimum=1),
        ticket_audience=text(env, "TICKET_AUDIENCE", d.ticket_audience).strip(),
        ticket_max_lifetime_s=whole_number(
            env, "TICKET_MAX_LIFETIME_S", d.ticket_max_lifetime_s, minimum=1
        ),
        ticket_leeway_s=whole_number(env, "TICKET_LEEWAY_S", d.ticket_leeway_s, minimum=0),
        ticket_one_time=flag(env, "TICKET_ONE_TIME"),
        metrics_token=env.get("METRICS_TOKEN", "").strip() or None,
    )
    rules = TicketRules(
        access.ticket_audience,
        access.ticket_max_lifetime_s,
        access.ticket_leeway_s,
        access.ticket_one_time,
    )
    return attrs.evolve(access, client_auth=ClientAuth(mode, tokens, secret, tickets=rules))

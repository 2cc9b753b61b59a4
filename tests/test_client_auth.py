"""Client credentials and origins, decided without sockets."""

from __future__ import annotations

import pytest

from trio_relay.client_auth import (
    AuthFailed,
    ClientAuth,
    ClientAuthMode,
    chosen_subprotocol,
    find_credential,
    mint_ticket,
    origin_allowed,
    verify_ticket,
)

SECRET = b"s" * 32


def test_ticket_round_trip_and_expiry() -> None:
    ticket = mint_ticket(SECRET, "alice@example.com", expires_at=1000)
    assert verify_ticket(SECRET, ticket, now=999) == "alice@example.com"
    with pytest.raises(AuthFailed, match="expired"):
        verify_ticket(SECRET, ticket, now=1000)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: t.replace(".1000.", ".9999."),  # expiry extended
        lambda t: "v2" + t[2:],  # version
        lambda t: t.rsplit(".", 1)[0],  # signature missing
        lambda t: t.replace("v1.", "v1.!!!", 1),  # subject not base64
    ],
)
def test_tampered_tickets_are_refused(tamper: object) -> None:
    ticket = mint_ticket(SECRET, "alice", expires_at=1000)
    with pytest.raises(AuthFailed):
        verify_ticket(SECRET, tamper(ticket), now=0)  # type: ignore[operator]


def test_ticket_signed_with_another_secret_is_refused() -> None:
    ticket = mint_ticket(b"x" * 32, "alice", expires_at=1000)
    with pytest.raises(AuthFailed, match="signature"):
        verify_ticket(SECRET, ticket, now=0)


def test_static_tokens() -> None:
    auth = ClientAuth(ClientAuthMode.TOKEN, tokens=("first-token-123456", "second-token-12345"))
    assert auth.authenticate("second-token-12345", now=0) == "token#2"
    with pytest.raises(AuthFailed) as missing:
        auth.authenticate(None, now=0)
    assert missing.value.missing and "error=" not in missing.value.www_authenticate
    with pytest.raises(AuthFailed) as wrong:
        auth.authenticate("guess", now=0)
    assert 'error="invalid_token"' in wrong.value.www_authenticate
    assert "first-token" not in repr(auth)


def test_credential_sources_in_order() -> None:
    bearer = [(b"authorization", b"Bearer from-header")]
    protocol = [(b"sec-websocket-protocol", b"trio-relay, bearer.from-protocol")]
    assert find_credential(bearer + protocol, "/realtime?token=q") == "from-header"
    assert find_credential(protocol, "/realtime?token=q") == "from-protocol"
    assert find_credential([], "/realtime?token=from-query") == "from-query"
    assert find_credential([], "/realtime") is None


def test_subprotocol_choice_never_picks_the_token_when_ours_is_offered() -> None:
    assert (
        chosen_subprotocol([(b"sec-websocket-protocol", b"bearer.secret, trio-relay")])
        == "trio-relay"
    )
    assert chosen_subprotocol([]) is None


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        (None, ("loopback",), True),
        ("http://localhost:5173", ("loopback",), True),
        ("http://127.0.0.1:8080", ("loopback",), True),
        ("http://[::1]:8080", ("loopback",), True),
        ("https://evil.example", ("loopback",), False),
        ("http://localhost.evil.example", ("loopback",), False),
        ("https://app.example.com", ("https://app.example.com",), True),
        ("https://app.example.com/", ("https://APP.example.com",), True),
        ("https://other.example.com", ("https://app.example.com",), False),
        ("https://anything", ("*",), True),
    ],
)
def test_origins(origin: str | None, allowed: tuple[str, ...], expected: bool) -> None:
    assert origin_allowed(origin, allowed) is expected

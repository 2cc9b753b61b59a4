"""Client credentials and origins, decided without sockets."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from trio_relay.client_auth import (
    AuthFailed,
    ClientAuth,
    ClientAuthMode,
    ReplayGuard,
    TicketRules,
    chosen_subprotocol,
    find_credential,
    mint_ticket,
    origin_allowed,
    verify_ticket,
)

SECRET = b"s" * 32
NOW = 1_000_000
DEFAULT_RULES = TicketRules()


def ticket(**overrides: Any) -> str:
    """A ticket minted as any backend's JWT library would (HS256), with ``overrides`` applied
    to its claims (``None`` removes one)."""
    claims: dict[str, Any] = {"sub": "alice", "aud": "trio-relay", "iat": NOW, "exp": NOW + 300}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, "HS256")


def refusal(token: str, rules: TicketRules = DEFAULT_RULES, now: float = NOW) -> str:
    with pytest.raises(AuthFailed) as failed:
        verify_ticket(SECRET, token, now, rules)
    assert token not in failed.value.reason and token not in failed.value.www_authenticate
    assert 'error="invalid_token"' in failed.value.www_authenticate
    return failed.value.reason


def test_a_ticket_minted_by_the_relay_or_any_jwt_library_is_accepted_with_its_claims() -> None:
    minted = mint_ticket(
        SECRET, "alice", NOW + 60, issued_at=NOW, jti="t-1", claims={"max_session_s": 600}
    )
    claims = verify_ticket(SECRET, minted, NOW)
    assert claims["sub"] == "alice" and claims["max_session_s"] == 600 and claims["jti"] == "t-1"
    assert verify_ticket(SECRET, ticket(), NOW)["sub"] == "alice"


def test_expired_ticket_is_refused_after_the_leeway() -> None:
    expired = ticket(exp=NOW + 10)
    assert verify_ticket(SECRET, expired, NOW + 10 + 29, TicketRules(leeway_s=30))
    assert "expired" in refusal(expired, TicketRules(leeway_s=30), now=NOW + 10 + 30)


def test_ticket_issued_in_the_future_is_refused() -> None:
    assert "not valid yet" in refusal(ticket(iat=NOW + 120, exp=NOW + 300))
    assert "not valid yet" in refusal(ticket(nbf=NOW + 120))


def test_ticket_for_another_audience_is_refused() -> None:
    assert "audience" in refusal(ticket(aud="another-service"))
    assert "audience" in refusal(ticket(), TicketRules(audience="voice-app"))


@pytest.mark.parametrize("claim", ["sub", "aud", "exp", "iat"])
def test_ticket_without_a_required_claim_is_refused(claim: str) -> None:
    assert claim in refusal(ticket(**{claim: None}))


@pytest.mark.parametrize(
    "overrides",
    [{"sub": 42}, {"sub": ""}, {"exp": "tomorrow"}, {"iat": True}, {"max_session_s": -1}],
)
def test_ticket_with_a_claim_of_the_wrong_type_is_refused(overrides: dict[str, Any]) -> None:
    refusal(ticket(**overrides))


def test_ticket_living_longer_than_the_maximum_is_refused() -> None:
    rules = TicketRules(max_lifetime_s=3600)
    assert verify_ticket(SECRET, ticket(exp=NOW + 3600), NOW, rules)
    assert "longer than" in refusal(ticket(exp=NOW + 3601), rules)
    # Back-dated iat does not help: exp - now counts too.
    assert "longer than" in refusal(ticket(iat=NOW - 10, exp=NOW + 3595), rules, now=NOW - 10 + 5)
    assert "longer than" in refusal(ticket(iat=NOW, exp=NOW + 7200), rules, now=NOW + 3700)


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)]
    )


def test_ticket_with_alg_none_or_another_algorithm_is_refused() -> None:
    claims = {"sub": "mallory", "aud": "trio-relay", "iat": NOW, "exp": NOW + 60}
    assert "HS256" in refusal(_unsigned({"alg": "none", "typ": "JWT"}, claims))
    assert "HS256" in refusal(_unsigned({"alg": "None"}, claims))
    # HS512 with the same secret is still not HS256 (the verifier pins one algorithm).
    assert "HS256" in refusal(jwt.encode(claims, SECRET * 2, "HS512"))
    # Algorithm confusion: an "RS256" ticket "signed" with the secret as if it were a key.
    assert "HS256" in refusal(_unsigned({"alg": "RS256"}, claims, b"x" * 256))


def _flip_last_char(part: str) -> str:
    return part[:-1] + ("A" if part[-1] != "A" else "B")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: ".".join([*t.split(".")[:2], _flip_last_char(t.split(".")[2])]),  # signature
        lambda t: t.rsplit(".", 1)[0],  # signature missing
        lambda t: t.rsplit(".", 1)[0] + ".",  # signature empty
        lambda t: t + "=",  # padding: a second spelling of the same signature
        lambda t: t[:10] + "!" + t[10:],  # a character outside base64url
        lambda t: "x" + t,  # header not base64/JSON
        lambda t: t.replace(".", "..", 1),  # four parts
    ],
)
def test_tampered_tickets_are_refused(tamper: Callable[[str], str]) -> None:
    refusal(tamper(ticket()))


def test_a_ticket_whose_claims_were_changed_fails_the_signature() -> None:
    header, _, signature = ticket().split(".")
    forged = {"sub": "admin", "aud": "trio-relay", "iat": NOW, "exp": NOW + 300}
    payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert "signature" in refusal(f"{header}.{payload}.{signature}")


def test_signature_with_nonzero_unused_bits_is_a_second_spelling_and_is_refused() -> None:
    header, payload, signature = ticket().split(".")
    # 32 signature bytes = 43 base64url characters; the last one carries 2 unused bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    respelled = signature[:-1] + alphabet[last | 1]
    assert respelled != signature
    assert base64.urlsafe_b64decode(respelled + "=") == base64.urlsafe_b64decode(signature + "=")
    assert "malformed" in refusal(f"{header}.{payload}.{respelled}")


def test_ticket_signed_with_another_secret_is_refused() -> None:
    other = jwt.encode({"sub": "a", "aud": "trio-relay", "iat": NOW, "exp": NOW + 9}, b"x" * 32)
    assert "signature" in refusal(other)


def test_authenticate_returns_a_log_safe_name_and_the_verified_claims() -> None:
    auth = ClientAuth(ClientAuthMode.TICKET, ticket_secret=SECRET)
    who = auth.authenticate(ticket(sub="eve\n\x1b[31m" + "x" * 200, max_session_s=60), NOW)
    assert who.name.startswith("ticket:eve??[31m") and len(who.name) <= len("ticket:") + 64
    assert who.claims["max_session_s"] == 60
    with pytest.raises(TypeError):
        who.claims["max_session_s"] = 10**6  # type: ignore[index]
    assert ClientAuth().authenticate(None, NOW).name == "anonymous"


def test_one_time_tickets_are_refused_on_replay_and_without_an_id() -> None:
    auth = ClientAuth(
        ClientAuthMode.TICKET, ticket_secret=SECRET, tickets=TicketRules(one_time=True)
    )
    once = ticket(jti="ticket-1")
    assert auth.authenticate(once, NOW).name == "ticket:alice"
    with pytest.raises(AuthFailed, match="already used"):
        auth.authenticate(once, NOW + 1)
    assert auth.authenticate(ticket(jti="ticket-2"), NOW).name == "ticket:alice"
    with pytest.raises(AuthFailed, match="jti"):
        auth.authenticate(ticket(), NOW)
    # Without one-time use, the same ticket opens several sessions until it expires.
    reusable = ClientAuth(ClientAuthMode.TICKET, ticket_secret=SECRET)
    assert reusable.authenticate(once, NOW) == reusable.authenticate(once, NOW + 1)


def test_a_refused_ticket_does_not_use_up_its_id() -> None:
    auth = ClientAuth(
        ClientAuthMode.TICKET, ticket_secret=SECRET, tickets=TicketRules(one_time=True)
    )
    with pytest.raises(AuthFailed, match="audience"):
        auth.authenticate(ticket(jti="j", aud="elsewhere"), NOW)
    assert auth.authenticate(ticket(jti="j"), NOW).name == "ticket:alice"


def test_replay_memory_forgets_expired_ids_and_is_bounded() -> None:
    guard = ReplayGuard(capacity=2)
    guard.first_use("a", expires_at=10, now=0)
    guard.first_use("b", expires_at=20, now=0)
    with pytest.raises(AuthFailed, match="too many"):
        guard.first_use("c", expires_at=30, now=5)
    guard.first_use("c", expires_at=30, now=10)  # "a" expired: its slot is free again
    with pytest.raises(AuthFailed, match="already used"):
        guard.first_use("b", expires_at=20, now=11)


def test_static_tokens() -> None:
    auth = ClientAuth(ClientAuthMode.TOKEN, tokens=("first-token-123456", "second-token-12345"))
    assert auth.authenticate("second-token-12345", now=0).name == "token#2"
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


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (b"bearer.secret, trio-relay", "trio-relay"),
        (b"bearer.secret", None),
        (b"bearer.secret, other", "other"),
        (b"bearer.a, bearer.b", None),
        (b"", None),
    ],
)
def test_a_bearer_subprotocol_is_never_chosen(offered: bytes, chosen: str | None) -> None:
    headers = [(b"sec-websocket-protocol", offered)] if offered else []
    assert chosen_subprotocol(headers) == chosen


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

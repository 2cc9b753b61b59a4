"""What a request says about itself, read without sockets: targets, origins, the client address
behind proxies, bearer tokens, static paths. Every function takes any bytes and never raises."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_relay.client_auth import origin_allowed
from trio_relay.http import (
    RequestTarget,
    bearer_token_matches,
    forwarded_client,
    parse_target,
)
from trio_relay.static import load_static_files


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/", RequestTarget("/", "")),
        (b"/realtime?token=abc&x=1", RequestTarget("/realtime", "token=abc&x=1")),
        (b"/a#frag", RequestTarget("/a", "")),
        (b"//[", RequestTarget("//[", "")),
        (b"http://relay.example/healthz", RequestTarget("/healthz", "")),
        (b"HTTPS://relay.example:443", RequestTarget("/", "")),
        (b"http://[::1]:8080/realtime?token=t", RequestTarget("/realtime", "token=t")),
        (b"http://[::1", None),
        (b"http://[x]y/healthz", None),
        (b"http://user@host/", None),
        (b"http:///path", None),
        (b"ftp://host/", None),
        (b"*", None),
        (b"host:443", None),
    ],
)
def test_request_targets(target: bytes, expected: RequestTarget | None) -> None:
    assert parse_target(target) == expected


def test_origin_form_drops_the_scheme_and_host_a_client_put_in_the_target() -> None:
    parsed = parse_target(b"http://evil[.example/realtime?token=t")
    assert parsed is None
    parsed = parse_target(b"http://relay.example/realtime?token=t")
    assert parsed is not None and parsed.origin_form == "/realtime?token=t"


@given(st.binary(max_size=200))
def test_any_target_bytes_parse_or_are_refused_without_raising(target: bytes) -> None:
    parsed = parse_target(target)
    assert parsed is None or parsed.path.startswith("/")


@pytest.mark.parametrize(
    "origin",
    [
        "http://[",
        "http://[::1",
        "https://[::1]:x",
        "http://localhost:",
        "http://localhost@evil",
        "http://localhost:80/x",
        "localhost",
        "ws://localhost",
        "http://127.0.0.1.evil.com",
        "\xff\xfe",
        "",
    ],
)
def test_malformed_or_lookalike_origins_are_not_loopback(origin: str) -> None:
    assert origin_allowed(origin, ("loopback",)) is False


@pytest.mark.parametrize(
    "origin",
    ["http://localhost", "http://localhost:5173", "https://127.0.0.1:8443/", "http://[::1]:80"],
)
def test_loopback_origins_are_allowed(origin: str) -> None:
    assert origin_allowed(origin, ("loopback",)) is True


@given(st.text(max_size=60))
def test_origin_check_never_raises(origin: str) -> None:
    origin_allowed(origin, ("loopback", "https://app.example"))


def xff(*lines: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"relay")] + [(b"x-forwarded-for", line.encode()) for line in lines]


@pytest.mark.parametrize(
    ("headers", "hops", "expected"),
    [
        (xff("1.1.1.1"), 1, "1.1.1.1"),
        # the client's own claims come first; our proxy appended the last entry
        (xff("6.6.6.6, 2.2.2.2"), 1, "2.2.2.2"),
        # across header lines, joined in order: the last line's last entry
        (xff("6.6.6.6", "7.7.7.7, 2.2.2.2"), 1, "2.2.2.2"),
        (xff("6.6.6.6, 3.3.3.3", "2.2.2.2"), 2, "3.3.3.3"),
        # fewer entries than trusted hops: the peer is used (None here)
        (xff("2.2.2.2"), 2, None),
        (xff(), 1, None),
        # App Service style address:port, and IPv6 in both forms
        (xff("6.6.6.6, 2.2.2.2:51234"), 1, "2.2.2.2"),
        (xff("[2001:db8::1]:443"), 1, "2001:db8::1"),
        (xff("2001:db8::1"), 1, "2001:db8::1"),
        # what a proxy did not write as an address is not one
        (xff("unknown"), 1, None),
        (xff("2.2.2.2,"), 1, None),
    ],
)
def test_forwarded_client_is_the_entry_our_proxies_wrote(
    headers: list[tuple[bytes, bytes]], hops: int, expected: str | None
) -> None:
    assert forwarded_client(headers, hops) == expected


@given(st.lists(st.text(max_size=30), max_size=4), st.integers(1, 3))
def test_a_client_cannot_choose_its_forwarded_address(claims: list[str], hops: int) -> None:
    """Whatever the client puts in X-Forwarded-For, the address is the one our proxies added."""
    proxies = [f"10.0.0.{i}" for i in range(hops)]
    lines = [c.encode("utf-8") for c in claims] + [", ".join(proxies).encode()]
    headers = [(b"x-forwarded-for", line) for line in lines]
    assert forwarded_client(headers, hops) == proxies[0]


def test_bearer_token_matches_only_the_exact_token() -> None:
    token = "metrics-token-0123456789"
    assert bearer_token_matches([(b"authorization", f"Bearer {token}".encode())], token)
    assert bearer_token_matches([(b"authorization", f"bearer  {token} ".encode())], token)
    assert not bearer_token_matches([(b"authorization", b"Bearer nope")], token)
    assert not bearer_token_matches([(b"authorization", f"Basic {token}".encode())], token)
    assert not bearer_token_matches([(b"authorization", b"Bearer \xff\x00")], token)
    assert not bearer_token_matches([], token)


@pytest.mark.parametrize("path", ["/%00", "/index.html%00.js", "/" + "a" * 1000, "/%ff%fe", "/.."])
def test_static_paths_that_name_no_file_are_404(tmp_path: Path, path: str) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    static = load_static_files(str(tmp_path), max_bytes=1 << 20)
    assert static is not None
    assert static.response(path, []).status == 404

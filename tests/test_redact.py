"""The redactor: registered secrets and credential-shaped text never pass, browser text is short."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_relay.browser import ErrorMessage
from trio_relay.errors import UpstreamFailed
from trio_relay.log import formatter, get_logger
from trio_relay.redact import (
    BROWSER_TEXT_MAX_CHARS,
    MIN_SECRET_CHARS,
    REDACTED,
    ROTATING_SECRETS,
    Redactor,
    for_browser,
    register,
)

KEY = "sk-proj-registered-SECRET-0123456789"


def test_a_registered_secret_is_redacted_wherever_it_appears() -> None:
    redactor = Redactor()
    redactor.register(KEY, b"ticket-secret-bytes-0123456789abcdef")
    text = f"the key {KEY}, quoted: '{KEY}', as bytes: ticket-secret-bytes-0123456789abcdef"
    assert redactor(text) == f"the key {REDACTED}, quoted: '{REDACTED}', as bytes: {REDACTED}"
    redactor.register("key/with+special=chars")
    assert redactor("?x=key%2Fwith%2Bspecial%3Dchars") == f"?x={REDACTED}"


def test_a_secret_containing_another_is_redacted_whole() -> None:
    redactor = Redactor()
    redactor.register("short-secret", "short-secret-and-more")
    assert redactor("x short-secret-and-more y") == f"x {REDACTED} y"


def test_values_too_short_to_be_secrets_are_not_registered() -> None:
    redactor = Redactor()
    redactor.register("k" * (MIN_SECRET_CHARS - 1), None, "")
    assert redactor("kkkkkkk is fine") == "kkkkkkk is fine"


def test_only_the_latest_rotating_secrets_are_kept() -> None:
    redactor = Redactor()
    tokens = [f"entra-token-number-{i:04d}" for i in range(ROTATING_SECRETS + 1)]
    for token in tokens:
        redactor.register(token, rotating=True)
    assert redactor(tokens[-1]) == REDACTED
    assert redactor(tokens[0]) == tokens[0]  # long expired: forgotten, memory stays bounded


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefgh12345678", f"Authorization: Bearer {REDACTED}"),
        ("offered bearer.abcdefgh12345678", f"offered bearer.{REDACTED}"),
        ('{"api-key": "0123456789abcdef"}', f'{{"api-key": "{REDACTED}"}}'),
        ("wss://h/realtime?token=abc&x=1", f"wss://h/realtime?token={REDACTED}&x=1"),
        ("ticket eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", f"ticket {REDACTED}"),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_credential_shaped_text_is_redacted_even_when_not_registered(
    text: str, expected: str
) -> None:
    assert Redactor()(text) == expected


def test_browser_text_is_capped_printable_and_valid_utf8() -> None:
    long = "word " * 200
    capped = for_browser(long)
    assert len(capped) <= BROWSER_TEXT_MAX_CHARS and capped.endswith("...")
    assert for_browser("a\x00b\nc\ud800d") == "a b c?d"
    json.dumps(for_browser("\udfff" * 5), ensure_ascii=False).encode("utf-8")


def test_megabytes_of_upstream_text_are_cut_without_leaving_half_a_secret() -> None:
    register(KEY)
    for huge in (KEY * 100_000, ("word " * 959) + "w" + KEY * 1000, "x" * 10**7):
        safe = for_browser(huge)
        assert len(safe) <= BROWSER_TEXT_MAX_CHARS and KEY[:12] not in safe


@given(st.text())
def test_browser_text_never_holds_a_registered_secret_and_always_encodes(text: str) -> None:
    register(KEY)
    for candidate in (text + KEY, KEY + text, text[:5] + KEY + text[5:]):
        safe = for_browser(candidate)
        assert KEY not in safe and len(safe) <= BROWSER_TEXT_MAX_CHARS
        safe.encode("utf-8")


def test_error_messages_and_session_ends_are_redacted_when_made() -> None:
    register(KEY)
    error = ErrorMessage("upstream_error", f"Incorrect API key provided: {KEY}", KEY + "-code")
    assert KEY not in error.encode() and REDACTED in error.message
    end = UpstreamFailed(f"bad key {KEY}", upstream_code=KEY, detail=f"the upstream said {KEY}")
    assert KEY not in end.message + (end.detail or "") + (end.upstream_code or "") + str(end)


def test_every_log_line_is_redacted_structlog_and_foreign_records_and_tracebacks() -> None:
    register(KEY)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(json_lines=True))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        get_logger("trio_relay.test").warning("upstream said", reason=f"bad {KEY}", nested=[KEY])
        logging.getLogger("some.library").warning("library quoting %s", KEY)
        try:
            raise RuntimeError(f"exception text with {KEY}")
        except RuntimeError:
            logging.getLogger("some.library").warning("failed", exc_info=True)
    finally:
        root.removeHandler(handler)
    rendered = out.getvalue()
    assert rendered.count("\n") == 3 and REDACTED in rendered
    assert KEY not in rendered

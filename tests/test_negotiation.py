"""trio_relay.negotiation: the content coding a request takes best, and whether it already holds
the representation, as tables of header values and what they mean."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_relay.negotiation import choose_encoding, etag_matches

ALL = ("br", "gzip", "identity")


@pytest.mark.parametrize(
    ("accept_encoding", "available", "chosen"),
    [
        (None, ALL, "identity"),  # a client that says nothing may decode nothing
        ("", ALL, "identity"),  # an empty list: no content coding wanted
        ("gzip, deflate, br, zstd", ALL, "br"),  # what browsers send: the smallest
        ("gzip", ALL, "gzip"),
        ("deflate", ALL, "identity"),
        ("GZIP", ALL, "gzip"),
        ("x-gzip", ALL, "gzip"),
        ("br;q=0.5, gzip", ALL, "gzip"),  # the client's q-values come first
        ("br;q=1.0, gzip;q=1", ALL, "br"),  # a tie: the server's order
        (" br ; q = 0.8 , gzip ; Q=0.9", ALL, "gzip"),
        ("gzip;level=9", ALL, "gzip"),  # other parameters are ignored
        ("br;q=0, gzip;q=0", ALL, "identity"),  # refused codings; identity stays acceptable
        ("br;q=0.5, identity", ALL, "identity"),
        ("br;q=0.001", ALL, "br"),  # what the client names, before identity it did not
        ("br;q=abc, gzip", ALL, "gzip"),  # an element with a bad q-value is left out
        ("br;q=2", ALL, "identity"),
        ("br;q=-1", ALL, "identity"),
        ("br;q=nan", ALL, "identity"),
        ("*", ALL, "br"),
        ("*;q=0.5, gzip", ALL, "gzip"),
        ("br;q=0, *", ALL, "gzip"),
        ("gzip, identity;q=0", ALL, "gzip"),
        ("identity;q=0", ALL, None),  # nothing left: 406
        ("*;q=0", ALL, None),  # refuses identity too, unless it is named
        ("*;q=0, identity", ALL, "identity"),
        ("*;q=0, identity;q=0.1", ALL, "identity"),
        ("gzip, gzip;q=0", ALL, "gzip"),  # the first of a repeated coding counts
        ("gzip, br", ("gzip", "identity"), "gzip"),  # only what the file has
        ("br", ("identity",), "identity"),  # a file without variants
        ("identity;q=0", ("identity",), None),
        (",,;,q=1,", ALL, "identity"),
    ],
)
def test_the_encoding_is_chosen_by_the_clients_q_values_then_br_gzip_identity(
    accept_encoding: str | None, available: tuple[str, ...], chosen: str | None
) -> None:
    assert choose_encoding(accept_encoding, available) == chosen


@given(st.text(max_size=80), st.lists(st.sampled_from(ALL), unique=True, min_size=1))
def test_any_accept_encoding_chooses_an_available_encoding_or_none(
    accept_encoding: str, available: list[str]
) -> None:
    assert choose_encoding(accept_encoding, available) in (*available, None)


@pytest.mark.parametrize(
    ("if_none_match", "matches"),
    [
        (None, False),
        ('"abc"', True),
        ('W/"abc"', True),  # If-None-Match compares weakly
        ('"x", "abc"', True),
        ('"x","abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),  # not quoted: not this tag
        ("", False),
    ],
)
def test_if_none_match_names_the_etag(if_none_match: str | None, matches: bool) -> None:
    assert etag_matches(if_none_match, '"abc"') is matches

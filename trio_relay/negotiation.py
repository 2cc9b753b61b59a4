"""What a request accepts, read from its headers: which content coding it takes best
(``Accept-Encoding`` with q-values) and whether it holds the representation already
(``If-None-Match``). Pure functions of header text that never raise on what a client sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

IDENTITY = "identity"
# Below the smallest q-value a client can send (0.001), above a refusal.
UNNAMED_IDENTITY = 0.0001


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """All lines of header ``name`` joined as one list (RFC 9110, 5.3); None when absent."""
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else None


def accepted_encodings(accept_encoding: str) -> dict[str, float]:
    """Content coding (lower case) -> q-value, from an ``Accept-Encoding`` value. An element
    whose q-value is not a number from 0 to 1 is left out; the first of repeated codings counts."""
    qualities: dict[str, float] = {}
    for element in accept_encoding.split(","):
        coding, *parameters = element.split(";")
        coding = coding.strip().lower()
        if coding == "x-gzip":  # the old name (RFC 9110, 8.4.1.3)
            coding = "gzip"
        quality: float | None = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = None
        if coding and quality is not None and 0 <= quality <= 1:
            qualities.setdefault(coding, quality)
    return qualities


def quality(coding: str, qualities: Mapping[str, float]) -> float:
    """How much the client wants ``coding``: its own q-value, else that of ``*``. Identity is
    acceptable unless refused by name or by ``*;q=0`` (RFC 9110, 12.5.3), but when the client
    did not name it, only after any coding it did name, however low its q-value."""
    if coding in qualities:
        return qualities[coding]
    if "*" in qualities:
        return qualities["*"]
    return UNNAMED_IDENTITY if coding == IDENTITY else 0.0


def choose_encoding(accept_encoding: str | None, available: Iterable[str]) -> str | None:
    """The content coding to answer with, among ``available`` (in the server's preference
    order): the client's highest q-value, ties to the server's order; None when the client
    accepts none of them. Without the header, identity: a client that says nothing about
    encodings may not be able to decode any."""
    offered = list(available)
    if accept_encoding is None:
        return IDENTITY if IDENTITY in offered else None
    qualities = accepted_encodings(accept_encoding)
    best: tuple[float, str] | None = None
    for coding in offered:
        wanted = quality(coding, qualities)
        if wanted > 0 and (best is None or wanted > best[0]):
            best = (wanted, coding)
    return best[1] if best is not None else None


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or is ``*``), by the weak comparison that
    header calls for (RFC 9110, 13.1.2: ``W/"x"`` matches ``"x"``)."""
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False

"""Plain HTTP on the relay's port: health and readiness probes and the built frontend.

Routing is a pure function from (method, path, headers) to a :class:`Response`; the server
writes it with h11. The frontend's files are answered from memory by
:class:`trio_relay.static.StaticFiles`. What a request says about itself (its target, the
client address behind proxies, a bearer token) is read here too, by functions that accept any
bytes a client can send and never raise on them. No sockets and no file I/O here.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:  # static imports this module for Response
    from .static import StaticFiles

REALTIME_PATH = "/realtime"


@attrs.frozen
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    def head(self, *, keep_alive: bool) -> list[tuple[str, str]]:
        # A 304 describes the representation the client has: no type or length of its own
        # (a Content-Length there would have to be the full body's, RFC 9110, 8.6).
        framing = (
            ()
            if self.status == 304
            else (("content-type", self.content_type), ("content-length", str(len(self.body))))
        )
        return [
            *framing,
            ("x-content-type-options", "nosniff"),
            *self.headers,
            *(() if keep_alive else (("connection", "close"),)),
        ]


def text(
    status: int,
    message: str,
    *,
    retry_after: int | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    if retry_after is not None:
        headers += (("retry-after", str(retry_after)),)
    return Response(status, (message + "\n").encode(), headers=headers)


NOT_FOUND = text(404, "not found")


def route(
    method: str,
    path: str,
    *,
    static: StaticFiles | None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> Response:
    """The response to a plain (non-upgrade) HTTP request with ``headers`` (``/metrics`` and
    ``/readyz`` need the running relay's state and are answered by the server)."""
    if method not in ("GET", "HEAD"):
        return Response(405, b"method not allowed\n", headers=(("allow", "GET, HEAD"),))
    if path == "/healthz":
        return text(200, "ok")
    if path == REALTIME_PATH:
        return text(400, "this endpoint needs a WebSocket upgrade (ws:// or wss://)")
    if static is not None:
        return static.response(path, headers)
    return NOT_FOUND


# --- what a request says about itself -------------------------------------------------------


@attrs.frozen
class RequestTarget:
    path: str
    query: str

    @property
    def origin_form(self) -> str:
        """``/path?query``: the target without any scheme or host a client put in it."""
        return f"{self.path}?{self.query}" if self.query else self.path


# host[:port], the host a name, an IPv4 address or a bracketed IPv6 one (RFC 3986, no userinfo).
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?")


def parse_target(target: bytes) -> RequestTarget | None:
    """The path and query of a request target in origin form (``/p?q``) or absolute form
    (``http://host/p?q``, as proxies send); None for anything else (``*``, ``host:port``), which
    this server does not serve. Never raises: the target is whatever the client sent."""
    text = target.decode("latin-1")
    if not text.startswith("/"):
        scheme, separator, rest = text.partition("://")
        if not separator or scheme.lower() not in ("http", "https"):
            return None
        authority, slash, rest = rest.partition("/")
        if not _AUTHORITY.fullmatch(authority):
            return None
        text = slash + rest or "/"
    path, _, query = text.partition("#")[0].partition("?")
    return RequestTarget(path, query)


def forwarded_client(headers: Iterable[tuple[bytes, bytes]], trusted_hops: int) -> str | None:
    """The client address our own proxies recorded in ``X-Forwarded-For``: the entry
    ``trusted_hops`` from the right of all its lines joined in order (each proxy appends the
    address it saw; everything left of our proxies' entries is the client's say). None when there
    are fewer entries, or that entry is not an address (the caller then uses the peer)."""
    entries = [
        entry.strip()
        for name, value in headers
        if name.lower() == b"x-forwarded-for"
        for entry in value.decode("latin-1").split(",")
    ]
    if trusted_hops < 1 or len(entries) < trusted_hops:
        return None
    return _address(entries[-trusted_hops])


def _address(entry: str) -> str | None:
    """An IP address from ``1.2.3.4``, ``1.2.3.4:port``, ``::1`` or ``[::1]:port``."""
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None


def bearer_token_matches(headers: Iterable[tuple[bytes, bytes]], token: str) -> bool:
    """Whether an ``Authorization: Bearer <token>`` header carries ``token`` (constant time)."""
    expected = token.encode()
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, given = value.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), expected):
            return True
    return False

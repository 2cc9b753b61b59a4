"""Plain HTTP on the relay's port: health and readiness probes and the built frontend.

Routing is a pure function from (method, path) to a :class:`Response`; the server writes it with
h11. Static files are served only from inside ``static_dir`` (no traversal), with content types
and caching headers: Vite's hashed ``/assets/*`` are immutable, everything else revalidates.
What a request says about itself (its target, the client address behind proxies, a bearer
token) is read here too, by functions that accept any bytes a client can send and never raise
on them. No sockets here (static files are read from disk, by the caller's thread).
"""

from __future__ import annotations

import hmac
import ipaddress
import mimetypes
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

import attrs

REALTIME_PATH = "/realtime"


@attrs.frozen
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    def head(self, *, keep_alive: bool) -> list[tuple[str, str]]:
        return [
            ("content-type", self.content_type),
            ("content-length", str(len(self.body))),
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


@attrs.frozen
class StaticFiles:
    root: Path

    @classmethod
    def at(cls, directory: str | None) -> StaticFiles | None:
        if directory is None:
            return None
        root = Path(directory).resolve()
        return cls(root) if (root / "index.html").is_file() else None

    def response(self, path: str) -> Response:
        """The file at ``path`` (URL-encoded, as requested), or 404. Blocking: reads the disk."""
        relative = unquote(path).lstrip("/") or "index.html"
        if "\x00" in relative:
            return NOT_FOUND  # no file name holds a NUL (and the OS would refuse it)
        try:
            candidate = (self.root / relative).resolve()
            if not candidate.is_relative_to(self.root) or not candidate.is_file():
                return NOT_FOUND
            body = candidate.read_bytes()
        except OSError:  # a name too long, a file we may not read, one removed meanwhile
            return NOT_FOUND
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in (
            "application/javascript",
            "application/json",
        ):
            content_type += "; charset=utf-8"
        immutable = relative.startswith("assets/")
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return Response(200, body, content_type, headers=(("cache-control", cache),))


mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")


def route(method: str, path: str, *, static: StaticFiles | None) -> Response:
    """The response to a plain (non-upgrade) HTTP request (``/metrics`` and ``/readyz`` need the
    running relay's state and are answered by the server)."""
    if method not in ("GET", "HEAD"):
        return Response(405, b"method not allowed\n", headers=(("allow", "GET, HEAD"),))
    if path == "/healthz":
        return text(200, "ok")
    if path == REALTIME_PATH:
        return text(400, "this endpoint needs a WebSocket upgrade (ws:// or wss://)")
    if static is not None:
        return static.response(path)
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

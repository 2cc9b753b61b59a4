"""Plain HTTP on the relay's port: health and readiness probes and the built frontend.

Routing is a pure function from (method, path) to a :class:`Response`; the server writes it with
h11. Static files are served only from inside ``static_dir`` (no traversal), with content types
and caching headers: Vite's hashed ``/assets/*`` are immutable, everything else revalidates.
"""

from __future__ import annotations

import mimetypes
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
        relative = unquote(path).lstrip("/") or "index.html"
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return NOT_FOUND
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in (
            "application/javascript",
            "application/json",
        ):
            content_type += "; charset=utf-8"
        immutable = relative.startswith("assets/")
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return Response(
            200, candidate.read_bytes(), content_type, headers=(("cache-control", cache),)
        )


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

"""Opening the upstream Realtime WebSocket, and mapping its failures to :mod:`trio_relay.errors`.

This is the one boundary where trio-websocket's and the OS's connection errors become
:class:`UpstreamUnavailable` (before the session is up) or :class:`UpstreamFailed` /
:class:`SessionExpired` (after). Messages name the cause, never a secret.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
from trio_websocket import CloseReason, WebSocketConnection, wrap_client_stream

from .config import Limits, UpstreamTarget
from .credentials import EntraTokenSource, upstream_headers
from .errors import SessionEnd, SessionExpired, UpstreamFailed, UpstreamUnavailable

# Upstream events can be large (a response's audio deltas); the upstream is trusted more than
# browsers, but not without bound.
UPSTREAM_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
UPSTREAM_MESSAGE_QUEUE = 64
RECEIVE_BUFFER_BYTES = 64 * 1024

UpstreamStream = trio.SocketStream | trio.SSLStream[trio.SocketStream]

_STATUS_HINTS = {
    400: "bad request: check the model / deployment name and api-version",
    401: "unauthorized: check the API key or the Entra ID identity",
    403: "forbidden: the identity lacks access (e.g. the 'Cognitive Services OpenAI User' role)",
    404: "not found: check the endpoint, the model or deployment name and api-version",
    429: "rate limited or out of capacity: try again later",
}


def where(target: UpstreamTarget) -> str:
    """The upstream's scheme, host and path, for messages; never the query or credentials."""
    parts = urlsplit(target.url)
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return f"{target.backend.value} upstream {parts.scheme}://{host}{parts.path}"


def rejection_error(target: UpstreamTarget, status: int) -> UpstreamUnavailable:
    hint = _STATUS_HINTS.get(status, "server error" if status >= 500 else "unexpected status")
    return UpstreamUnavailable(
        f"{where(target)} refused the connection: HTTP {status} ({hint})",
        retry_later=status == 429,
    )


def closed_error(reason: CloseReason | None) -> SessionEnd:
    """What an upstream close during the session means for the browser."""
    if reason is not None and reason.code == 1001:
        return SessionExpired(
            "the upstream session ended (going away, e.g. it reached its maximum duration)"
        )
    detail = "without a close frame" if reason is None else f"with code {reason.code}"
    if reason is not None and reason.reason:
        detail += f" ({reason.reason})"
    return UpstreamFailed(f"the upstream closed the connection {detail}")


@asynccontextmanager
async def open_upstream(
    io_nursery: trio.Nursery,
    target: UpstreamTarget,
    tokens: EntraTokenSource | None,
    limits: Limits,
) -> AsyncIterator[WebSocketConnection]:
    """Connect to the upstream; on exit close it (bounded by ``limits.close_timeout_s``).

    The connection's reader task runs in ``io_nursery``, which must outlive the caller's own
    cancellation: closing gracefully needs it to read the peer's close reply. A refused
    handshake is raised *by that task*, as :class:`ConnectionRejected` out of ``io_nursery``;
    :func:`rejection_error` turns it into the browser's error. This function opens the TCP
    (and TLS) stream itself, so that it is closed on every path, refusals included.
    """
    headers = await upstream_headers(target, tokens)
    parts = urlsplit(target.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    resource = f"{parts.path}?{parts.query}" if parts.query else parts.path
    stream: UpstreamStream | None = None
    try:
        with trio.fail_after(limits.upstream_connect_timeout_s):
            stream = await _open_stream(target, host, port)
            connection = await wrap_client_stream(
                io_nursery,
                stream,
                host if port in (80, 443) else f"{host}:{port}",
                resource,
                extra_headers=headers,
                message_queue_size=UPSTREAM_MESSAGE_QUEUE,
                max_message_size=UPSTREAM_MAX_MESSAGE_BYTES,
                receive_buffer_size=RECEIVE_BUFFER_BYTES,
            )
    except trio.TooSlowError:
        await _close(stream)
        raise UpstreamUnavailable(
            f"{where(target)} did not complete the handshake within "
            f"{limits.upstream_connect_timeout_s:g} s",
            retry_later=True,
        ) from None
    except BaseException:
        await _close(stream)
        raise
    try:
        yield connection
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(limits.close_timeout_s):
            await connection.aclose()
        await _close(stream)


async def _open_stream(target: UpstreamTarget, host: str, port: int) -> UpstreamStream:
    try:
        if target.url.startswith("wss://"):
            return await trio.open_ssl_over_tcp_stream(
                host, port, ssl_context=ssl.create_default_context(), https_compatible=True
            )
        return await trio.open_tcp_stream(host, port)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UpstreamUnavailable(f"could not reach the {where(target)}: {reason}") from None


async def _close(stream: trio.abc.Stream | None) -> None:
    if stream is not None:
        await trio.aclose_forcefully(stream)

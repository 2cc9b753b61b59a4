"""Opening the upstream Realtime WebSocket, and mapping its failures to :mod:`trio_relay.errors`.

This is the one boundary where the WebSocket layer's and the OS's connection errors become
:class:`UpstreamUnavailable` (before the session is up) or :class:`UpstreamFailed` /
:class:`SessionExpired` (after). Each error carries two texts: a short ``message`` for the
person at the browser (the same few sentences whatever the cause: they can only wait or
reconnect), and a ``detail`` for the operator's log that names the upstream (scheme, host, path;
never the query), the HTTP status or close code and what to check. Whatever the upstream said
(a close reason, a refusal) is untrusted: it reaches only ``detail``, redacted and capped there.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import urlsplit

import trio

from .config import Limits, UpstreamTarget
from .credentials import EntraTokenSource, upstream_headers
from .errors import (
    UNAVAILABLE_MESSAGE,
    SessionEnd,
    SessionExpired,
    UpstreamFailed,
    UpstreamUnavailable,
)
from .websocket import ConnectionClosed, HandshakeFailed, WebSocket, connect

# Upstream events can be large (a response's audio deltas); the upstream is trusted more than
# browsers, but not without bound.
UPSTREAM_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

UpstreamStream = trio.SocketStream | trio.SSLStream[trio.SocketStream]

# How a session reaches its upstream: a byte stream to the target, on which the WebSocket
# handshake is then made. The relay's is the network (:func:`connect_over_network`); tests pass
# one that serves the fake upstream over in-memory streams. It raises UpstreamUnavailable when the
# target cannot be reached; the handshake timeout bounds it.
UpstreamConnector = Callable[[UpstreamTarget], Awaitable[trio.abc.Stream]]

_STATUS_HINTS = {
    400: "bad request: check the model / deployment name and api-version",
    401: "unauthorized: check the API key or the Entra ID identity",
    403: "forbidden: the identity lacks access (e.g. the 'Cognitive Services OpenAI User' role)",
    404: "not found: check the endpoint, the model or deployment name and api-version",
    429: "rate limited or out of capacity: try again later",
}


# What the browser is told (docs/protocol.md); the cause is in the log.
BUSY_MESSAGE = "The voice service is busy right now. Please try again in a moment."
ENDED_MESSAGE = "The voice service ended the conversation unexpectedly. Please reconnect."
EXPIRED_MESSAGE = "The conversation reached its maximum length. Please reconnect to continue."


def where(target: UpstreamTarget) -> str:
    """The upstream's scheme, host and path, for messages; never the query or credentials."""
    parts = urlsplit(target.url)
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return f"{target.backend.value} upstream {parts.scheme}://{host}{parts.path}"


def rejection_error(
    target: UpstreamTarget, status: int, said: str | None = None
) -> UpstreamUnavailable:
    """The upstream refused the handshake with HTTP ``status``; ``said`` is what it answered."""
    hint = _STATUS_HINTS.get(status, "server error" if status >= 500 else "unexpected status")
    detail = f"{where(target)} refused the connection: HTTP {status} ({hint})"
    if said:
        detail += f"; it said: {said}"
    busy = status == 429
    return UpstreamUnavailable(
        BUSY_MESSAGE if busy else UNAVAILABLE_MESSAGE, retry_later=busy, detail=detail
    )


def closed_error(closed: ConnectionClosed) -> SessionEnd:
    """What an upstream close during the session means for the browser."""
    received, sent = closed.received, closed.sent
    if received is not None and received.code == 1001:
        return SessionExpired(
            EXPIRED_MESSAGE,
            detail="the upstream session ended (going away, e.g. it reached its maximum "
            f"duration){_quoted(received.reason)}",
        )
    if received is None and sent is not None:  # we failed the connection: it broke the protocol
        return UpstreamFailed(
            ENDED_MESSAGE,
            detail=f"the upstream broke the WebSocket protocol ({sent.reason or 'no detail'}); "
            f"the relay closed the connection with code {sent.code}",
        )
    how = "without a close frame" if received is None else f"with code {received.code}"
    reason = received.reason if received is not None else ""
    return UpstreamFailed(
        ENDED_MESSAGE, detail=f"the upstream closed the connection {how}{_quoted(reason)}"
    )


def _quoted(reason: str) -> str:
    return f" ({reason})" if reason else ""


@asynccontextmanager
async def open_upstream(
    target: UpstreamTarget,
    tokens: EntraTokenSource | None,
    limits: Limits,
    connector: UpstreamConnector | None = None,
) -> AsyncIterator[WebSocket]:
    """Connect to the upstream (through ``connector``; by default over the network); on exit
    close it (bounded by ``limits.close_timeout_s``, even when the caller is cancelled). The
    stream under the WebSocket is closed on every path."""
    headers = await upstream_headers(target, tokens)
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(limits.upstream_connect_timeout_s):
            stream = await (connector or connect_over_network)(target)
            connection = await connect(
                stream,
                target.url,
                headers,
                max_message_bytes=UPSTREAM_MAX_MESSAGE_BYTES,
                write_timeout_s=limits.upstream_send_timeout_s,
                max_message_fragments=limits.max_message_fragments,
            )
    except trio.TooSlowError:
        await _close(stream)
        raise UpstreamUnavailable(
            UNAVAILABLE_MESSAGE,
            retry_later=True,
            detail=f"{where(target)} did not complete the handshake within "
            f"{limits.upstream_connect_timeout_s:g} s",
        ) from None
    except HandshakeFailed as failed:
        await _close(stream)
        if failed.status is not None:
            raise rejection_error(target, failed.status, failed.message) from None
        raise UpstreamUnavailable(
            UNAVAILABLE_MESSAGE, detail=f"{where(target)}: {failed.message}"
        ) from None
    except BaseException:
        await _close(stream)
        raise
    try:
        yield connection
    finally:
        with trio.CancelScope(shield=True):
            await connection.aclose(1000, close_timeout_s=limits.close_timeout_s)


async def connect_over_network(target: UpstreamTarget) -> trio.abc.Stream:
    """The relay's :data:`UpstreamConnector`: TCP to the target's host, with TLS for wss://."""
    parts = urlsplit(target.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    return await _open_stream(target, host, port)


async def _open_stream(target: UpstreamTarget, host: str, port: int) -> UpstreamStream:
    """The TCP stream, with TLS for ``wss://`` (certificates verified, the handshake done here
    so that its failure is named as such)."""
    try:
        if not target.url.startswith("wss://"):
            return await trio.open_tcp_stream(host, port)
        context = await _tls_context(target.ca_file)
        stream = await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=context, https_compatible=True
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UpstreamUnavailable(
            UNAVAILABLE_MESSAGE, detail=f"could not reach the {where(target)}: {reason}"
        ) from None
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        await _close(stream)
        raise UpstreamUnavailable(
            UNAVAILABLE_MESSAGE, detail=f"{where(target)}: {_tls_failure(exc, target)}"
        ) from None
    except BaseException:
        await _close(stream)
        raise
    return stream


# One context per CA file, for the life of the process: building one reads a trust store.
_TLS_CONTEXTS: dict[str | None, ssl.SSLContext] = {}


async def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = _TLS_CONTEXTS.get(ca_file)
    if context is None:
        # Verification on (CERT_REQUIRED, host names checked); only ca_file trusted when set,
        # else the default paths (SSL_CERT_FILE / SSL_CERT_DIR). Read off the event loop.
        context = await trio.to_thread.run_sync(partial(ssl.create_default_context, cafile=ca_file))
        _TLS_CONTEXTS[ca_file] = context
    return context


def _tls_failure(exc: trio.BrokenResourceError, target: UpstreamTarget) -> str:
    """What went wrong in a TLS handshake, for the operator."""
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        trusted = (
            f"UPSTREAM_CA_FILE {target.ca_file}" if target.ca_file else "the system trust store"
        )
        return (
            f"TLS handshake failed: certificate verify failed: {cause.verify_message} "
            f"(trusted: {trusted}; set UPSTREAM_CA_FILE or SSL_CERT_FILE for a private CA)"
        )
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed: {cause.reason or cause}"
    return "the connection broke during the TLS handshake (is it a TLS port?)"


async def _close(stream: trio.abc.Stream | None) -> None:
    if stream is not None:
        await trio.aclose_forcefully(stream)

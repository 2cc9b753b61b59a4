"""The relay's exception tree.

Every way a session can end is a :class:`SessionEnd` that knows the WebSocket close code the
browser gets and, where there is something to say, the ``error`` message sent before the close.
That ``message`` is for the person in front of the browser (short, no hosts, no hints about
keys); ``detail`` is for the operator and goes only to the log (upstream URL, HTTP status,
"check the API key"). Both are redacted (:mod:`trio_relay.redact`) and capped when made, since
either may quote an upstream.
Third-party errors (trio-websocket, OS, azure-identity) are mapped to these at one boundary each
(:mod:`trio_relay.upstream`, :mod:`trio_relay.session`), so the close path never guesses.
"""

from __future__ import annotations

from enum import IntEnum

from .redact import code_for_browser, for_browser, for_log

# What a browser is told when the upstream cannot be had, whatever the cause (that is logged).
UNAVAILABLE_MESSAGE = "The voice service is unavailable right now. Please try again in a moment."


class CloseCode(IntEnum):
    """WebSocket close codes the relay sends to browsers (protocol.md, section 1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY = 1008
    MESSAGE_TOO_BIG = 1009
    UPSTREAM_FAILURE = 1011
    TRY_AGAIN_LATER = 1013


class ConfigError(Exception):
    """The configuration is bad or incomplete; start-up stops with one line and exit code 2."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class SessionEnd(Exception):
    """A session is over. Subclasses fix the close code and the browser ``error`` code."""

    close_code: CloseCode = CloseCode.NORMAL
    error_code: str | None = None

    def __init__(self, message: str = "", *, detail: str | None = None) -> None:
        self.message = for_browser(message)
        self.detail = for_log(detail) if detail else None
        super().__init__(self.detail or self.message)


class ClientGone(SessionEnd):
    """The browser closed its WebSocket or the connection broke; nobody left to tell.

    ``seen_code`` is the close code the connection ended with, for the log: the browser's own
    (1000, 1001 for a tab closing, ...), the relay's when it failed the connection because the
    browser broke the protocol (1009, 1007), or 1006 when it dropped without a close frame.
    """

    def __init__(self, message: str = "", *, seen_code: int = 1006) -> None:
        super().__init__(message)
        self.seen_code = seen_code


class ServerShuttingDown(SessionEnd):
    close_code = CloseCode.GOING_AWAY
    error_code = "server_shutting_down"


class UpstreamUnavailable(SessionEnd):
    """The upstream could not be reached or refused the handshake (before ``connected``)."""

    close_code = CloseCode.UPSTREAM_FAILURE
    error_code = "upstream_unavailable"

    def __init__(
        self, message: str, *, retry_later: bool = False, detail: str | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        if retry_later:
            self.close_code = CloseCode.TRY_AGAIN_LATER


class UpstreamFailed(SessionEnd):
    """The upstream closed, broke, sent garbage or a fatal ``error`` during the session."""

    close_code = CloseCode.UPSTREAM_FAILURE
    error_code = "upstream_error"

    def __init__(
        self, message: str, *, upstream_code: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.upstream_code = code_for_browser(upstream_code)


class SessionExpired(SessionEnd):
    """The upstream session reached its maximum duration."""

    close_code = CloseCode.GOING_AWAY
    error_code = "session_expired"


class IdleTimeout(SessionEnd):
    """The browser sent nothing for the configured idle timeout."""

    close_code = CloseCode.NORMAL
    error_code = "idle_timeout"


class SlowClient(SessionEnd):
    """The browser does not read what the relay sends; its bounded buffer overflowed."""

    close_code = CloseCode.TRY_AGAIN_LATER
    error_code = "slow_client"


class InternalError(SessionEnd):
    """A bug in the relay: logged with its traceback, reported to the browser without details."""

    close_code = CloseCode.UPSTREAM_FAILURE
    error_code = "internal_error"

"""What the session state machine tells the session to do: messages for each peer, the end of
the session, and facts for logs and metrics. Pure: plain data, no I/O."""

from __future__ import annotations

from typing import Any

import attrs

from .browser import BrowserMessage
from .errors import SessionEnd
from .tools.definition import Tool


@attrs.frozen
class TurnEnded:
    """The user finished a turn (spoke and stopped, or typed); an answer is expected next."""


@attrs.frozen
class UsageReported:
    """What a response or an input transcription was billed for: tokens by kind (the kinds of
    :mod:`trio_relay.usage`), or seconds of transcribed audio."""

    tokens: dict[str, int]
    transcription_seconds: float = 0.0


@attrs.frozen
class RateLimitsReported:
    remaining: dict[str, float]


@attrs.frozen
class UpstreamErrorReported:
    code: str


@attrs.frozen
class ResponseFinished:
    """A response ended: ``completed``, ``failed``, ``incomplete``, ``cancelled`` (as the
    upstream said in ``response.done``; anything else is ``unknown``) or ``timed_out`` (the
    relay gave up waiting). ``retried``: the relay asked again instead of telling the browser."""

    status: str
    upstream_code: str | None = None
    retried: bool = False


@attrs.frozen
class RateLimited:
    """The browser went over a per-session budget (named as its setting); nothing went up."""

    budget: str


@attrs.frozen
class ToolCallFinished:
    """A server-side tool call ended: ``done``, or ``failed`` with a ``reason``
    (``invalid_arguments``, ``unknown_tool``, ``too_many_calls``, ``timeout``, ``error``,
    ``output_too_large``)."""

    call_id: str
    name: str
    status: str
    reason: str | None = None
    duration_s: float = 0.0


@attrs.frozen
class McpEventSeen:
    """An upstream MCP event (``mcp_list_tools.*``, ``response.mcp_call.*``), for metering."""

    event: str


@attrs.frozen
class McpCallFinished:
    """The upstream ran (or failed to run) a call on a remote MCP server."""

    server_label: str
    name: str
    error: str | None = None


@attrs.frozen
class McpApprovalAnswered:
    """The relay answered an upstream ``mcp_approval_request`` by its policy."""

    server_label: str
    name: str
    approved: bool


Observation = (
    TurnEnded
    | UsageReported
    | RateLimitsReported
    | UpstreamErrorReported
    | ResponseFinished
    | RateLimited
    | ToolCallFinished
    | McpEventSeen
    | McpCallFinished
    | McpApprovalAnswered
)


@attrs.frozen
class ToolInvocation:
    """A call for the session to run: ``tool`` with the model's validated ``arguments``."""

    call_id: str
    tool: Tool
    arguments: dict[str, Any]


@attrs.frozen
class ToolResult:
    """What a call gave: the ``output`` text the model reads (an error says what went wrong),
    ``done`` or ``failed`` with a ``reason`` (see :class:`ToolCallFinished`)."""

    call_id: str
    output: str
    status: str = "done"
    reason: str | None = None
    duration_s: float = 0.0


@attrs.define
class Actions:
    """What one input makes the relay do: messages for each peer, tool calls to start, and
    maybe the end of it all.

    ``observations`` are facts for logs and metrics; they change nothing on the wire.
    """

    to_client: list[BrowserMessage] = attrs.Factory(list)
    to_upstream: list[dict[str, Any]] = attrs.Factory(list)
    end: SessionEnd | None = None
    observations: list[Observation] = attrs.Factory(list)
    # Server-side tool calls for the session to run now (each answered with a ToolResult).
    start_tools: list[ToolInvocation] = attrs.Factory(list)

    def add(self, other: Actions) -> Actions:
        """Append ``other``'s messages and observations after ours (and its end, if any)."""
        self.to_client += other.to_client
        self.to_upstream += other.to_upstream
        self.observations += other.observations
        self.start_tools += other.start_tools
        self.end = self.end or other.end
        return self

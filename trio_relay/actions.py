"""What the session state machine tells the session to do: messages for each peer, the end of
the session, and facts for logs and metrics. Pure: plain data, no I/O."""

from __future__ import annotations

from typing import Any

import attrs

from .browser import BrowserMessage
from .errors import SessionEnd


@attrs.frozen
class TurnEnded:
    """The user finished a turn (spoke and stopped, or typed); an answer is expected next."""


@attrs.frozen
class UsageReported:
    tokens: dict[str, int]


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


Observation = (
    TurnEnded
    | UsageReported
    | RateLimitsReported
    | UpstreamErrorReported
    | ResponseFinished
    | RateLimited
)


@attrs.define
class Actions:
    """What one input makes the relay do: messages for each peer, and maybe the end of it all.

    ``observations`` are facts for logs and metrics; they change nothing on the wire.
    """

    to_client: list[BrowserMessage] = attrs.Factory(list)
    to_upstream: list[dict[str, Any]] = attrs.Factory(list)
    end: SessionEnd | None = None
    observations: list[Observation] = attrs.Factory(list)

    def add(self, other: Actions) -> Actions:
        """Append ``other``'s messages and observations after ours (and its end, if any)."""
        self.to_client += other.to_client
        self.to_upstream += other.to_upstream
        self.observations += other.observations
        self.end = self.end or other.end
        return self

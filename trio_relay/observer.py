"""What a session reports about itself: the translator's observations as log lines and metrics,
and the time from the end of each user turn to the first text and audio of the answer. No I/O
beyond logging and metric updates; the session calls it from its tasks."""

from __future__ import annotations

from .actions import (
    McpApprovalAnswered,
    McpCallFinished,
    McpEventSeen,
    Observation,
    RateLimited,
    RateLimitsReported,
    ResponseFinished,
    ToolCallFinished,
    TurnEnded,
    UpstreamErrorReported,
    UsageReported,
)
from .browser import AssistantAudio, BrowserMessage, TextDelta
from .config import SessionPrices
from .log import get_logger
from .metrics import RelayMetrics
from .stats import SessionStats

log = get_logger("trio_relay.session")
# Tool calls refused before they ran: no duration to observe.
_NOT_RUN = frozenset({"unknown_tool", "invalid_arguments", "too_many_calls"})


class SessionObserver:
    def __init__(
        self,
        stats: SessionStats,
        metrics: RelayMetrics | None,
        prices: SessionPrices | None = None,
    ) -> None:
        self.stats = stats
        self.metrics = metrics
        self.prices = prices  # PRICES for the session's models; None: no estimate
        if prices is not None:
            stats.estimated_cost_usd = 0.0
        self._turn_ended_at: float | None = None
        self._awaiting_text = False
        self._awaiting_audio = False

    def observe(self, observation: Observation, now: float) -> None:
        if isinstance(observation, TurnEnded):
            self._turn_ended(now)
            return
        if isinstance(observation, UsageReported):
            self._usage(observation)
            return
        if isinstance(observation, ResponseFinished) and observation.status != "completed":
            # Operators see how often the upstream fails a turn (a few % on a busy Azure).
            log.info(
                "response not completed",
                status=observation.status,
                upstream_code=observation.upstream_code,
                retried=observation.retried,
            )
        elif isinstance(observation, RateLimited):
            log.info("rate limited", budget=observation.budget)
        elif isinstance(observation, ToolCallFinished):
            log.info(
                "tool call",
                tool=observation.name,
                call_id=observation.call_id,
                outcome=observation.status,
                reason=observation.reason,
                duration_s=round(observation.duration_s, 4),
            )
        elif isinstance(observation, McpCallFinished):
            log.info(
                "mcp call",
                server=observation.server_label,
                tool=observation.name,
                outcome="failed" if observation.error else "done",
                error=observation.error,
            )
        elif isinstance(observation, McpApprovalAnswered):
            log.info(
                "mcp approval",
                server=observation.server_label,
                tool=observation.name,
                approved=observation.approved,
            )
        metrics = self.metrics
        if metrics is None:
            return
        if isinstance(observation, RateLimitsReported):
            for name, remaining in observation.remaining.items():
                metrics.rate_limit_remaining.labels(name).set(remaining)
        elif isinstance(observation, UpstreamErrorReported):
            metrics.upstream_errors.labels(observation.code).inc()
        elif isinstance(observation, ResponseFinished):
            metrics.responses.labels(observation.status).inc()
        elif isinstance(observation, RateLimited):
            metrics.rate_limited.labels(observation.budget).inc()
        elif isinstance(observation, ToolCallFinished):
            # A name the model made up is not a label: label values stay the configured tools.
            name = observation.name if observation.reason != "unknown_tool" else "(unknown)"
            outcome = observation.reason or observation.status
            metrics.tool_calls.labels(name, outcome).inc()
            if observation.reason not in _NOT_RUN:
                metrics.tool_call_seconds.labels(name).observe(observation.duration_s)
        elif isinstance(observation, McpEventSeen):
            metrics.mcp_events.labels(observation.event).inc()
        elif isinstance(observation, McpApprovalAnswered):
            metrics.mcp_approvals.labels(
                observation.server_label, "approved" if observation.approved else "denied"
            ).inc()

    def _usage(self, usage: UsageReported) -> None:
        """Billed usage: added to the session's totals and the metrics, and priced."""
        self.stats.tokens.update(usage.tokens)
        self.stats.transcription_s += usage.transcription_seconds
        cost = None
        if self.prices is not None and self.stats.estimated_cost_usd is not None:
            cost = self.prices.estimate(usage.tokens, usage.transcription_seconds)
            self.stats.estimated_cost_usd += cost.usd
            self.stats.unpriced.update(cost.unpriced)
        metrics = self.metrics
        if metrics is None:
            return
        for kind, count in usage.tokens.items():
            metrics.tokens.labels(kind).inc(count)
        if usage.transcription_seconds:
            metrics.transcription_seconds.inc(usage.transcription_seconds)
        if cost is not None and cost.usd:
            metrics.estimated_cost.inc(cost.usd)

    def _turn_ended(self, now: float) -> None:
        """The user ended a turn: time the answer's first text and first audio from now."""
        self.stats.turns += 1
        self._turn_ended_at = now
        self._awaiting_text = self._awaiting_audio = True

    def sent_to_client(self, message: BrowserMessage, size: int, now: float) -> None:
        """The browser's socket took ``message`` (``size`` bytes on the wire)."""
        self.stats.client_out_bytes += size
        self.stats.client_out_frames += 1
        if isinstance(message, AssistantAudio):
            self.stats.audio_out_bytes += size
            if self._awaiting_audio and self._turn_ended_at is not None:
                self._awaiting_audio = False
                elapsed = now - self._turn_ended_at
                if self.stats.first_audio_s is None:
                    self.stats.first_audio_s = elapsed
                if self.metrics is not None:
                    self.metrics.first_audio.observe(elapsed)
        elif isinstance(message, TextDelta) and self._awaiting_text:
            self._awaiting_text = False
            if self.metrics is not None and self._turn_ended_at is not None:
                self.metrics.first_text.observe(now - self._turn_ended_at)

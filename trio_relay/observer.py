"""What a session reports about itself: the translator's observations as log lines and metrics,
and the time from the end of each user turn to the first text and audio of the answer. No I/O
beyond logging and metric updates; the session calls it from its tasks."""

from __future__ import annotations

from .browser import AssistantAudio, BrowserMessage, TextDelta
from .log import get_logger
from .metrics import RelayMetrics
from .stats import SessionStats
from .translator import (
    Observation,
    RateLimited,
    RateLimitsReported,
    ResponseFinished,
    TurnEnded,
    UpstreamErrorReported,
    UsageReported,
)

log = get_logger("trio_relay.session")


class SessionObserver:
    def __init__(self, stats: SessionStats, metrics: RelayMetrics | None) -> None:
        self.stats = stats
        self.metrics = metrics
        self._turn_ended_at: float | None = None
        self._awaiting_text = False
        self._awaiting_audio = False

    def observe(self, observation: Observation, now: float) -> None:
        if isinstance(observation, TurnEnded):
            self._turn_ended(now)
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
        metrics = self.metrics
        if metrics is None:
            return
        if isinstance(observation, UsageReported):
            for kind, count in observation.tokens.items():
                metrics.tokens.labels(kind).inc(count)
        elif isinstance(observation, RateLimitsReported):
            for name, remaining in observation.remaining.items():
                metrics.rate_limit_remaining.labels(name).set(remaining)
        elif isinstance(observation, UpstreamErrorReported):
            metrics.upstream_errors.labels(observation.code).inc()
        elif isinstance(observation, ResponseFinished):
            metrics.responses.labels(observation.status).inc()
        elif isinstance(observation, RateLimited):
            metrics.rate_limited.labels(observation.budget).inc()

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

"""Prometheus metrics for ``GET /metrics``.

One process (no supervisor): one registry per relay, so tests can run several relays in one
process. A worker of ``--workers N``: prometheus_client's multiprocess mode. Each worker writes
its values to files in the relay's shared directory (``PROMETHEUS_MULTIPROC_DIR``, set by the
supervisor before this process started, as the library requires), and a scrape of any worker
renders all of them through a ``MultiProcessCollector``: counters and histograms summed over
workers (including workers that died, so nothing goes backwards), ``active_sessions`` summed
over live workers, ``rate_limit_remaining`` the most recent value any worker saw.

The traffic totals (bytes and frames by direction) are plain integers on the per-frame hot path
(:class:`~trio_relay.stats.SessionStats`); what they gained is moved into the real counters when
a session ends (:meth:`RelayMetrics.session_ended`), and for live sessions before every
collection and once per :data:`TRAFFIC_FLUSH_INTERVAL_S` (:meth:`RelayMetrics.flush_traffic`),
so another worker's scrape sees a live session's traffic at most that late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from .config import WorkerPlace
from .stats import DIRECTIONS, SessionStats

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# How stale a worker's traffic counters may be in another worker's scrape.
TRAFFIC_FLUSH_INTERVAL_S = 1.0


class _FlushFirst:
    """Registered first in the scraped registry: brings the traffic counters up to date before
    the others are collected. Yields no metrics of its own."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush

    def collect(self) -> Iterable[Metric]:
        self._flush()
        return ()


class RelayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(
        self,
        live_stats: Callable[[], Iterable[SessionStats]],
        *,
        worker: WorkerPlace | None = None,
    ) -> None:
        """``live_stats``: the counters of the sessions running now."""
        self.multiprocess = worker is not None
        if self.multiprocess and not prometheus_values.ValueClass._multiprocess:
            raise RuntimeError(
                "a worker needs PROMETHEUS_MULTIPROC_DIR in its environment when it starts "
                "(the supervisor sets it); start workers with --workers N"
            )
        self._live_stats = live_stats
        # For each live session (by id; the entry keeps it alive): what the counters hold of it.
        self._counted: dict[int, tuple[SessionStats, list[int]]] = {}
        self.registry = CollectorRegistry()
        self.registry.register(_FlushFirst(self.flush_traffic))
        if worker is not None:
            MultiProcessCollector(self.registry, path=worker.shared_dir)  # type: ignore[no-untyped-call]
            r = None  # in multiprocess mode values live in the files; nothing is registered
        else:
            r = self.registry
        self.active_sessions = Gauge(
            "trio_relay_active_sessions",
            "Sessions running now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.sessions = Counter(
            "trio_relay_sessions", "Sessions ended, by outcome.", ["outcome"], registry=r
        )
        self.rejections = Counter(
            "trio_relay_handshake_rejections",
            "WebSocket upgrades refused before accept, by reason.",
            ["reason"],
            registry=r,
        )
        self.bytes = Counter(
            "trio_relay_bytes",
            "Payload bytes relayed, by direction (client_in/out, upstream_in/out).",
            ["direction"],
            registry=r,
        )
        self.frames = Counter(
            "trio_relay_frames",
            "WebSocket messages relayed, by direction.",
            ["direction"],
            registry=r,
        )
        self._traffic_counters = [
            (f"{direction}_{unit}", family.labels(direction))
            for unit, family in (("bytes", self.bytes), ("frames", self.frames))
            for direction in DIRECTIONS
        ]
        self.upstream_connect = Histogram(
            "trio_relay_upstream_connect_seconds",
            "Time to open the upstream WebSocket and have the session confirmed.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_audio = Histogram(
            "trio_relay_time_to_first_audio_seconds",
            "From the end of a user turn to the first assistant audio sent to the client.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_text = Histogram(
            "trio_relay_time_to_first_text_seconds",
            "From the end of a user turn to the first assistant text sent to the client.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "trio_relay_upstream_errors", "Upstream error events, by code.", ["code"], registry=r
        )
        self.responses = Counter(
            "trio_relay_responses",
            "Upstream responses ended, by status (completed, failed, incomplete, cancelled, "
            "timed_out: the relay stopped waiting).",
            ["status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "trio_relay_rate_limited",
            "Browser requests refused over a per-session budget, by budget.",
            ["budget"],
            registry=r,
        )
        self.slow_client_closes = Counter(
            "trio_relay_slow_client_closes",
            "Sessions closed because the client did not read.",
            registry=r,
        )
        self.rate_limit_remaining = Gauge(
            "trio_relay_upstream_rate_limit_remaining",
            "Last 'remaining' value of the upstream's rate_limits.updated, by limit name.",
            ["name"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.tokens = Counter(
            "trio_relay_upstream_tokens",
            "Tokens the upstream billed, by kind: input_text, input_cached_text, input_audio, "
            "input_cached_audio, input_image, input_cached_image, output_text, output_audio "
            "(response.done usage; cached tokens are not in the uncached kinds), "
            "transcription_input, transcription_output (input transcription usage).",
            ["kind"],
            registry=r,
        )
        self.transcription_seconds = Counter(
            "trio_relay_upstream_transcription_seconds",
            "Seconds of input audio transcribed, where the transcription is billed by duration.",
            registry=r,
        )
        self.estimated_cost = Counter(
            "trio_relay_estimated_cost_usd",
            "Estimated cost of the upstream usage in USD, by the PRICES table.",
            registry=r,
        )
        self.connection_errors = Counter(
            "trio_relay_connection_errors",
            "Connections ended by an error, by stage (request, response, upgrade, session) and "
            "fault (client: not valid HTTP; server: a bug, logged with a traceback).",
            ["stage", "fault"],
            registry=r,
        )
        self.connections_dropped = Counter(
            "trio_relay_connections_dropped",
            "Connections hung up on, by reason (max_connections, max_connections_per_ip, "
            "request_timeout, write_timeout).",
            ["reason"],
            registry=r,
        )

        self.tool_calls = Counter(
            "trio_relay_tool_calls",
            "Server-side tool calls ended, by tool and outcome (done, or why it failed: "
            "invalid_arguments, unknown_tool, too_many_calls, timeout, error, output_too_large).",
            ["tool", "outcome"],
            registry=r,
        )
        self.tool_call_seconds = Histogram(
            "trio_relay_tool_call_seconds",
            "How long server-side tool calls ran, by tool.",
            ["tool"],
            buckets=TOOL_BUCKETS,
            registry=r,
        )
        self.mcp_events = Counter(
            "trio_relay_mcp_events",
            "MCP events from the upstream (mcp_list_tools.*, response.mcp_call*), by type.",
            ["event"],
            registry=r,
        )
        self.mcp_approvals = Counter(
            "trio_relay_mcp_approvals",
            "MCP approval requests the relay answered, by server and decision.",
            ["server", "decision"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def flush_traffic(self) -> None:
        """Add to the traffic counters what the live sessions relayed since the last flush."""
        counted = self._counted
        gained = [0] * len(self._traffic_counters)
        for stats in self._live_stats():
            entry = counted.get(id(stats))
            if entry is None:
                entry = counted[id(stats)] = (stats, [0] * len(self._traffic_counters))
            self._gained(stats, entry[1], gained)
        self._add(gained)

    def session_ended(self, stats: SessionStats) -> None:
        """Count the rest of an ended session's traffic, and forget the session."""
        entry = self._counted.pop(id(stats), None)
        gained = [0] * len(self._traffic_counters)
        self._gained(stats, [0] * len(gained) if entry is None else entry[1], gained)
        self._add(gained)

    def _gained(self, stats: SessionStats, counted: list[int], gained: list[int]) -> None:
        """Add to ``gained`` what ``stats`` has beyond ``counted``, and count it."""
        for i, (field, _) in enumerate(self._traffic_counters):
            value: int = getattr(stats, field)
            gained[i] += value - counted[i]
            counted[i] = value

    def _add(self, gained: list[int]) -> None:
        # One update per counter, however many sessions (each is a file write with workers).
        for (_, counter), amount in zip(self._traffic_counters, gained, strict=True):
            if amount:
                counter.inc(amount)

    async def flush_traffic_periodically(self) -> None:
        """With workers, other workers' scrapes read the counters' files: keep them fresh.
        (One process flushes before each collection; it needs no timer.)"""
        if not self.multiprocess:
            return
        try:
            while True:
                await trio.sleep(TRAFFIC_FLUSH_INTERVAL_S)
                self.flush_traffic()
        finally:
            self.flush_traffic()  # what the last sessions relayed, before the worker exits

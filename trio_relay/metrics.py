"""Prometheus metrics for ``GET /metrics``, one registry per relay (so tests can run several)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from .stats import DIRECTIONS

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class TrafficCollector(Collector):
    """Bytes and frames per direction, summed at scrape time from plain per-session counters,
    so the per-frame hot path pays an integer add instead of a labelled metric update."""

    def __init__(self, totals: Callable[[], Mapping[str, int]]) -> None:
        self._totals = totals

    def collect(self) -> Iterable[Metric]:
        totals = self._totals()
        for unit, help_text in (("bytes", "Payload bytes"), ("frames", "WebSocket messages")):
            family = CounterMetricFamily(
                f"trio_relay_{unit}",
                f"{help_text} relayed, by direction (client_in/out, upstream_in/out).",
                labels=["direction"],
            )
            for direction in DIRECTIONS:
                family.add_metric([direction], totals.get(f"{direction}_{unit}", 0))
            yield family


class RelayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, traffic_totals: Callable[[], Mapping[str, int]]) -> None:
        self.registry = r = CollectorRegistry()
        r.register(TrafficCollector(traffic_totals))
        self.active_sessions = Gauge(
            "trio_relay_active_sessions", "Sessions running now.", registry=r
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
        )
        self.tokens = Counter(
            "trio_relay_upstream_tokens",
            "Tokens reported by the upstream's response.done usage, by kind.",
            ["kind"],
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

    def render(self) -> bytes:
        return generate_latest(self.registry)

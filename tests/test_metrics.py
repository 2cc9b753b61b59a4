"""The relay's metrics in one process: a strict exposition, traffic counters that follow the
sessions' plain integers at every collection, and a clear refusal of a half-set-up worker."""

from __future__ import annotations

import pytest
from strict_exposition import strict_samples

from trio_relay.config import WorkerPlace
from trio_relay.metrics import RelayMetrics
from trio_relay.stats import DIRECTIONS, SessionStats


def test_the_exposition_is_strict_with_every_family_once() -> None:
    metrics = RelayMetrics(list)
    metrics.sessions.labels("ClientGone").inc()
    metrics.upstream_connect.observe(0.2)
    metrics.rate_limit_remaining.labels("requests").set(7)
    samples = strict_samples(metrics.render().decode())
    assert samples[("trio_relay_sessions_total", (("outcome", "ClientGone"),))] == 1
    assert samples[("trio_relay_upstream_connect_seconds_count", ())] == 1
    for unit in ("bytes", "frames"):
        for direction in DIRECTIONS:
            assert samples[(f"trio_relay_{unit}_total", (("direction", direction),))] == 0


def test_traffic_counters_catch_up_with_the_sessions_at_every_collection() -> None:
    live = [SessionStats(started_at=0.0), SessionStats(started_at=0.0)]
    metrics = RelayMetrics(lambda: live)

    def value(unit: str, direction: str) -> float | None:
        return metrics.registry.get_sample_value(
            f"trio_relay_{unit}_total", {"direction": direction}
        )

    live[0].client_in_bytes, live[1].client_in_bytes = 100, 20
    live[0].upstream_out_frames = 3
    assert value("bytes", "client_in") == 120 and value("frames", "upstream_out") == 3
    live[0].client_in_bytes = 250
    metrics.flush_traffic()  # the periodic flush and the collection add what is new, once
    assert value("bytes", "client_in") == 270
    ended = live.pop()
    ended.client_in_bytes += 5  # relayed after the last flush: counted when the session ends
    metrics.session_ended(ended)
    assert value("bytes", "client_in") == 275
    assert value("bytes", "client_out") == 0


def test_an_ended_session_is_counted_once_even_if_never_flushed() -> None:
    metrics = RelayMetrics(list)
    stats = SessionStats(started_at=0.0, client_out_bytes=9, client_out_frames=1)
    metrics.session_ended(stats)
    metrics.flush_traffic()
    assert (
        metrics.registry.get_sample_value("trio_relay_bytes_total", {"direction": "client_out"})
        == 9
    )


def test_each_relay_in_a_process_has_its_own_registry() -> None:
    first, second = RelayMetrics(list), RelayMetrics(list)
    first.active_sessions.inc()
    assert first.registry.get_sample_value("trio_relay_active_sessions") == 1
    assert second.registry.get_sample_value("trio_relay_active_sessions") == 0


def test_a_worker_without_the_multiprocess_directory_refuses_to_start(tmp_path: object) -> None:
    # This test process has no PROMETHEUS_MULTIPROC_DIR: its values are per process.
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        RelayMetrics(list, worker=WorkerPlace(0, str(tmp_path)))

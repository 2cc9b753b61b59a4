"""``--workers 2`` as one relay: real processes, sessions spread by the kernel over both workers.

Which worker served a session is read from the log (every line a worker writes carries its
index). The kernel picks the worker per connection, so each test opens connections until both
workers have been seen (bounded), rather than hoping a fixed number lands on each.
"""

from __future__ import annotations

import os
import re
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import trio
from harness import is_control, open_browser
from relay_process import (
    MAX_CONNECTIONS_TRIED,
    RelayProcess,
    event,
    running_workers,
    sessions_on_both_workers,
)
from strict_exposition import Samples, strict_samples
from trio_websocket import ConnectionRejected, open_websocket_url

from trio_relay.client_auth import mint_ticket

SESSIONS = 12
SCRAPES = 12
TEST_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 10.0


async def scrape(relay: RelayProcess) -> Samples:
    response = await relay.get("/metrics")
    assert response.status_code == 200
    return strict_samples(response.text)


def sessions_counted(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "trio_relay_sessions_total")


def is_cumulative(name: str) -> bool:
    return name.endswith(("_total", "_count", "_sum", "_bucket"))


async def test_every_scrape_of_any_worker_counts_the_whole_relay() -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        async with running_workers(2) as relay:
            per_worker = await sessions_on_both_workers(relay, SESSIONS)
            n = sum(per_worker.values())
            scrapes = [await scrape(relay) for _ in range(SCRAPES)]
            for samples in scrapes:
                assert sessions_counted(samples) == n, per_worker
                # Every gauge combines its workers (a mode left at 'all' would add a pid label).
                assert not [key for key in samples if "pid" in dict(key[1])]
                assert samples[("trio_relay_active_sessions", ())] == 0
                for histogram in ("upstream_connect_seconds", "time_to_first_text_seconds"):
                    name = f"trio_relay_{histogram}"
                    assert samples[(f"{name}_count", ())] == n
                    assert samples[(f"{name}_bucket", (("le", "+Inf"),))] == n
                # The sessions have ended: their traffic is in the counters, whoever is asked.
                assert samples == scrapes[0]
            ids = [line["session_id"] for line in relay.log.matching(event("session ended"))]
            assert len(set(ids)) == len(ids) == n
            assert all(re.fullmatch("s-[0-9a-f]{12}", i) for i in ids)
            client_in = scrapes[0][("trio_relay_bytes_total", (("direction", "client_in"),))]
            assert client_in >= n * len(b"hello")
            for probe in ("/healthz", "/readyz"):
                assert [(await relay.get(probe)).status_code for _ in range(4)] == [200] * 4


async def test_a_live_session_counts_once_in_the_whole_relay() -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        async with running_workers(2) as relay:
            async with open_browser(relay.url) as browser:
                await browser.until(is_control("connected"))
                for _ in range(6):
                    assert (await scrape(relay))[("trio_relay_active_sessions", ())] == 1


async def test_a_killed_worker_is_restarted_and_no_counter_goes_backwards() -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        async with running_workers(2) as relay:
            await sessions_on_both_workers(relay, 4)
            before = await scrape(relay)
            victim = relay.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            await relay.log.until(event("worker exited; restarting", worker=0, pid=victim))
            await relay.log.until(
                lambda line: (
                    line.get("event") == "trio-relay listening"
                    and line.get("worker") == 0
                    and line.get("pid") != victim
                )
            )
            for _ in range(SCRAPES):
                after = await scrape(relay)
                assert sessions_counted(after) == sessions_counted(before)
                assert after[("trio_relay_active_sessions", ())] == 0
                for key, value in before.items():
                    if is_cumulative(key[0]):
                        assert after[key] >= value, key
            await sessions_on_both_workers(relay, 2)
            assert sessions_counted(await scrape(relay)) > sessions_counted(before)


@pytest.mark.parametrize(
    ("variable", "reason"),
    [("MAX_SESSIONS", "the relay is at its limit of 3"), ("MAX_SESSIONS_PER_IP", "client address")],
)
async def test_a_session_cap_holds_across_workers(variable: str, reason: str) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        async with running_workers(2, {variable: "3"}) as relay, AsyncExitStack() as held:
            for _ in range(3):
                browser = await held.enter_async_context(open_browser(relay.url))
                await browser.until(is_control("connected"))
            refused_by: set[int] = set()
            capacity = event("refused a WebSocket: at capacity")
            for attempt in range(1, MAX_CONNECTIONS_TRIED + 1):
                try:
                    async with open_websocket_url(relay.url):
                        raise AssertionError("a 4th session was accepted with MAX_SESSIONS=3")
                except ConnectionRejected as refusal:
                    assert refusal.status_code == 503
                lines = await relay.log.until(capacity, attempt)
                assert all(reason in line["reason"] for line in lines)
                refused_by = {line["worker"] for line in lines}
                if refused_by == {0, 1}:
                    break
            assert refused_by == {0, 1}, "every attempt went to one worker"
            started = relay.log.matching(event("session started"))
            assert len(started) == 3


async def test_metrics_port_0_is_one_port_for_the_whole_relay() -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        async with running_workers(2, {"METRICS_PORT": "0"}) as relay:
            serving = await relay.log.until(event("serving /metrics and /healthz"), 2)
            assert {line["worker"] for line in serving} == {0, 1}
            ports = {line["port"] for line in serving}
            assert len(ports) == 1 and 0 not in ports, serving
            (port,) = ports
            async with httpx.AsyncClient() as http:
                for _ in range(4):  # a connection each: either worker may answer
                    response = await http.get(
                        f"http://127.0.0.1:{port}/metrics", headers={"connection": "close"}
                    )
                    assert response.status_code == 200
                    assert "# TYPE trio_relay_bytes_total counter" in response.text


TICKET_SECRET = "a-secret-of-at-least-32-characters-long"


async def test_a_one_time_ticket_opens_one_session_in_the_whole_relay() -> None:
    env = {"CLIENT_AUTH": "ticket", "TICKET_SECRET": TICKET_SECRET, "TICKET_ONE_TIME": "1"}
    ticket = mint_ticket(
        TICKET_SECRET.encode(), "alice", int(time.time()) + 300, jti="the-only-use"
    )
    with trio.fail_after(TEST_TIMEOUT_S):
        async with running_workers(2, env) as relay:
            url = f"{relay.url}?token={ticket}"
            async with open_browser(url) as browser:
                await browser.until(is_control("connected"))
            # Replayed until both workers have refused it: the one that admitted it, and the
            # other, which never saw it but shares the record.
            refused = event("refused a WebSocket: authentication failed")
            refused_by: set[int] = set()
            for attempt in range(1, MAX_CONNECTIONS_TRIED + 1):
                try:
                    async with open_websocket_url(url):
                        raise AssertionError("a one-time ticket opened a second session")
                except ConnectionRejected as refusal:
                    assert refusal.status_code == 401
                lines = await relay.log.until(refused, attempt)
                assert all("already used" in line["reason"] for line in lines)
                refused_by = {line["worker"] for line in lines}
                if refused_by == {0, 1}:
                    break
            assert refused_by == {0, 1}, "every attempt went to one worker"
            assert len(relay.log.matching(event("session started"))) == 1


def relay_dirs(parent: Path) -> list[Path]:
    return list(parent.glob("trio-relay-*"))


async def test_workers_exit_when_their_supervisor_is_killed_and_the_next_relay_cleans_up(
    tmp_path: Path,
) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        # A killed supervisor cannot remove the relay's shared directory: keep it in tmp_path.
        async with running_workers(2, {"TMPDIR": str(tmp_path)}) as relay:
            pids = relay.worker_pids()
            assert len(pids) == 2
            watches = []
            for pid in pids.values():
                watches.append(os.pidfd_open(pid))  # readable once that process has exited
            try:
                relay.process.kill()
                await relay.process.wait()
                with trio.fail_after(EXIT_TIMEOUT_S):
                    for fd in watches:
                        await trio.lowlevel.wait_readable(fd)
            finally:
                for fd in watches:
                    os.close(fd)
        # Its shared directory is left behind; the next relay started there removes it.
        (left,) = relay_dirs(tmp_path)
        async with running_workers(2, {"TMPDIR": str(tmp_path)}) as relay:
            await relay.log.until(
                event("removed shared directories of relays that did not stop cleanly")
            )
            remaining = relay_dirs(tmp_path)
            assert left not in remaining and len(remaining) == 1  # its own

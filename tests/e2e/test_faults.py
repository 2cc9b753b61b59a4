"""Upstream faults, scripted by the fake upstream's model name: what the browser sees, bounded in
time, with nothing left running afterwards.

In memory, on virtual time, but for the upstream that stops reading: that one needs the
backpressure of real sockets (memory streams buffer without bound)."""

from __future__ import annotations

import logging

import attrs
import pytest
import trio
import trio.testing
from harness import MemoryRelay, count_tasks, is_control, open_browser, serve, serve_in_memory
from trio_websocket import ConnectionClosed

from fake_upstream import FakeUpstream
from trio_relay.config import Limits, RelayConfig, openai_target
from trio_relay.errors import UNAVAILABLE_MESSAGE
from trio_relay.server import Relay
from trio_relay.upstream import BUSY_MESSAGE

FAST = Limits(upstream_session_timeout_s=0.5, upstream_connect_timeout_s=2.0, close_timeout_s=0.5)


async def relay_for(nursery: trio.Nursery, fake: FakeUpstream, model: str) -> MemoryRelay:
    target = openai_target(f"{fake.url}/v1", model, "sk-test")
    return await serve_in_memory(nursery, RelayConfig(upstream=target, limits=FAST), fake)


async def assert_nothing_left(
    relay: Relay, fake: FakeUpstream, baseline: int, *, upstream_reads: bool = True
) -> None:
    with trio.fail_after(2):
        await relay.sessions_ended()
        # A stalled fake never reads again, so it never learns the relay hung up.
        for record in fake.connections if upstream_reads else ():
            await record.closed.wait()
    await trio.testing.wait_all_tasks_blocked()
    assert count_tasks(relay.task) == baseline


@pytest.mark.parametrize(
    ("model", "status", "close_code"),
    [
        ("fault-401", "401", 1011),
        ("fault-403", "403", 1011),
        ("fault-500", "500", 1011),
        ("fault-429", "429", 1013),
    ],
)
async def test_refused_handshake(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    model: str,
    status: str,
    close_code: int,
) -> None:
    caplog.set_level(logging.INFO)
    site = await relay_for(nursery, fake, model)
    relay = site.relay
    baseline = count_tasks(relay.task)
    async with site.browser() as browser:
        error = await browser.next_message()
        assert error["type"] == "error" and error["code"] == "upstream_unavailable"
        # The browser gets words for its user; the status and the hint are the operator's.
        busy = status == "429"
        assert error["message"] == (BUSY_MESSAGE if busy else UNAVAILABLE_MESSAGE)
        assert await browser.closed() == close_code
    await assert_nothing_left(relay, fake, baseline)
    ended = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    details = [e.get("detail") for e in ended if e.get("event") == "session ended"]
    assert len(details) == 1 and f"HTTP {status}" in details[0]
    assert "sk-test" not in details[0]


@pytest.mark.parametrize(
    ("model", "error_code", "close_code"),
    [
        ("fault-drop-mid-response", "upstream_error", 1011),
        ("fault-error-fatal", "upstream_error", 1011),
        ("fault-session-expired", "session_expired", 1001),
        ("fault-garbage", "upstream_error", 1011),
    ],
)
async def test_fault_during_a_turn_ends_the_session_with_the_right_code(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    model: str,
    error_code: str,
    close_code: int,
) -> None:
    site = await relay_for(nursery, fake, model)
    relay = site.relay
    baseline = count_tasks(relay.task)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        if model == "fault-session-expired":  # expires after the first completed response
            await browser.until(is_control("text_done"))
            await browser.send_text("again")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == error_code, error
        assert await browser.closed() == close_code
    await assert_nothing_left(relay, fake, baseline)


async def test_fatal_error_names_the_upstream_code(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-error-fatal")
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        error = await browser.until(lambda m: m["type"] == "error")
    assert error["upstream_code"] == "insufficient_quota"


async def test_recoverable_error_is_reported_and_the_session_goes_on(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-error-recoverable")
    relay = site.relay
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("first")
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "upstream_error" and error.get("upstream_code")
        await browser.send_text("second")
        await browser.until(is_control("text_done"))
    assert (
        relay.metrics.registry.get_sample_value(
            "trio_relay_upstream_errors_total", {"code": error["upstream_code"]}
        )
        == 1
    )


async def test_stalled_upstream_times_out_instead_of_hanging(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await relay_for(nursery, fake, "fault-stall")
    relay = site.relay
    baseline = count_tasks(relay.task)
    opened = trio.current_time()
    async with site.browser() as browser:
        error = await browser.next_message()
        assert trio.current_time() - opened == pytest.approx(FAST.upstream_session_timeout_s)
        assert error["code"] == "upstream_unavailable" and "did not confirm" in error["message"]
        assert await browser.closed() == 1011
    await assert_nothing_left(relay, fake, baseline, upstream_reads=False)


async def test_upstream_that_stops_reading_mid_session_ends_it(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    target = openai_target(f"{fake.url}/v1", "fault-stall-after-connect", "sk-test")
    limits = attrs.evolve(FAST, upstream_send_timeout_s=0.5, audio_burst_ms=3_600_000)
    relay = await serve(nursery, RelayConfig(upstream=target, limits=limits))
    baseline = count_tasks(relay.task)
    async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
        await browser.until(is_control("connected"))

        async def flood() -> None:  # far more audio than the socket buffers hold
            for _ in range(150):
                try:
                    await browser.ws.send_message(bytes(200_000))
                except ConnectionClosed:  # the relay ended the session: its error came first
                    return

        async with trio.open_nursery() as senders:
            senders.start_soon(flood)
            error = await browser.until(lambda m: m["type"] == "error")
            senders.cancel_scope.cancel()
        assert error["code"] == "upstream_error" and "stopped reading" in error["message"]
    await assert_nothing_left(relay, fake, baseline, upstream_reads=False)

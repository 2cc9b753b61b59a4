"""Graceful shutdown: refuse new sessions, let in-flight responses finish, close the rest 1001.

In memory and on virtual time: the grace period is timed exactly.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from harness import is_control, serve_in_memory
from trio_websocket import ConnectionRejected

from fake_upstream import FakeUpstream
from trio_relay.config import Limits, RelayConfig, openai_target


async def test_drain_tells_every_client_and_refuses_new_ones(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
    limits = Limits(drain_grace_s=5)
    site = await serve_in_memory(nursery, RelayConfig(upstream=target, limits=limits), fake)
    relay = site.relay
    async with site.browser() as idle, site.browser() as busy:
        await idle.until(is_control("connected"))
        await busy.until(is_control("connected"))
        await busy.send_text("a last question")
        await busy.until(lambda m: m["type"] == "text_delta")  # its response is in flight
        async with trio.open_nursery() as shutting_down:
            shutting_down.start_soon(relay.shutdown)
            await trio.testing.wait_all_tasks_blocked()
            assert not relay.ready
            assert (await site.get("/readyz"))[0] == 503
            assert (await site.get("/healthz"))[0] == 200
            with pytest.raises(ConnectionRejected) as refused:
                async with site.browser():
                    pass
            assert refused.value.status_code == 503
            for browser in (idle, busy):
                error = await browser.until(lambda m: m["type"] == "error")
                assert error["code"] == "server_shutting_down"
                assert await browser.closed() == 1001
        # The busy session's response finished before it was closed.
        assert any(m.get("action") == "text_done" for m in busy.texts)
    assert len(fake.connections) == 2  # the refused one never reached the upstream
    for record in fake.connections:
        assert record.closed.is_set()


async def test_grace_period_ends_sessions_whose_response_never_finishes(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    # fault-stall-after-connect: the upstream confirms the session, then never answers,
    # so the response asked for below never finishes.
    target = openai_target(f"{fake.url}/v1", "fault-stall-after-connect", "k")
    limits = Limits(drain_grace_s=3, close_timeout_s=1)
    site = await serve_in_memory(nursery, RelayConfig(upstream=target, limits=limits), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("this will never be answered")
        await trio.testing.wait_all_tasks_blocked()
        assert site.relay.sessions and all(
            s.translator.response_active for s in site.relay.sessions
        )
        start = trio.current_time()
        async with trio.open_nursery() as shutting_down:
            shutting_down.start_soon(site.relay.shutdown)
            error = await browser.until(lambda m: m["type"] == "error")
            # Told exactly when the grace period ran out, not before.
            assert trio.current_time() - start == pytest.approx(limits.drain_grace_s)
            assert error["code"] == "server_shutting_down"
            assert await browser.closed() == 1001
    assert not site.relay.sessions

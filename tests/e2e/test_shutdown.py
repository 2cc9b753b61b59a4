"""Graceful shutdown: refuse new sessions, let in-flight responses finish, close the rest 1001."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing
from harness import is_control, open_browser, serve
from trio_websocket import ConnectionRejected, open_websocket_url

from fake_upstream import FakeUpstream, open_fake_upstream
from trio_relay.config import Limits, RelayConfig, openai_target


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with open_fake_upstream() as fake:
        yield fake


async def test_drain_tells_every_client_and_refuses_new_ones(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    target = openai_target(f"{fake.url}/v1", "gpt-realtime", "k")
    relay = await serve(nursery, RelayConfig(upstream=target, limits=Limits(drain_grace_s=5)))
    url = f"ws://127.0.0.1:{relay.port}/realtime"
    async with open_browser(url) as idle, open_browser(url) as busy:
        await idle.until(is_control("connected"))
        await busy.until(is_control("connected"))
        await busy.send_text("a last question")
        await busy.until(lambda m: m["type"] == "text_delta")  # its response is in flight
        async with trio.open_nursery() as shutting_down:
            shutting_down.start_soon(relay.shutdown)
            await trio.testing.wait_all_tasks_blocked()
            assert not relay.ready
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}") as http:
                assert (await http.get("/readyz")).status_code == 503
                assert (await http.get("/healthz")).status_code == 200
            with pytest.raises(ConnectionRejected) as refused:
                async with open_websocket_url(url):
                    pass
            assert refused.value.status_code == 503
            for browser in (idle, busy):
                error = await browser.until(lambda m: m["type"] == "error")
                assert error["code"] == "server_shutting_down"
                assert await browser.closed() == 1001
        # The busy session's response finished before it was closed.
        assert any(m.get("action") == "text_done" for m in busy.texts)
    for record in fake.connections:
        assert record.closed.is_set()


async def test_grace_period_ends_sessions_whose_response_never_finishes(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    # fault-stall-after-connect: the upstream confirms the session, then never answers,
    # so the response asked for below never finishes.
    target = openai_target(f"{fake.url}/v1", "fault-stall-after-connect", "k")
    limits = Limits(drain_grace_s=0.3, close_timeout_s=0.3)
    relay = await serve(nursery, RelayConfig(upstream=target, limits=limits))
    async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("this will never be answered")
        await trio.testing.wait_all_tasks_blocked()
        assert relay.sessions and all(s.translator.response_active for s in relay.sessions)
        with trio.fail_after(3):
            await relay.shutdown()
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "server_shutting_down"
        assert await browser.closed() == 1001
    assert not relay.sessions

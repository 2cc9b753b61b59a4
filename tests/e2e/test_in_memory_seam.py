"""The seam the in-memory e2e tests stand on: ``serve_relay`` serves injected listeners and
reaches the upstream through an injected connector."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from harness import is_control, serve_in_memory

from fake_upstream import FakeUpstream
from trio_relay.config import RelayConfig, UpstreamTarget, openai_target
from trio_relay.errors import UNAVAILABLE_MESSAGE, UpstreamUnavailable


def config_for(fake: FakeUpstream) -> RelayConfig:
    return RelayConfig(upstream=openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-test"))


async def test_an_injected_listener_is_served_and_closed_when_the_relay_stops(
    fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        site = await serve_in_memory(nursery, config_for(fake), fake)
        assert await site.get("/healthz") == (200, b"ok\n")
        with pytest.raises(TypeError, match="no port"):
            _ = site.relay.port
        nursery.cancel_scope.cancel()
    with pytest.raises(trio.BrokenResourceError):
        await site.listener.connect()


async def test_sessions_reach_the_upstream_through_the_connector(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, config_for(fake), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
    (record,) = fake.connections
    assert record.path == "/v1/realtime" and record.query["model"] == "gpt-realtime"


async def test_a_connector_that_cannot_reach_the_upstream_is_reported_to_the_browser(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, config_for(fake), fake)

    async def unreachable(target: UpstreamTarget) -> trio.abc.Stream:
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, detail="no route (a test)")

    site.relay.connector = unreachable
    async with site.browser() as browser:
        error = await browser.next_message()
        assert (error["code"], error["message"]) == ("upstream_unavailable", UNAVAILABLE_MESSAGE)
        assert await browser.closed() == 1011
    assert not fake.connections

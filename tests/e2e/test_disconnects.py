"""A browser that leaves at any point: the relay's upstream socket is closed within a second,
and no task or socket of the relay is left behind."""

from __future__ import annotations

import trio
import trio.testing
from harness import count_tasks, is_control, open_browser, open_sockets, serve, speech_like_pcm

from fake_upstream import open_fake_upstream
from trio_relay.config import RelayConfig, openai_target


def upstream_sockets(fake_port: int) -> list[tuple[int, int]]:
    """The relay's connections to the fake upstream (their remote port is the fake's)."""
    return [pair for pair in open_sockets({fake_port}) if pair[1] == fake_port]


async def left_within_a_second(relay_task: trio.lowlevel.Task, fake_port: int, tasks: int) -> None:
    with trio.fail_after(1.0):
        while upstream_sockets(fake_port):  # noqa: ASYNC110 - no event tells a socket closed
            await trio.sleep(0.01)
    await trio.testing.wait_all_tasks_blocked()
    assert count_tasks(relay_task) == tasks


async def test_leaving_during_the_http_handshake(nursery: trio.Nursery) -> None:
    async with open_fake_upstream() as fake:
        relay = await serve(
            nursery, RelayConfig(upstream=openai_target(f"{fake.url}/v1", "m", "k"))
        )
        tasks = count_tasks(relay.task)
        stream = await trio.open_tcp_stream("127.0.0.1", relay.port)
        await stream.send_all(b"GET /realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        await stream.aclose()
        await left_within_a_second(relay.task, fake.port, tasks)
        assert fake.connections == []


async def test_leaving_while_the_upstream_is_being_connected(nursery: trio.Nursery) -> None:
    async with open_fake_upstream() as fake:
        # The fake never confirms the session: the relay is still setting up when the browser goes.
        target = openai_target(f"{fake.url}/v1", "fault-stall", "k")
        relay = await serve(nursery, RelayConfig(upstream=target))
        tasks = count_tasks(relay.task)
        async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime"):
            await fake.wait_for_connection(1)
            await trio.testing.wait_all_tasks_blocked()
            assert upstream_sockets(fake.port)
        await left_within_a_second(relay.task, fake.port, tasks)


async def test_leaving_mid_audio(nursery: trio.Nursery) -> None:
    async with open_fake_upstream() as fake:
        relay = await serve(
            nursery, RelayConfig(upstream=openai_target(f"{fake.url}/v1", "m", "k"))
        )
        tasks = count_tasks(relay.task)
        pcm = speech_like_pcm()
        async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
            await browser.until(is_control("connected"))
            for i in range(0, len(pcm) // 2, 960):
                await browser.ws.send_message(pcm[i : i + 960])
        await left_within_a_second(relay.task, fake.port, tasks)
        with trio.fail_after(1.0):
            await fake.connections[0].closed.wait()


async def test_dropping_tcp_mid_response(nursery: trio.Nursery) -> None:
    async with open_fake_upstream() as fake:
        relay = await serve(
            nursery, RelayConfig(upstream=openai_target(f"{fake.url}/v1", "m", "k"))
        )
        tasks = count_tasks(relay.task)
        async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
            await browser.until(is_control("connected"))
            await browser.send_text("a long answer please")
            await browser.until(lambda m: m["type"] == "text_delta")
            await trio.aclose_forcefully(browser.ws._stream)  # no close frame: the cable is cut
        await left_within_a_second(relay.task, fake.port, tasks)

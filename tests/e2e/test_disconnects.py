"""A browser that leaves at any point: the relay's upstream socket is closed within a second,
no task or socket of the relay is left behind, and the session ends as a normal ``ClientGone``
logged with the close code the connection ended with."""

from __future__ import annotations

import logging
import socket
import struct
from typing import Any

import pytest
import trio
import trio.testing
from harness import (
    Browser,
    count_tasks,
    is_control,
    open_browser,
    open_sockets,
    serve,
    speech_like_pcm,
)
from trio_websocket import ConnectionClosed

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


# --- every way of leaving is a normal ClientGone, logged with the close code seen ------------

SILENCE_20_MS = bytes(960)  # 20 ms of PCM16 at 24 kHz


async def tab_closes(browser: Browser) -> None:
    """What a browser does when its tab closes: a close frame (1001, going away), then FIN."""
    await browser.ws.aclose(code=1001, reason="tab closed")


async def fin_alone(browser: Browser) -> None:
    """The TCP connection ends cleanly with no close frame (a crashed tab, a proxy timing out)."""
    stream = browser.ws._stream
    assert isinstance(stream, trio.SocketStream)
    stream.socket.shutdown(socket.SHUT_WR)


async def rst_alone(browser: Browser) -> None:
    """The connection is reset: no close frame, no FIN (a network drop seen by the kernel)."""
    stream = browser.ws._stream
    assert isinstance(stream, trio.SocketStream)
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await trio.aclose_forcefully(stream)


LEAVINGS = {"tab_closes": (tab_closes, 1001), "fin": (fin_alone, 1006), "rst": (rst_alone, 1006)}


async def stream_silence(browser: Browser) -> None:
    """A microphone that stays on: 20 ms of audio every 20 ms until the connection goes."""
    try:
        while True:
            await browser.ws.send_message(SILENCE_20_MS)
            await trio.sleep(0.02)
    except ConnectionClosed:
        pass


async def listen(browser: Browser, audio_arrived: trio.Event) -> None:
    """A browser reads everything until its connection goes (it plays the audio)."""
    try:
        while True:
            if isinstance(await browser.ws.get_message(), bytes):
                audio_arrived.set()
    except ConnectionClosed:
        pass


def ended_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {**record.msg, "levelno": record.levelno}
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == "session ended"
    ]


@pytest.mark.parametrize("moment", ["audio_both_ways", "mid_response"])
@pytest.mark.parametrize("leaving", sorted(LEAVINGS))
async def test_a_browser_leaving_mid_stream_is_client_gone_with_the_code_seen(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture, leaving: str, moment: str
) -> None:
    caplog.set_level(logging.INFO)
    leave, code = LEAVINGS[leaving]
    async with open_fake_upstream() as fake:
        relay = await serve(
            nursery, RelayConfig(upstream=openai_target(f"{fake.url}/v1", "m", "k"))
        )
        tasks = count_tasks(relay.task)
        url = f"ws://127.0.0.1:{relay.port}/realtime"
        async with open_browser(url, disconnect_timeout=2) as browser:
            await browser.until(is_control("connected"))
            async with trio.open_nursery() as tab:
                audio_arrived = trio.Event()
                tab.start_soon(listen, browser, audio_arrived)
                if moment == "audio_both_ways":
                    tab.start_soon(stream_silence, browser)
                await browser.send_text("a long answer please")
                with trio.fail_after(5):
                    await audio_arrived.wait()  # the answer is streaming
                await leave(browser)
                with trio.fail_after(5):
                    await relay.sessions_ended()
                tab.cancel_scope.cancel()
        await left_within_a_second(relay.task, fake.port, tasks)
    [ended] = ended_lines(caplog)
    assert ended["outcome"] == "ClientGone" and ended["close_code"] == code
    assert ended["levelno"] == logging.INFO
    assert ended["audio_out_s"] > 0
    # Nothing louder than INFO from the relay, and no traceback anywhere.
    relay_records = [r for r in caplog.records if r.name.startswith("trio_relay")]
    assert all(r.levelno <= logging.INFO and not r.exc_info for r in relay_records)


async def test_the_bundled_fake_upstream_is_logged_as_backend_fake(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    relay = await serve(nursery, RelayConfig())  # no upstream configured: the bundled fake
    async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
        await browser.until(is_control("connected"))
    with trio.fail_after(5):
        await relay.sessions_ended()
    started = [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == "session started"
    ]
    assert [line["backend"] for line in started] == ["fake"]
    [ended] = ended_lines(caplog)
    assert ended["outcome"] == "ClientGone" and ended["close_code"] == 1000

"""Limits and bad input, one test per row of the table: exact outcome, and other sessions go on.

The relay is served in memory (``harness.serve_in_memory``); the rows about time (pacing, the
idle timeout) run on virtual time and check exact instants.
"""

from __future__ import annotations

import base64

import attrs
import pytest
import trio
import trio.testing
from harness import Browser, MemoryRelay, is_control, serve_in_memory, speech_like_pcm
from trio_websocket import ConnectionRejected, wrap_client_stream

from fake_upstream import FakeUpstream
from trio_relay.config import Limits, RelayConfig, openai_target
from trio_relay.session import Session
from trio_relay.websocket import accept


def config_for(fake: FakeUpstream, **limits: object) -> RelayConfig:
    target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-test")
    return RelayConfig(upstream=target, limits=attrs.evolve(Limits(), **limits))


def appended(fake: FakeUpstream, index: int = 0) -> bytes:
    return b"".join(
        base64.b64decode(e["audio"])
        for e in fake.connections[index].received
        if e["type"] == "input_audio_buffer.append"
    )


async def still_works(site: MemoryRelay) -> None:
    async with site.browser() as other:
        await other.until(is_control("connected"))
        await other.send_text("are you still there?")
        await other.until(is_control("text_done"))


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ("this is not json", "not valid JSON"),
        ('["a", "list"]', "must be a JSON object"),
        ('{"type": "launch_missiles"}', "unknown message type"),
        ('{"type": "user_message"}', "'text' field"),
        ('{"type": "user_message", "text": 42}', "'text' field"),
        ('{"type": "user_message", "text": "x", "id": 7}', "'id' must be a string"),
    ],
)
async def test_malformed_text_frames_get_invalid_message_and_the_session_goes_on(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    frame: str,
    words: str,
) -> None:
    site = await serve_in_memory(nursery, config_for(fake), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.ws.send_message(frame)
        error = await browser.next_message()
        assert error["type"] == "error" and error["code"] == "invalid_message"
        assert words in error["message"]
        await browser.send_text("and now a real one")
        await browser.until(is_control("text_done"))
        await still_works(site)


@pytest.mark.parametrize(
    ("text", "code"), [("x" * 16385, "message_too_long"), ("   ", "empty_message")]
)
async def test_too_long_or_empty_user_message_is_refused_and_nothing_goes_upstream(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    text: str,
    code: str,
) -> None:
    site = await serve_in_memory(nursery, config_for(fake), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text(text)
        error = await browser.next_message()
        assert error["code"] == code
        await browser.send_text("fine")
        await browser.until(is_control("text_done"))
    items = [e for e in fake.connections[0].received if e["type"] == "conversation.item.create"]
    assert [i["item"]["content"][0]["text"] for i in items] == ["fine"]


async def test_frame_over_the_max_message_size_closes_1009(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, config_for(fake, max_message_bytes=4096), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.ws.send_message(bytes(4098))
        assert await browser.closed() == 1009
    with trio.fail_after(2):
        await fake.connections[0].closed.wait()
    await still_works(site)


async def test_odd_length_audio_frame_is_not_forwarded_and_the_session_goes_on(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, config_for(fake), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.ws.send_message(b"\x01\x02")
        await browser.ws.send_message(b"\x03\x04\x05")
        error = await browser.next_message()
        assert error["code"] == "audio_frame_odd_length" and "3 bytes" in error["message"]
        await browser.ws.send_message(b"\x06\x07")
        await browser.send_text("flush")  # the pump flushes audio before any event
        await browser.until(is_control("text_done"))
    assert appended(fake) == b"\x01\x02\x06\x07"


async def test_audio_faster_than_real_time_is_held_back_to_the_burst_allowance(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    burst_s = 0.3
    site = await serve_in_memory(nursery, config_for(fake, audio_burst_ms=300), fake)
    second = 48_000  # bytes of PCM16 24 kHz mono per second
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        start = trio.current_time()
        most_ahead_s = -1.0  # the most that upstream audio was ever ahead of real time

        async def watch_upstream_audio() -> None:
            nonlocal most_ahead_s
            while True:
                ahead_s = len(appended(fake)) / second - (trio.current_time() - start)
                most_ahead_s = max(most_ahead_s, ahead_s)
                await trio.sleep(0.01)

        async with trio.open_nursery() as watching:
            watching.start_soon(watch_upstream_audio)
            for _ in range(30):  # 3 s of audio, offered at once
                await browser.ws.send_message(bytes(second // 10))
            await browser.send_text("flush")
            await browser.until(is_control("text_done"))
            watching.cancel_scope.cancel()
        # The last 100 ms frame went upstream when it was 300 ms ahead of real time, not before.
        assert trio.current_time() - start == pytest.approx(3.0 - burst_s, abs=0.01)
        assert most_ahead_s == pytest.approx(burst_s, abs=1e-6)
    assert len(appended(fake)) == 3 * second


async def test_idle_session_is_closed_1000_with_idle_timeout(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, config_for(fake, idle_timeout_s=4), fake)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await trio.sleep(3)
        await browser.send_text("a message restarts the idle time")
        await browser.until(is_control("text_done"))
        said_at = trio.current_time()
        error = await browser.next_message()
        assert error["code"] == "idle_timeout"
        assert trio.current_time() - said_at == pytest.approx(4)
        assert await browser.closed() == 1000


async def test_session_caps_refuse_with_503_before_any_upstream_connection(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(
        nursery, config_for(fake, max_sessions=2, max_sessions_per_ip=1), fake
    )
    relay = site.relay
    async with site.browser(peer="192.0.2.1") as first:
        await first.until(is_control("connected"))
        with pytest.raises(ConnectionRejected) as per_ip:
            async with site.browser(peer="192.0.2.1"):
                pass
        assert per_ip.value.status_code == 503
        assert dict(per_ip.value.headers)[b"retry-after"] == b"5"
        assert b"this client address" in (per_ip.value.body or b"")
        assert len(fake.connections) == 1  # the refused one never reached the upstream
        async with site.browser(peer="192.0.2.2") as elsewhere:  # another address has room
            await elsewhere.until(is_control("connected"))
        await first.send_text("still fine")
        await first.until(is_control("text_done"))
    await relay.sessions_ended()  # the first session's slot is given back when it has ended
    await still_works(site)
    assert (
        relay.metrics.registry.get_sample_value(
            "trio_relay_handshake_rejections_total", {"reason": "capacity"}
        )
        == 1
    )


async def test_global_session_cap(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    config = config_for(fake, max_sessions=1, max_sessions_per_ip=10)
    site = await serve_in_memory(nursery, config, fake)
    async with site.browser(peer="192.0.2.1") as first:
        await first.until(is_control("connected"))
        with pytest.raises(ConnectionRejected) as full:
            async with site.browser(peer="192.0.2.2"):
                pass
    assert full.value.status_code == 503 and b"limit of 1 sessions" in (full.value.body or b"")


async def test_a_client_that_stops_reading_is_closed_1013_slow_client(
    fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    """The browser is an in-memory peer with no buffering, so it pushes back as soon as it
    stops reading; the relay's downstream buffer (200 ms of audio here) then overflows."""
    config = config_for(fake, downstream_buffer_ms=200, close_timeout_s=5.0)
    assert config.upstream is not None
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    pcm = speech_like_pcm(lead_silence_ms=200, speech_ms=2000, tail_silence_ms=700)
    sessions: list[Session] = []
    session_created = trio.Event()
    ended = trio.Event()

    async def relay_side(nursery: trio.Nursery) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await server_stream.receive_some()
        client = await accept(server_stream, head, max_message_bytes=1 << 20, subprotocol=None)
        assert client is not None and config.upstream is not None
        session = Session(client, config, config.upstream)
        sessions.append(session)
        session_created.set()
        await session.run()
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(relay_side, nursery)
        ws = await wrap_client_stream(
            nursery, client_stream, "relay", "/realtime", message_queue_size=1
        )
        browser = Browser(ws)
        await browser.until(is_control("connected"))
        await session_created.wait()
        for i in range(0, len(pcm), 9600):
            await ws.send_message(pcm[i : i + 9600])
        # The browser reads nothing now: the echoed 2.3 s of assistant audio piles up.
        with trio.fail_after(10):
            await sessions[0].ending.wait()
        assert type(sessions[0].end).__name__ == "SlowClient"
        # Reading again, the browser gets what was in flight, then the reason and the code.
        error = await browser.until(lambda m: m["type"] == "error")
        assert error["code"] == "slow_client"
        assert await browser.closed() == 1013
        with trio.fail_after(10):
            await ended.wait()
        nursery.cancel_scope.cancel()

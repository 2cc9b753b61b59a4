"""Soak: about 1,000 sessions in waves, mixing normal turns, hostile frames, abrupt disconnects,
upstream faults and hostile plain-HTTP requests. The relay keeps serving throughout; afterwards
its file descriptors and tasks are back to their baseline, memory has not grown with the
sessions, and every session ended with the outcome its kind expects."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter

import attrs
import pytest
import trio
import trio.testing
from harness import count_tasks, is_control, open_browser, open_sockets, serve
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from trio_relay.config import Limits, RelayConfig, openai_target

SESSIONS = 1008
WAVE = 56

# kind -> (upstream model, the relay's session outcome)
KINDS = {
    "turn": ("gpt-realtime", "ClientGone"),
    "hostile_frames": ("gpt-realtime", "ClientGone"),
    "abrupt": ("gpt-realtime", "ClientGone"),
    "refused": ("fault-401", "UpstreamUnavailable"),
    "dropped": ("fault-drop-mid-response", "UpstreamFailed"),
    "fatal": ("fault-error-fatal", "UpstreamFailed"),
    "failed_response": ("fault-response-failed-twice", "ClientGone"),
    "unanswered": ("fault-no-response", "ClientGone"),
    "hostile_http": ("gpt-realtime", None),  # no session: plain-HTTP attacks on the same port
}

HOSTILE_FRAMES = [
    "[" * 100_000,  # deeper than any JSON parser's recursion limit
    '{"type":"user_message","text":"\\ud800"}',  # a lone surrogate
    '{"type":"user_message","text":"a","text":"b"}',  # duplicate keys
    '{"type":"user_message","text":"x","n":NaN}',
    "1" * 5000,  # more digits than Python's int parser takes
    "null",
]

HOSTILE_REQUESTS = [
    b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Origin: http://[\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
    b"GET / HTTP/1.1\r\nHost: x\r\n",  # a head cut short
]


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def hostile_request(port: int, index: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(HOSTILE_REQUESTS[index % len(HOSTILE_REQUESTS)])
        await stream.send_eof()
        with trio.fail_after(5):
            while await stream.receive_some(65536):
                pass  # whatever the answer is, the relay ends the connection


async def abrupt_session(port: int) -> None:
    """A tab that crashes (or a network that dies) mid-answer: the browser asks something, and
    once the answer streams its connection is reset (RST, no close frame)."""
    client = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/realtime"))
    client.send_request(client.connect())
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"".join(client.data_to_send()))
    streaming = False
    with trio.fail_after(5):
        while not streaming:
            client.receive_data(await stream.receive_some(65536))
            for event in client.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    message = json.loads(event.data)
                    if message.get("action") == "connected":
                        client.send_text(b'{"type":"user_message","text":"soak"}')
                        await stream.send_all(b"".join(client.data_to_send()))
                    streaming = streaming or message["type"] == "text_delta"
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    stream.socket.close()


@pytest.mark.time_limit(120)
async def test_soak_a_thousand_sessions_with_attacks_leave_nothing_behind(
    nursery: trio.Nursery,
) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        limits = Limits(
            max_sessions=1000,
            max_sessions_per_ip=1000,
            handshake_timeout_s=2,
            max_connections=1000,
            max_connections_per_ip=1000,
        )
        relays = {
            kind: await serve(
                nursery,
                RelayConfig(
                    upstream=openai_target(f"{fake.url}/v1", model, "k"),
                    limits=attrs.evolve(limits, upstream_response_timeout_s=0.5)
                    if kind == "unanswered"
                    else limits,
                ),
            )
            for kind, (model, _) in KINDS.items()
        }
        await trio.testing.wait_all_tasks_blocked()
        relay_ports = {relay.port for relay in relays.values()}

        def relay_and_fake_sockets() -> list[tuple[int, int]]:
            # Not the test's own browser sockets (connected *to* a relay port).
            return [s for s in open_sockets({fake.port, *relay_ports}) if s[1] not in relay_ports]

        sockets_before = relay_and_fake_sockets()
        fds_before = len(os.listdir("/proc/self/fd"))
        tasks_before = {kind: count_tasks(relay.task) for kind, relay in relays.items()}
        rss_before = rss_kb()
        seen: Counter[str] = Counter()

        async def one_session(kind: str, index: int) -> None:
            port = relays[kind].port
            if kind == "hostile_http":
                await hostile_request(port, index)
                seen[kind] += 1
                return
            if kind == "abrupt":
                await abrupt_session(port)
                seen[kind] += 1
                return
            async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
                if kind == "refused":
                    assert (await browser.next_message())["code"] == "upstream_unavailable"
                    assert await browser.closed() == 1011
                    seen[kind] += 1
                    return
                await browser.until(is_control("connected"))
                if kind == "hostile_frames":
                    await browser.ws.send_message(b"\x00")
                    assert (await browser.next_message())["code"] == "audio_frame_odd_length"
                    await browser.ws.send_message(HOSTILE_FRAMES[index % len(HOSTILE_FRAMES)])
                    assert (await browser.next_message())["code"] == "invalid_message"
                await browser.send_text("soak")
                if kind in ("dropped", "fatal"):
                    assert (await browser.until(lambda m: m["type"] == "error"))["code"] == (
                        "upstream_error"
                    )
                    assert await browser.closed() == 1011
                elif kind in ("failed_response", "unanswered"):
                    error = await browser.until(lambda m: m["type"] == "error")
                    assert error["code"] == (
                        "response_failed" if kind == "failed_response" else "response_timeout"
                    )
                    await browser.send_text("again")
                    await browser.until(is_control("text_done"))
                else:
                    await browser.until(is_control("text_done"))
            seen[kind] += 1

        kinds = list(KINDS)
        with trio.fail_after(300):
            for wave in range(SESSIONS // WAVE):
                async with trio.open_nursery() as clients:
                    for i in range(WAVE):
                        index = wave * WAVE + i
                        clients.start_soon(one_session, kinds[index % len(kinds)], index)
            for relay in relays.values():
                await relay.sessions_ended()
        await trio.testing.wait_all_tasks_blocked()

        per_kind = SESSIONS // len(KINDS)
        assert seen == dict.fromkeys(KINDS, per_kind)
        for kind, relay in relays.items():
            expected = KINDS[kind][1]
            outcomes = {
                sample.labels["outcome"]: sample.value
                for family in relay.metrics.registry.collect()
                if family.name == "trio_relay_sessions"
                for sample in family.samples
                if sample.name == "trio_relay_sessions_total"
            }
            assert outcomes == ({} if expected is None else {expected: per_kind}), kind
            assert count_tasks(relay.task) == tasks_before[kind], kind
        # The relays' and the fake's sockets: only the listeners are left, as before.
        assert relay_and_fake_sockets() == sockets_before
        # No more descriptors than before (an earlier test's garbage may have been collected).
        assert len(os.listdir("/proc/self/fd")) <= fds_before
        # 1,000 sessions' worth of leaked state would be tens of MB.
        assert rss_kb() - rss_before < 30_000

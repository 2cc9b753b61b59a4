"""End to end: browser client -> relay -> fake upstream, and back.

Over real loopback sockets, but for the audio tests: those depend on the relay's pacing and
chunking in time, and run in memory (``harness.serve_in_memory``) on virtual time, where a few
seconds of speech take no time and the chunks are counted exactly."""

from __future__ import annotations

import base64
import json

import attrs
import pytest
import trio
import trio.testing
from harness import (
    STEP_TIMEOUT_S,
    FakeIdentityEndpoint,
    count_tasks,
    frames,
    is_control,
    open_browser,
    serve,
    serve_in_memory,
    speech_like_pcm,
    start_relay,
)
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from fake_upstream import FakeUpstream, FakeUpstreamOptions, open_fake_upstream
from trio_relay.config import Dialect, Limits, RelayConfig, azure_target, openai_target
from trio_relay.errors import UNAVAILABLE_MESSAGE


def relay_config(fake: FakeUpstream) -> RelayConfig:
    target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-test-key")
    return RelayConfig(upstream=target)


def appended_audio(record: object) -> bytes:
    return b"".join(
        base64.b64decode(e["audio"])
        for e in record.received  # type: ignore[attr-defined]
        if e["type"] == "input_audio_buffer.append"
    )


def upstream_text(record: object, names: tuple[str, ...]) -> str:
    return "".join(e["delta"] for e in record.sent if e["type"] in names)  # type: ignore[attr-defined]


async def test_text_turn_streams_the_answer_and_ends_with_text_done(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    port = await start_relay(nursery, relay_config(fake))
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        hello = await browser.next_message()
        assert hello["type"] == "control" and hello["action"] == "connected"
        assert isinstance(hello["greeting"], str) and hello["greeting"]
        await browser.send_text("What is Trio?")  # no id, like the reference frontend
        done = await browser.until(is_control("text_done"))
        deltas = [m for m in browser.texts if m["type"] == "text_delta"]
        assert deltas and all(m["id"] == done["id"] for m in deltas)
    record = fake.connections[0]
    kinds = [e["type"] for e in record.received]
    assert kinds[:3] == ["session.update", "conversation.item.create", "response.create"]
    expected = upstream_text(
        record, ("response.output_audio_transcript.delta", "response.output_text.delta")
    )
    assert "".join(m["delta"] for m in deltas) == expected and expected
    assert len(browser.audio) > 0 and len(browser.audio) % 2 == 0


async def test_session_update_is_acknowledged_before_connected(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    port = await start_relay(nursery, relay_config(fake))
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        await browser.until(is_control("connected"))
        record = fake.connections[0]
        assert [e["type"] for e in record.sent[:2]] == ["session.created", "session.updated"]
        session = record.received[0]["session"]
        assert session["type"] == "realtime"
        assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"


@pytest.mark.parametrize("frame_ms", [5, 20, 100])
async def test_audio_turn_round_trips_the_users_speech_bit_for_bit(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    frame_ms: int,
) -> None:
    site = await serve_in_memory(nursery, relay_config(fake), fake)
    pcm = speech_like_pcm()
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        for frame in frames(pcm, frame_ms * 48):
            await browser.ws.send_message(frame)
        await browser.until(is_control("speech_started"))
        transcription = await browser.until(lambda m: m["type"] == "transcription")
        assert transcription["text"]
        await browser.until(is_control("text_done"))
        echoed = bytes(browser.audio)
        # A text turn goes upstream after every byte of audio before it (the pump flushes first).
        await browser.send_text("and now in writing")
        await browser.until(is_control("text_done"))
    record = fake.connections[0]
    # Everything the browser sent reached the upstream, complete and in order.
    assert appended_audio(record) == pcm
    # The fake answers with the user's own speech: it came back unchanged.
    assert len(echoed) > 24000 and echoed in pcm


async def test_beta_dialect_on_an_azure_preview_deployment(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    target = azure_target(
        fake.url, "my-deployment", api_key="azure-key", api_version="2024-10-01-preview"
    )
    assert target.dialect is Dialect.BETA
    port = await start_relay(nursery, RelayConfig(upstream=target))
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello beta")
        await browser.until(is_control("text_done"))
    record = fake.connections[0]
    assert record.dialect == "beta" and record.backend == "azure"
    assert record.path == "/openai/realtime"
    assert record.query == {"api-version": "2024-10-01-preview", "deployment": "my-deployment"}
    assert record.headers["api-key"] == "azure-key" and "authorization" not in record.headers
    assert record.received[0]["session"]["input_audio_format"] == "pcm16"
    assert any(e["type"] == "response.audio_transcript.delta" for e in record.sent)


async def test_openai_url_and_bearer_auth(nursery: trio.Nursery, fake: FakeUpstream) -> None:
    port = await start_relay(nursery, relay_config(fake))
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        await browser.until(is_control("connected"))
    record = fake.connections[0]
    assert (record.backend, record.dialect, record.path) == ("openai", "ga", "/v1/realtime")
    assert record.query == {"model": "gpt-realtime"}
    assert record.headers["authorization"] == "Bearer sk-test-key"
    assert "openai-beta" not in record.headers


async def test_client_disconnect_mid_response_closes_upstream_within_a_second(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    relay = await serve(nursery, relay_config(fake))
    baseline = count_tasks(relay.task)
    async with open_browser(f"ws://127.0.0.1:{relay.port}/realtime") as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("tell me a long story")
        await browser.until(lambda m: m["type"] == "text_delta")
    record = fake.connections[0]
    with trio.fail_after(1.0):
        await record.closed.wait()
    with trio.fail_after(1.0):
        await relay.sessions_ended()
    await trio.testing.wait_all_tasks_blocked()
    assert count_tasks(relay.task) == baseline


async def test_upstream_refusing_the_handshake_is_reported_and_closes_1011(
    nursery: trio.Nursery,
) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(api_key="the-right-key")) as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-wrong-secret")
        port = await start_relay(nursery, RelayConfig(upstream=target))
        async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
            error = await browser.next_message()
            code = await browser.closed()
    assert error["type"] == "error" and error["code"] == "upstream_unavailable"
    assert error["message"] == UNAVAILABLE_MESSAGE  # the status and the hint are in the log
    assert code == 1011


async def test_unreachable_upstream_is_reported(nursery: trio.Nursery) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    target = openai_target(f"http://127.0.0.1:{dead_port}/v1", "m", "k")
    port = await start_relay(nursery, RelayConfig(upstream=target))
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        error = await browser.next_message()
        assert error["code"] == "upstream_unavailable" and error["message"] == UNAVAILABLE_MESSAGE
        assert await browser.closed() == 1011


async def test_odd_audio_frame_and_bad_json_get_errors_and_the_session_goes_on(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    port = await start_relay(nursery, relay_config(fake))
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        await browser.until(is_control("connected"))
        await browser.ws.send_message(b"\x00\x01\x02")
        assert (await browser.next_message())["code"] == "audio_frame_odd_length"
        await browser.ws.send_message("{not json")
        assert (await browser.next_message())["code"] == "invalid_message"
        await browser.send_text("still there?")
        await browser.until(is_control("text_done"))
    assert appended_audio(fake.connections[0]) == b""


async def test_two_sessions_do_not_share_state(nursery: trio.Nursery, fake: FakeUpstream) -> None:
    port = await start_relay(nursery, relay_config(fake))
    url = f"ws://127.0.0.1:{port}/realtime"
    async with open_browser(url) as one, open_browser(url) as two:
        await one.until(is_control("connected"))
        await two.until(is_control("connected"))
        await one.send_text("first")
        await two.send_text("second")
        done_one = await one.until(is_control("text_done"))
        done_two = await two.until(is_control("text_done"))
        assert done_one["id"] and done_two["id"]
    first, second = fake.connections
    assert [e["item"]["content"][0]["text"] for e in first.received if "item" in e] in (
        ["first"],
        ["second"],
    )
    assert {
        e["item"]["content"][0]["text"] for c in (first, second) for e in c.received if "item" in e
    } == {
        "first",
        "second",
    }


async def test_azure_entra_id_token_from_a_managed_identity_endpoint(
    nursery: trio.Nursery, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real DefaultAzureCredential, offline: it finds the fake managed identity endpoint."""
    identity = FakeIdentityEndpoint(secret_header="identity-header-secret", token="entra-token-1")
    await identity.serve(nursery)
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_USERNAME",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
        "IMDS_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.url)
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-secret")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
    config = RelayConfig(
        upstream=azure_target(fake.url, "rt-deployment", api_key=None, api_version=None)
    )
    port = await start_relay(nursery, config)
    for _ in range(2):
        async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
            await browser.until(is_control("connected"))
    first, second = fake.connections
    for record in (first, second):
        assert (record.backend, record.dialect, record.path) == (
            "azure",
            "ga",
            "/openai/v1/realtime",
        )
        assert record.query == {"model": "rt-deployment"}
        assert record.headers["authorization"] == "Bearer entra-token-1"
        assert "api-key" not in record.headers
    target, headers = identity.requests[0]
    # Tokens for the scope Azure's current docs name (ENTRA_SCOPE's default).
    assert "resource=https://ai.azure.com" in target
    assert len(identity.requests) == 1  # the cached token served the second connection


async def test_each_microphone_frame_goes_upstream_as_it_arrives(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    """By default nothing waits on purpose: a real-time frame is upstream before the next one
    is sent (in virtual time, without the clock moving), so voice detection hears it at once."""
    site = await serve_in_memory(nursery, relay_config(fake), fake)
    pcm = speech_like_pcm(lead_silence_ms=0, speech_ms=400, tail_silence_ms=0)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        record = fake.connections[0]
        start = trio.current_time()
        for index, frame in enumerate(frames(pcm, 20 * 48)):
            await trio.sleep_until(start + index * 0.020)
            await browser.ws.send_message(frame)
            sent_at = trio.current_time()
            await trio.testing.wait_all_tasks_blocked()
            assert trio.current_time() == sent_at  # no timer had to fire for it to go
            assert appended_audio(record) == pcm[: (index + 1) * 20 * 48]
    appends = [e for e in record.received if e["type"] == "input_audio_buffer.append"]
    assert len(appends) == 20


async def test_a_set_chunk_reads_a_streaming_microphone_once_per_chunk(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    """With AUDIO_CHUNK_MS=100 (CPU over latency), the relay reads the browser once per chunk
    and sends what one read brought as one append: 10 appends per second, not 50."""
    config = attrs.evolve(relay_config(fake), limits=Limits(audio_chunk_ms=100))
    site = await serve_in_memory(nursery, config, fake)
    pcm = speech_like_pcm(lead_silence_ms=0, speech_ms=1200, tail_silence_ms=0)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        start = trio.current_time()
        for index, frame in enumerate(frames(pcm, 20 * 48)):
            await trio.sleep_until(start + index * 0.020)  # 20 ms frames, in (virtual) real time
            await browser.ws.send_message(frame)
        await browser.send_text("done")  # flushes the audio before the text turn
        await browser.until(is_control("text_done"))
    record = fake.connections[0]
    assert appended_audio(record) == pcm
    appends = [e for e in record.received if e["type"] == "input_audio_buffer.append"]
    chunks_ms = [len(base64.b64decode(e["audio"])) // 48 for e in appends]
    # The first frame goes at once; then one read per 100 ms for the other 1180 ms (a frame sent
    # at the very instant of a read may land on either side of it).
    assert chunks_ms[0] == 20 and len(chunks_ms) == 13, chunks_ms
    assert all(80 <= ms <= 120 for ms in chunks_ms[1:]), chunks_ms


async def test_a_message_sent_in_the_same_write_as_the_upgrade_is_not_lost(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    """A client that does not wait for the 101 (RFC 6455 asks it to, some pipeline anyway):
    the frames behind its request head are the session's first messages."""
    relay = await serve(nursery, relay_config(fake))
    client = ClientProtocol(parse_uri(f"ws://127.0.0.1:{relay.port}/realtime"))
    client.send_request(client.connect())
    payload = json.dumps({"type": "user_message", "text": "pipelined"}).encode()
    mask = b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask
    frame += bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    stream = await trio.open_tcp_stream("127.0.0.1", relay.port)
    async with stream:
        await stream.send_all(b"".join(client.data_to_send()) + frame)
        texts: list[dict[str, object]] = []
        with trio.fail_after(STEP_TIMEOUT_S):
            while not any(t.get("action") == "text_done" for t in texts):
                client.receive_data(await stream.receive_some(65536))
                for event in client.events_received():
                    if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        texts.append(json.loads(event.data))
    assert texts[0]["action"] == "connected"
    assert any(t["type"] == "text_delta" for t in texts)

"""The fake upstream over real loopback sockets: paths, dialects, auth, faults, the connection
log, and a clean shutdown."""

from __future__ import annotations

import base64
import json
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from fake_support import BYTES_PER_MS, append_event, session_update, speech_pcm, user_text
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    connect_websocket,
    open_websocket_url,
)

from fake_upstream import FakeUpstream, FakeUpstreamOptions, open_fake_upstream

STEP_S = 5.0
BEARER = [(b"authorization", b"Bearer sk-test")]
GA = "/v1/realtime?model=gpt-realtime"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with open_fake_upstream() as fake:
        yield fake


async def next_event(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(STEP_S):
        frame = await ws.get_message()
    assert isinstance(frame, str)
    event: dict[str, Any] = json.loads(frame)
    return event


async def until(ws: WebSocketConnection, kind: str) -> list[dict[str, Any]]:
    """Events up to and including the first of ``kind``."""
    seen = [await next_event(ws)]
    while seen[-1]["type"] != kind:
        seen.append(await next_event(ws))
    return seen


async def closed_code(ws: WebSocketConnection) -> int | None:
    """Read until the connection ends; its close code."""
    with trio.fail_after(STEP_S), pytest.raises(ConnectionClosed) as caught:
        while True:
            await ws.get_message()
    return caught.value.reason.code if caught.value.reason else None


async def send(ws: WebSocketConnection, event: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(event))


async def configured(fake: FakeUpstream, path: str, ws: WebSocketConnection) -> None:
    assert (await next_event(ws))["type"] == "session.created"
    await send(ws, session_update("beta" if "deployment=" in path else "ga"))
    assert (await next_event(ws))["type"] == "session.updated"


@pytest.mark.parametrize(
    ("path", "headers", "backend", "dialect"),
    [
        (GA, BEARER, "openai", "ga"),
        (GA, [*BEARER, (b"OpenAI-Beta", b"realtime=v1")], "openai", "beta"),
        ("/openai/v1/realtime?model=my-deployment", [(b"api-key", b"k")], "azure", "ga"),
        ("/openai/v1/realtime?model=my-deployment", BEARER, "azure", "ga"),
        (
            "/openai/realtime?api-version=2024-10-01-preview&deployment=dep",
            [(b"api-key", b"k")],
            "azure",
            "beta",
        ),
    ],
)
async def test_paths_select_backend_and_dialect_and_every_connection_is_recorded(
    fake: FakeUpstream, path: str, headers: list[tuple[bytes, bytes]], backend: str, dialect: str
) -> None:
    async with open_websocket_url(fake.url + path, extra_headers=headers) as ws:
        created = await next_event(ws)
        await send(ws, session_update(dialect))  # type: ignore[arg-type]
        updated = await next_event(ws)
    record = await fake.wait_for_connection(1)
    with trio.fail_after(STEP_S):
        await record.closed.wait()
    assert (record.backend, record.dialect, record.rejected_status) == (backend, dialect, None)
    assert record.path == path.split("?")[0] and record.close_code == 1000
    assert record.query == dict(pair.split("=") for pair in path.split("?")[1].split("&"))
    assert all(name == name.lower() for name in record.headers)
    assert record.received == [session_update(dialect)]  # type: ignore[arg-type]
    assert record.sent == [created, updated]
    assert ("output_modalities" in created["session"]) is (dialect == "ga")
    assert updated["type"] == "session.updated"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (GA, [], 401),
        (GA, [(b"authorization", b"Bearer wrong")], 401),
        (GA, [(b"api-key", b"right")], 401),  # OpenAI takes a Bearer token only
        ("/openai/v1/realtime?model=d", [(b"api-key", b"wrong")], 401),
        ("/elsewhere", [(b"authorization", b"Bearer right")], 404),
        ("/openai/realtime?deployment=d", [(b"api-key", b"right")], 400),
        ("/openai/realtime?api-version=2024-10-01-preview", [(b"api-key", b"right")], 404),
        ("/v1/realtime?model=fault-401", [(b"authorization", b"Bearer right")], 401),
        ("/v1/realtime?model=fault-403", [(b"authorization", b"Bearer right")], 403),
        ("/openai/v1/realtime?model=fault-429", [(b"api-key", b"right")], 429),
        ("/v1/realtime?model=fault-500", [(b"authorization", b"Bearer right")], 500),
    ],
)
async def test_refused_handshakes(
    path: str, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(api_key="right")) as fake:
        with pytest.raises(ConnectionRejected) as caught:
            async with open_websocket_url(fake.url + path, extra_headers=headers):
                pass  # pragma: no cover
        record = fake.connections[0]
        with trio.fail_after(STEP_S):
            await record.closed.wait()
    assert caught.value.status_code == status == record.rejected_status
    body = json.loads(caught.value.body or b"{}")
    assert body["error"]["message"]
    if status == 401:
        assert body["error"]["code"] == "invalid_api_key"
        assert body["error"]["type"] == "invalid_request_error"
    if status == 429:
        assert (b"retry-after", b"1") in caught.value.headers
    if "fault-" in path:
        assert record.backend is not None


async def test_any_credential_is_enough_without_a_required_key(fake: FakeUpstream) -> None:
    async with open_websocket_url(
        fake.url + GA, extra_headers=[(b"authorization", b"Bearer x")]
    ) as ws:
        assert (await next_event(ws))["type"] == "session.created"


async def test_a_text_turn_over_the_wire(fake: FakeUpstream) -> None:
    async with open_websocket_url(fake.url + GA, extra_headers=BEARER) as ws:
        await configured(fake, GA, ws)
        await send(ws, user_text("hello there"))
        await send(ws, {"type": "response.create", "event_id": "r1"})
        seen = await until(ws, "rate_limits.updated")
    kinds = [event["type"] for event in seen]
    assert kinds[:3] == ["conversation.item.added", "conversation.item.done", "response.created"]
    assert kinds[-2:] == ["response.done", "rate_limits.updated"]
    said = "".join(
        e["delta"] for e in seen if e["type"] == "response.output_audio_transcript.delta"
    )
    assert said == "You said: hello there"
    ids = [event["event_id"] for event in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_a_spoken_turn_over_the_wire_echoes_the_committed_audio(fake: FakeUpstream) -> None:
    pcm = speech_pcm()
    async with open_websocket_url(fake.url + GA, extra_headers=BEARER) as ws:
        await configured(fake, GA, ws)
        for start in range(0, len(pcm), 4800):  # 100 ms frames, as a relay coalesces them
            await send(ws, append_event(pcm[start : start + 4800]))
        seen = await until(ws, "response.done")
    began = next(e for e in seen if e["type"] == "input_audio_buffer.speech_started")
    ended = next(e for e in seen if e["type"] == "input_audio_buffer.speech_stopped")
    echo = b"".join(
        base64.b64decode(e["delta"]) for e in seen if e["type"] == "response.output_audio.delta"
    )
    assert (
        echo == pcm[began["audio_start_ms"] * BYTES_PER_MS : ended["audio_end_ms"] * BYTES_PER_MS]
    )
    assert len(echo) > 0


async def test_benchmark_mode_over_the_wire() -> None:
    options = FakeUpstreamOptions(
        turn_trigger_bytes=9600, reply_audio_ms=200, validate_client_events=False
    )
    async with open_fake_upstream(options=options) as fake:
        async with open_websocket_url(fake.url + GA, extra_headers=BEARER) as ws:
            await configured(fake, GA, ws)
            await send(ws, append_event(bytes(9600)))
            seen = await until(ws, "response.done")
    audio = [e for e in seen if e["type"] == "response.output_audio.delta"]
    assert len(audio) == 10 and sum(len(base64.b64decode(e["delta"])) for e in audio) == 9600


async def test_fault_drop_mid_response_cuts_tcp_without_a_close_frame(fake: FakeUpstream) -> None:
    path = "/v1/realtime?model=fault-drop-mid-response"
    async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
        await configured(fake, path, ws)
        await send(ws, user_text("hello"))
        await send(ws, {"type": "response.create"})
        await until(ws, "response.output_audio_transcript.delta")
        assert await closed_code(ws) == 1006
    assert fake.connections[0].close_code == 1006


async def test_fault_error_recoverable_then_the_session_goes_on(fake: FakeUpstream) -> None:
    path = "/v1/realtime?model=fault-error-recoverable"
    async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
        await configured(fake, path, ws)
        await send(ws, user_text("hello"))
        await send(ws, {"type": "response.create", "event_id": "r1"})
        error = (await until(ws, "error"))[-1]["error"]
        assert (error["code"], error["event_id"]) == ("invalid_value", "r1")
        await send(ws, {"type": "response.create", "event_id": "r2"})
        done = (await until(ws, "response.done"))[-1]
    assert done["response"]["status"] == "completed"


async def test_fault_error_fatal_sends_insufficient_quota_then_closes_1011(
    fake: FakeUpstream,
) -> None:
    path = "/v1/realtime?model=fault-error-fatal"
    async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
        await configured(fake, path, ws)
        await send(ws, user_text("hello"))
        await send(ws, {"type": "response.create"})
        error = (await until(ws, "error"))[-1]["error"]
        assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
        assert await closed_code(ws) == 1011
    assert fake.connections[0].close_code == 1011


async def test_fault_session_expired_after_the_first_response_closes_1001(
    fake: FakeUpstream,
) -> None:
    path = "/openai/v1/realtime?model=fault-session-expired"
    async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
        await configured(fake, path, ws)
        await send(ws, user_text("hello"))
        await send(ws, {"type": "response.create"})
        seen = await until(ws, "error")
        assert seen[-2]["type"] == "rate_limits.updated"
        assert seen[-1]["error"]["code"] == "session_expired"
        assert "maximum duration of 60 minutes" in seen[-1]["error"]["message"]
        assert await closed_code(ws) == 1001


async def test_fault_garbage_sends_a_frame_that_is_not_json(fake: FakeUpstream) -> None:
    path = "/v1/realtime?model=fault-garbage"
    async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
        await configured(fake, path, ws)
        await send(ws, user_text("hello"))
        with trio.fail_after(STEP_S):
            frame = await ws.get_message()
    with pytest.raises(ValueError):
        json.loads(frame)


async def test_fault_stall_never_confirms_and_ends_when_the_peer_leaves(fake: FakeUpstream) -> None:
    path = "/v1/realtime?model=fault-stall"
    async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
        assert (await next_event(ws))["type"] == "session.created"
        await send(ws, session_update("ga"))
        record = await fake.wait_for_connection(1)
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)
        assert [e["type"] for e in record.sent] == ["session.created"]
        assert not record.closed.is_set()
    with trio.fail_after(STEP_S):
        await record.closed.wait()


async def test_fault_stall_after_connect_confirms_then_stops_answering(fake: FakeUpstream) -> None:
    path = "/v1/realtime?model=fault-stall-after-connect"
    async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
        await configured(fake, path, ws)
        await send(ws, user_text("hello"))
        await send(ws, {"type": "response.create"})
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)
        record = fake.connections[0]
        assert [e["type"] for e in record.sent] == ["session.created", "session.updated"]


async def test_record_is_closed_when_the_client_disconnects(fake: FakeUpstream) -> None:
    async with open_websocket_url(fake.url + GA, extra_headers=BEARER) as ws:
        await next_event(ws)
        record = await fake.wait_for_connection(1)
        assert not record.closed.is_set()
        await ws.aclose(4000, "bye")
    with trio.fail_after(STEP_S):
        await record.closed.wait()
    assert record.close_code == 4000


async def test_wait_for_connection_waits_for_the_nth(
    fake: FakeUpstream, nursery: trio.Nursery
) -> None:
    found: list[str] = []

    async def second() -> None:
        found.append((await fake.wait_for_connection(2)).path)

    nursery.start_soon(second)
    await trio.testing.wait_all_tasks_blocked()
    for path in (GA, "/openai/v1/realtime?model=d"):
        async with open_websocket_url(fake.url + path, extra_headers=BEARER) as ws:
            await next_event(ws)
    with trio.fail_after(STEP_S):
        while not found:
            await trio.testing.wait_all_tasks_blocked()
    assert found == ["/openai/v1/realtime"]


def count_tasks() -> int:
    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            walk(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return walk(root)


async def test_exiting_closes_every_connection_and_the_listener(nursery: trio.Nursery) -> None:
    await trio.testing.wait_all_tasks_blocked()
    before = count_tasks()
    async with open_fake_upstream() as fake:
        ws = await connect_websocket(
            nursery, "127.0.0.1", fake.port, GA, use_ssl=False, extra_headers=BEARER
        )
        await next_event(ws)
        record = fake.connections[0]
    assert record.closed.is_set() and record.close_code == 1001
    assert await closed_code(ws) == 1001
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", fake.port)
    await trio.testing.wait_all_tasks_blocked()
    assert count_tasks() == before  # nothing left running, on either side


def test_cli_prints_where_it_listens_and_stops_cleanly_on_sigterm_and_ctrl_c() -> None:
    command = [sys.executable, "-m", "fake_upstream", "--port", "0"]
    processes = {
        stop: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for stop in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        for stop, process in processes.items():
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("fake upstream listening on ws://127.0.0.1:")
            assert int(line.rsplit(":", 1)[1]) > 0
            process.send_signal(stop)
        for process in processes.values():
            _, errors = process.communicate(timeout=10)
            assert process.returncode == 0 and errors == ""
    finally:
        for process in processes.values():
            process.kill()
            process.wait()


async def test_cli_serves_wss_with_certfile_and_keyfile(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    command = [sys.executable, "-m", "fake_upstream", "--port", "0"]
    command += ["--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")]
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        printed = b""
        with trio.fail_after(30):  # the openai models load first
            while b"\n" not in printed:
                printed += await process.stdout.receive_some()
        line = printed.decode()
        assert line.startswith("fake upstream listening on wss://127.0.0.1:")
        client = ssl.create_default_context()
        ca.configure_trust(client)
        url = line.split()[-1] + GA
        async with open_websocket_url(url, ssl_context=client, extra_headers=BEARER) as ws:
            assert (await next_event(ws))["type"] == "session.created"
    finally:
        process.terminate()
        with trio.fail_after(10):
            await process.wait()


def test_cli_refuses_a_certfile_without_its_keyfile() -> None:
    command = [sys.executable, "-m", "fake_upstream", "--certfile", "cert.pem"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--certfile and --keyfile go together" in done.stderr

"""The fake upstream over real loopback sockets: paths, dialects, auth and the connection log."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from fake_upstream import FakeUpstreamOptions, open_fake_upstream


@pytest.mark.parametrize(
    ("path", "headers", "backend", "dialect"),
    [
        ("/v1/realtime?model=gpt-realtime", [(b"authorization", b"Bearer k")], "openai", "ga"),
        (
            "/v1/realtime?model=gpt-realtime",
            [(b"authorization", b"Bearer k"), (b"openai-beta", b"realtime=v1")],
            "openai",
            "beta",
        ),
        ("/openai/v1/realtime?model=dep", [(b"api-key", b"k")], "azure", "ga"),
        (
            "/openai/realtime?api-version=2024-10-01-preview&deployment=dep",
            [(b"api-key", b"k")],
            "azure",
            "beta",
        ),
    ],
)
async def test_paths_select_backend_and_dialect(
    path: str, headers: list[tuple[bytes, bytes]], backend: str, dialect: str
) -> None:
    async with open_fake_upstream() as fake:
        async with open_websocket_url(fake.url + path, extra_headers=headers) as ws:
            created = json.loads(await ws.get_message())
            assert created["type"] == "session.created"
        record = await fake.wait_for_connection(1)
        with trio.fail_after(2):
            await record.closed.wait()
    assert (record.backend, record.dialect) == (backend, dialect)
    session = created["session"]
    assert ("output_modalities" in session) is (dialect == "ga")


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/realtime?model=m", [], 401),
        ("/v1/realtime?model=m", [(b"authorization", b"Bearer wrong")], 401),
        ("/v1/realtime?model=m", [(b"api-key", b"right")], 401),  # OpenAI takes only Bearer
        ("/elsewhere", [(b"authorization", b"Bearer right")], 404),
        ("/openai/realtime?deployment=d", [(b"api-key", b"right")], 400),
        ("/v1/realtime?model=fault-429", [(b"authorization", b"Bearer right")], 429),
        ("/v1/realtime?model=fault-500", [(b"authorization", b"Bearer right")], 500),
    ],
)
async def test_refusals(path: str, headers: list[tuple[bytes, bytes]], status: int) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(api_key="right")) as fake:
        with pytest.raises(ConnectionRejected) as caught:
            async with open_websocket_url(fake.url + path, extra_headers=headers):
                pass
    assert caught.value.status_code == status
    assert fake.connections[0].rejected_status == status
    if status == 429:
        assert (b"retry-after", b"1") in caught.value.headers
    if status == 401:
        assert json.loads(caught.value.body or b"{}")["error"]["code"] == "invalid_api_key"


async def test_invalid_event_is_answered_and_the_connection_stays_open() -> None:
    async with open_fake_upstream() as fake:
        url = fake.url + "/v1/realtime?model=m"
        async with open_websocket_url(url, extra_headers=[(b"authorization", b"Bearer k")]) as ws:
            await ws.get_message()  # session.created
            await ws.send_message('{"type":"bogus"}')
            error = json.loads(await ws.get_message())
            await ws.send_message(b"\x00")
            binary_error = json.loads(await ws.get_message())
            await ws.send_message('{"type":"input_audio_buffer.clear"}')
            cleared = json.loads(await ws.get_message())
    assert error["type"] == "error" and error["error"]["param"] == "type"
    assert binary_error["type"] == "error"
    assert cleared["type"] == "input_audio_buffer.cleared"


async def test_exiting_closes_every_connection() -> None:
    async with open_fake_upstream() as fake:
        url = fake.url + "/v1/realtime?model=m"
        async with open_websocket_url(url, extra_headers=[(b"authorization", b"Bearer k")]) as ws:
            await ws.get_message()
            record = fake.connections[0]
    assert record.closed.is_set()


def test_cli_prints_where_it_listens_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_upstream", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("fake upstream listening on ws://127.0.0.1:")
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()

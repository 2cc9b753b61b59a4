"""``fake-upstream --shell asyncio`` (the benchmark's fake) serves the same engine as the Trio
shell: turns end to end, the same events for the same conversation, the same refusals and
endings, pacing, and wss://. Each shell runs as the benchmark runs it, in a process of its own;
the client is a plain ``websockets`` one, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from fake_support import BYTES_PER_MS, append_event, session_update, speech_pcm, user_text
from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol
from websockets.sync.client import ClientConnection, connect

from fake_upstream.asyncio_shell import _Connection, _message_waiting

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "recordings"
STEP_S = 5.0  # the longest any one wait may take
START_S = 30.0  # a fake's start-up (it loads the openai models first)
GA = "/v1/realtime?model="
BEARER = {"Authorization": "Bearer sk-test"}
BETA = {**BEARER, "OpenAI-Beta": "realtime=v1"}
BENCH = ["--turn-trigger-bytes", "48000", "--reply-audio-ms", "1000"]  # as bench/procs.py


@contextmanager
def fake_process(shell: str, *args: str) -> Iterator[str]:
    """``fake-upstream --shell SHELL ARGS`` on a free port; its URL. It must stop on SIGTERM
    with exit code 0 and nothing on stderr (no traceback, no warning)."""
    command = [sys.executable, "-m", "fake_upstream", "--port", "0", "--shell", shell, *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        printed = b""
        while b"\n" not in printed:
            ready, _, _ = select.select([process.stdout], [], [], START_S)
            assert ready, f"the {shell} fake printed nothing within {START_S:g} s"
            chunk = os.read(process.stdout.fileno(), 4096)
            assert chunk, f"the {shell} fake exited: {process.communicate(timeout=STEP_S)}"
            printed += chunk
        yield printed.decode().split()[-1]
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=STEP_S * 2)
        assert process.returncode == 0 and errors == b"", errors.decode()
    finally:
        if process.returncode is None:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def fake() -> Iterator[str]:
    with fake_process("asyncio") as url:
        yield url


@pytest.fixture(scope="module")
def trio_fake() -> Iterator[str]:
    with fake_process("trio") as url:
        yield url


@pytest.fixture(scope="module")
def bench_fake() -> Iterator[str]:
    with fake_process("asyncio", *BENCH) as url:
        yield url


def open_session(url: str, model: str = "gpt-realtime", **kwargs: Any) -> ClientConnection:
    headers = kwargs.pop("headers", BEARER)
    return connect(url + GA + model, additional_headers=headers, open_timeout=STEP_S, **kwargs)


def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    ws.send(json.dumps(event))


def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Events up to and including the first of ``kind``."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != kind:
        seen.append(json.loads(ws.recv(timeout=STEP_S)))
    return seen


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def text_turn(ws: ClientConnection, text: str = "hello") -> list[dict[str, Any]]:
    send(ws, user_text(text))
    send(ws, {"type": "response.create"})
    return until(ws, "response.done")


def spoken_turn(ws: ClientConnection) -> list[dict[str, Any]]:
    """A spoken turn in 100 ms appends; what the fake says until the answer is done."""
    pcm = speech_pcm()
    for start in range(0, len(pcm), 100 * BYTES_PER_MS):
        send(ws, append_event(pcm[start : start + 100 * BYTES_PER_MS]))
    return until(ws, "response.done")


def test_a_text_turn_end_to_end(fake: str) -> None:
    with open_session(fake) as ws:
        assert types(until(ws, "session.created")) == ["session.created"]
        send(ws, session_update("ga", modality="text"))
        until(ws, "session.updated")
        said = text_turn(ws, "hello there")
    deltas = [e["delta"] for e in said if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "You said: hello there"
    assert said[-1]["response"]["status"] == "completed"


def test_a_benchmark_audio_turn_end_to_end(bench_fake: str) -> None:
    with open_session(bench_fake) as ws:
        until(ws, "session.created")
        send(ws, session_update("ga"))
        until(ws, "session.updated")
        for _ in range(50):  # one second of 20 ms frames: one benchmark turn
            send(ws, append_event(bytes(20 * BYTES_PER_MS)))
        turn = until(ws, "response.done")
    assert types(turn)[:4] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
    ]
    audio = [e for e in turn if e["type"] == "response.output_audio.delta"]
    assert len(audio) == 10  # --reply-audio-ms 1000 in 10 deltas
    assert turn[-1]["response"]["status"] == "completed"


def conversation(url: str, model: str, dialect: str) -> list[dict[str, Any]]:
    """One scripted conversation: configure, a text turn, a spoken turn."""
    with open_session(url, model, headers=BETA if dialect == "beta" else BEARER) as ws:
        events = until(ws, "session.created")
        send(ws, session_update("beta" if dialect == "beta" else "ga"))
        events += until(ws, "session.updated")
        events += text_turn(ws)
        events += spoken_turn(ws)
    return events


@pytest.mark.parametrize(
    ("model", "dialect"),
    [
        ("gpt-realtime", "ga"),
        ("gpt-realtime", "beta"),
        ("variant-realistic-audio", "ga"),  # paced deltas: the engine's wake_at
        ("variant-late-transcription-seed-3", "ga"),
    ],
)
def test_both_shells_send_the_engines_events_for_the_same_conversation(
    fake: str, trio_fake: str, model: str, dialect: str
) -> None:
    on_asyncio = conversation(fake, model, dialect)
    on_trio = conversation(trio_fake, model, dialect)
    assert types(on_asyncio) == types(on_trio)
    # The ids come from the engine's counters: the same events, field for field, but for
    # the session's expiry time.
    for sent in (on_asyncio, on_trio):
        for event in sent:
            event.get("session", {}).pop("expires_at", None)
    assert on_asyncio == on_trio


def refusal(url: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
    with pytest.raises(InvalidStatus) as refused:
        connect(url + path, additional_headers=headers, open_timeout=STEP_S)
    response = refused.value.response
    return response.status_code, response.body, response.headers.get("Retry-After")


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/nowhere", BEARER, 404),
        (GA + "gpt-realtime", {}, 401),
        (GA + "fault-429", BEARER, 429),
        ("/openai/realtime?deployment=dep", {"api-key": "k"}, 400),
    ],
)
def test_both_shells_refuse_alike(
    fake: str, trio_fake: str, path: str, headers: dict[str, str], status: int
) -> None:
    answer = refusal(fake, path, headers)
    assert answer == refusal(trio_fake, path, headers)
    assert answer[0] == status


def ending(url: str, model: str) -> tuple[list[str], int]:
    """What a conversation with a fault model says until the connection ends, and how it
    ends (1006: no close frame)."""
    said: list[str] = []
    with open_session(url, model) as ws:
        try:
            said.append(ws.recv(timeout=STEP_S))
            send(ws, session_update("ga", modality="text"))
            said.append(ws.recv(timeout=STEP_S))
            send(ws, user_text("hello"))
            send(ws, {"type": "response.create"})
            while True:
                said.append(ws.recv(timeout=STEP_S))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else 1006
    return [json.loads(s)["type"] if s.startswith("{") else s for s in said], code


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("fault-drop-mid-response", 1006),
        ("fault-error-fatal", 1011),
        ("fault-session-expired", 1001),
    ],
)
def test_directives_end_the_connection_as_on_the_trio_shell(
    fake: str, trio_fake: str, model: str, code: int
) -> None:
    on_asyncio = ending(fake, model)
    assert on_asyncio == ending(trio_fake, model)
    assert on_asyncio[1] == code


def test_garbage_is_sent_as_it_is(fake: str) -> None:
    with open_session(fake, "fault-garbage") as ws:
        until(ws, "session.created")
        send(ws, session_update("ga"))
        until(ws, "session.updated")
        send(ws, user_text("hello"))
        assert ws.recv(timeout=STEP_S) == "<html>502 Bad Gateway</html>"


def test_a_stalled_conversation_ends_when_the_peer_leaves(fake: str) -> None:
    # The fake never answers the update; closing still works, and the fake stops cleanly
    # afterwards (the fixture checks its exit).
    with open_session(fake, "fault-stall") as ws:
        until(ws, "session.created")
        send(ws, session_update("ga"))


def test_wss_with_certfile_and_keyfile(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    tls = ["--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")]
    client = ssl.create_default_context()
    ca.configure_trust(client)
    with fake_process("asyncio", *tls) as url:
        assert url.startswith("wss://127.0.0.1:")
        with open_session(url, ssl=client) as ws:
            until(ws, "session.created")
            send(ws, session_update("ga", modality="text"))
            until(ws, "session.updated")
            assert text_turn(ws)[-1]["response"]["status"] == "completed"


def test_a_replay_sends_the_recorded_events(tmp_path: Path) -> None:
    recording = RECORDINGS / "text_turn.jsonl"
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    recorded_in = [line["event"] for line in lines if line["dir"] == "upstream_in"]
    with fake_process("asyncio", "--replay", str(recording)) as url, open_session(url) as ws:
        for line in lines:
            if line["dir"] == "upstream_out":
                send(ws, line["event"])
        received = [json.loads(ws.recv(timeout=STEP_S)) for _ in recorded_in]
    for event in received:  # the recording's audio is redacted: it is replayed as silence
        if event["type"] == "response.output_audio.delta":
            event["delta"] = {"redacted_audio_bytes": len(base64.b64decode(event["delta"]))}
    assert received == recorded_in


class QueueOnlyTransport(asyncio.Transport):
    """Enough of a transport for a connection that is only handed frames to queue."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


def test_a_message_is_seen_waiting_only_once_it_is_whole() -> None:
    # The shell feeds the engine every message websockets has read before each write; this
    # pins the websockets internals it reads that from.
    async def check() -> None:
        connection = _Connection(ServerProtocol(), server=None)  # type: ignore[arg-type]
        # websockets' own connection_made (the server's would start a handler).
        Connection.connection_made(connection, QueueOnlyTransport())
        assert not _message_waiting(connection)
        connection.recv_messages.put(Frame(Opcode.TEXT, b"{", fin=False))
        assert not _message_waiting(connection)
        connection.recv_messages.put(Frame(Opcode.CONT, b"}"))
        connection.recv_messages.put(Frame(Opcode.TEXT, b"[]"))
        assert await connection.recv() == "{}"
        assert _message_waiting(connection)
        assert await connection.recv() == "[]"
        assert not _message_waiting(connection)

    asyncio.run(check())

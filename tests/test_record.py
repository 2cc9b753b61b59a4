"""Recording sessions (trio_relay.record) and serving recordings back (fake_upstream.replay)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import trio
from harness import is_control, open_browser, serve, start_relay

from fake_upstream import open_fake_upstream
from fake_upstream.protocol import Close, Drop, Garbage
from fake_upstream.replay import AudioUpTo, Expect, load_replay
from trio_relay.cli import check_record_dir
from trio_relay.client_auth import ClientAuth, ClientAuthMode
from trio_relay.config import Access, Recording, RelayConfig, load_config, openai_target
from trio_relay.errors import ClientGone, ConfigError
from trio_relay.record import SessionRecorder, clean_event, decoded_length, encode_line

UPSTREAM_KEY = "sk-upstream-SECRET-0123456789"
CLIENT_TOKEN = "client-token-SECRET-abcdefgh"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def line(t: float, direction: str, item: Any, *, keep_audio: bool = False) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(encode_line(t, direction, item, keep_audio=keep_audio))
    return decoded


# --- the format ------------------------------------------------------------------------------


def test_audio_in_upstream_events_is_recorded_as_its_length_unless_kept() -> None:
    delta = {"type": "response.output_audio.delta", "item_id": "i", "delta": b64(bytes(4801))}
    append = {"type": "input_audio_buffer.append", "audio": b64(bytes(960))}
    assert line(1, "upstream_in", json.dumps(delta))["event"]["delta"] == {
        "redacted_audio_bytes": 4801
    }
    assert line(1, "upstream_out", json.dumps(append))["event"]["audio"] == {
        "redacted_audio_bytes": 960
    }
    kept = line(1, "upstream_in", json.dumps(delta), keep_audio=True)["event"]
    assert kept == delta


def test_transcript_deltas_are_text_not_audio() -> None:
    event = {"type": "response.output_audio_transcript.delta", "delta": "hello"}
    assert clean_event(event, keep_audio=False) == event


def test_browser_text_is_kept_exactly_and_binary_frames_as_their_length() -> None:
    frame = '{"type": "user_message", "text": "héllo"}'
    assert line(0.5, "client_in", frame) == {"t": 0.5, "dir": "client_in", "text": frame}
    assert line(0.5, "client_out", bytes(10)) == {"t": 0.5, "dir": "client_out", "audio_bytes": 10}
    kept = line(0.5, "client_out", b"\x01\x02", keep_audio=True)
    assert base64.b64decode(kept["audio"]) == b"\x01\x02"


def test_non_json_and_binary_upstream_frames_are_recorded_as_such() -> None:
    assert line(0, "upstream_in", "<html>502</html>")["text"] == "<html>502</html>"
    assert line(0, "upstream_in", b"\x00\x01")["binary_bytes"] == 2


def test_credential_fields_and_credential_shaped_text_are_redacted() -> None:
    event = {
        "type": "session.created",
        "session": {"client_secret": {"value": "ek_abcdefghijkl"}, "instructions": "x"},
        "note": "Authorization: Bearer abcdefghijklmnop",
    }
    cleaned = clean_event(event, keep_audio=True)
    assert cleaned["session"]["client_secret"] == "[redacted]"
    assert "abcdefghijklmnop" not in json.dumps(cleaned)


def test_a_lone_surrogate_from_the_upstream_is_recorded_as_an_escape() -> None:
    recorded = encode_line(0, "upstream_in", '{"type":"x","text":"\\ud800"}', keep_audio=False)
    recorded.encode("utf-8")  # writable


def test_decoded_length_matches_base64() -> None:
    for size in range(8):
        assert decoded_length(b64(bytes(size))) == size


# --- the recorder ----------------------------------------------------------------------------


async def test_a_recorder_over_its_buffer_drops_lines_and_says_how_many(tmp_path: Path) -> None:
    settings = Recording(dir=str(tmp_path), buffer_bytes=1024)
    recorder = SessionRecorder(settings, "s-test", trio.current_time())
    for _ in range(10):
        recorder.client_out(bytes(400))  # nothing written meanwhile: two fit
    assert recorder.dropped_lines == 8
    await recorder.close(ClientGone(), timeout_s=5)
    lines = [json.loads(text) for text in (tmp_path / "s-test.jsonl").read_text().splitlines()]
    assert [entry["dir"] for entry in lines] == ["start", "client_out", "client_out", "end"]
    assert lines[-1]["dropped_lines"] == 8


class ObservedRecorder(SessionRecorder):
    """Says when a batch has been written (from the worker thread)."""

    batches: list[int]
    written: trio.Event

    def _write(self, batch: list[Any]) -> None:
        super()._write(batch)
        self.batches.append(len(batch))
        trio.from_thread.run_sync(self.written.set)


async def test_the_writer_task_writes_in_batches_while_the_session_runs(tmp_path: Path) -> None:
    recorder = ObservedRecorder(Recording(dir=str(tmp_path)), "s-batch", trio.current_time())
    recorder.batches, recorder.written = [], trio.Event()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.write_batches)
            for n in range(5):
                recorder.client_in(f'{{"n":{n}}}')
            await recorder.written.wait()
            nursery.cancel_scope.cancel()
    assert recorder.batches == [6]  # the start line and five frames: one write
    lines = (tmp_path / "s-batch.jsonl").read_text().splitlines()
    assert [json.loads(text)["dir"] for text in lines] == ["start", *["client_in"] * 5]


# --- configuration ---------------------------------------------------------------------------


def test_recording_is_off_by_default_and_set_by_record_dir() -> None:
    assert load_config({}).record == Recording()
    assert Recording().dir is None and not Recording().keep_audio
    config = load_config({"RECORD_DIR": "/tmp/rec", "RECORD_AUDIO": "1"})
    assert config.record.dir == "/tmp/rec" and config.record.keep_audio


def test_an_unwritable_record_dir_is_a_start_up_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="RECORD_DIR"):
        check_record_dir(RelayConfig(record=Recording(dir=str(blocker / "sub"))))
    check_record_dir(RelayConfig(record=Recording(dir=str(tmp_path / "new"))))
    assert (tmp_path / "new").is_dir()


# --- replay (pure) ---------------------------------------------------------------------------


def recording(*entries: dict[str, Any]) -> str:
    return "\n".join(json.dumps(entry) for entry in entries)


def out(event: dict[str, Any]) -> dict[str, Any]:
    return {"t": 0, "dir": "upstream_out", "event": event}


def into(event: dict[str, Any]) -> dict[str, Any]:
    return {"t": 0, "dir": "upstream_in", "event": event}


APPEND_960 = {"type": "input_audio_buffer.append", "audio": {"redacted_audio_bytes": 960}}


def test_replay_steps_follow_the_recorded_order() -> None:
    replay = load_replay(
        recording(
            {"t": 0, "dir": "start", "format": 1},
            out({"type": "session.update"}),
            into({"type": "session.created"}),
            into({"type": "session.updated"}),
            out(APPEND_960),
            out(APPEND_960),
            into({"type": "input_audio_buffer.speech_started"}),
            out({"type": "response.create"}),
            into({"type": "error"}),
            {"t": 0, "dir": "upstream_in", "close": {"code": 1011, "reason": "quota"}},
        )
    )
    assert replay.opening == ({"type": "session.created"},)
    assert [step.condition for step in replay.steps] == [
        Expect("session.update"),
        AudioUpTo(960),
        AudioUpTo(1920),
        Expect("response.create"),
    ]
    assert replay.steps[-1].outputs == ({"type": "error"}, Close(1011, "quota"))


def test_replayer_answers_each_expected_event_whatever_its_ids() -> None:
    replayer = load_replay(
        recording(
            out({"type": "session.update", "event_id": "a"}),
            into({"type": "session.created"}),
            into({"type": "session.updated"}),
            out({"type": "response.create", "event_id": "relay_1"}),
            into({"type": "response.created"}),
        )
    ).start()
    assert replayer.open() == [{"type": "session.created"}]
    replayer.receive_frame(json.dumps({"type": "session.update", "event_id": "other"}))
    assert replayer.next_output() == {"type": "session.updated"}
    assert replayer.next_output() is None
    replayer.receive_frame(json.dumps({"type": "conversation.item.delete"}))  # not expected
    assert replayer.next_output() is None and replayer.unexpected == ["conversation.item.delete"]
    replayer.receive_frame(json.dumps({"type": "response.create"}))
    assert replayer.next_output() == {"type": "response.created"}
    assert replayer.done


def test_replayer_matches_audio_by_bytes_however_it_was_coalesced() -> None:
    replayer = load_replay(
        recording(
            out({"type": "session.update"}),
            out(APPEND_960),
            into({"type": "speech_started"}),
            out(APPEND_960),
            out(APPEND_960),
            into({"type": "speech_stopped"}),
        )
    ).start()
    replayer.open()
    replayer.receive_frame(json.dumps({"type": "session.update"}))
    replayer.receive_frame(
        json.dumps({"type": "input_audio_buffer.append", "audio": b64(bytes(500))})
    )
    assert replayer.next_output() is None
    replayer.receive_frame(
        json.dumps({"type": "input_audio_buffer.append", "audio": b64(bytes(2000))})
    )
    assert [replayer.next_output(), replayer.next_output()] == [
        {"type": "speech_started"},
        None,
    ]
    replayer.receive_frame(
        json.dumps({"type": "input_audio_buffer.append", "audio": b64(bytes(880))})
    )
    assert replayer.next_output() == {"type": "speech_stopped"}


def test_redacted_audio_is_replayed_as_silence_of_its_length_and_faults_as_directives() -> None:
    replayer = load_replay(
        recording(
            out({"type": "session.update"}),
            into({"type": "response.output_audio.delta", "delta": {"redacted_audio_bytes": 6}}),
            {"t": 0, "dir": "upstream_in", "text": "<html>502</html>"},
            {"t": 0, "dir": "upstream_in", "close": None},
        )
    ).start()
    replayer.open()
    replayer.receive_frame(json.dumps({"type": "session.update"}))
    delta = replayer.next_output()
    assert isinstance(delta, dict) and base64.b64decode(delta["delta"]) == bytes(6)
    assert replayer.next_output() == Garbage("<html>502</html>")
    assert replayer.next_output() == Drop()
    assert replayer.next_output() is None


# --- end to end ------------------------------------------------------------------------------


async def test_with_recording_off_a_session_writes_nothing(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_fake_upstream() as fake:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", UPSTREAM_KEY)
        port = await start_relay(nursery, RelayConfig(upstream=target))
        async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
            await browser.until(is_control("connected"))
            await browser.send_text("hello")
            await browser.until(is_control("text_done"))
    assert os.listdir(tmp_path) == []


async def test_no_secret_ever_appears_in_a_recording(nursery: trio.Nursery, tmp_path: Path) -> None:
    async with open_fake_upstream() as fake:
        config = RelayConfig(
            upstream=openai_target(f"{fake.url}/v1", "gpt-realtime", UPSTREAM_KEY),
            access=Access(client_auth=ClientAuth(ClientAuthMode.TOKEN, tokens=(CLIENT_TOKEN,))),
            record=Recording(dir=str(tmp_path), keep_audio=True),
        )
        relay = await serve(nursery, config)
        url = f"ws://127.0.0.1:{relay.port}/realtime?token={CLIENT_TOKEN}"
        async with open_browser(url) as browser:
            await browser.until(is_control("connected"))
            await browser.send_text(f"my key is {UPSTREAM_KEY} and my token {CLIENT_TOKEN}")
            await browser.until(is_control("text_done"))
        with trio.fail_after(5):
            await relay.sessions_ended()  # its recording is complete
    text = _read(tmp_path)
    assert '"dir":"end"' in text
    assert "user_message" in text and "response.done" in text
    for secret in (UPSTREAM_KEY, CLIENT_TOKEN, "Bearer"):
        assert secret not in text


def _read(directory: Path) -> str:
    return "".join(path.read_text() for path in directory.glob("*.jsonl"))


# --- command lines and layout ----------------------------------------------------------------


def test_record_flag_and_replay_flag_are_parsed() -> None:
    from fake_upstream.__main__ import parse_args as fake_args
    from trio_relay.cli import parse_args as relay_args

    assert relay_args(["--record", "/tmp/rec"]).record == "/tmp/rec"
    assert relay_args([]).record is None
    assert fake_args(["--replay", "x.jsonl"]).replay == "x.jsonl"
    assert fake_args([]).replay is None


def test_an_unreadable_replay_file_is_one_line_naming_it(tmp_path: Path) -> None:
    from fake_upstream.__main__ import read_replay

    with pytest.raises(SystemExit, match="cannot read --replay"):
        read_replay(str(tmp_path / "missing.jsonl"))
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(SystemExit, match="line 1 is not JSON"):
        read_replay(str(tmp_path / "bad.jsonl"))

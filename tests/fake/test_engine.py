"""The fake upstream's engine, driven directly, and every event it emits checked against the
openai package's typed models for its dialect."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from fake_upstream.engine import Close, Drop, Engine, Garbage, Output, Stall
from fake_upstream.faults import Fault
from fake_upstream.validation import validate_server_event
from trio_relay.config import Dialect, SessionSettings
from trio_relay.probe import speech_like_pcm
from trio_relay.realtime import response_create, session_update, truncate_item, user_text_item

DIALECTS = ["ga", "beta"]


def events(outputs: list[Output]) -> list[dict[str, Any]]:
    return [o for o in outputs if isinstance(o, dict)]


def started(
    dialect: str, model: str = "gpt-realtime", **kwargs: Any
) -> tuple[Engine, list[Output]]:
    engine = Engine(dialect, model, **kwargs)  # type: ignore[arg-type]
    out = engine.open()
    out += engine.receive(json.dumps(session_update(SessionSettings(), Dialect(dialect))))
    return engine, out


def send(engine: Engine, event: dict[str, Any]) -> list[Output]:
    return engine.receive(json.dumps(event))


def append_all(engine: Engine, pcm: bytes, frame: int = 4800) -> list[Output]:
    out: list[Output] = []
    for i in range(0, len(pcm), frame):
        chunk = base64.b64encode(pcm[i : i + frame]).decode()
        out += send(engine, {"type": "input_audio_buffer.append", "audio": chunk})
    return out


def assert_valid(dialect: str, outputs: list[Output]) -> None:
    for event in events(outputs):
        validate_server_event(dialect, event)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_turn_has_the_full_event_sequence(dialect: str) -> None:
    engine, out = started(dialect)
    out += send(engine, user_text_item("hello there"))
    turn = send(engine, response_create("r1"))
    assert_valid(dialect, out + turn)
    kinds = [e["type"] for e in events(turn)]
    audio_delta = "response.output_audio.delta" if dialect == "ga" else "response.audio.delta"
    transcript = (
        "response.output_audio_transcript.delta"
        if dialect == "ga"
        else "response.audio_transcript.delta"
    )
    assert kinds[0] == "response.created" and kinds[-2:] == ["response.done", "rate_limits.updated"]
    assert audio_delta in kinds and transcript in kinds
    text = "".join(e["delta"] for e in events(turn) if e["type"] == transcript)
    assert text == "You said: hello there"
    done = events(turn)[-2]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_modality_answers_with_text_events(dialect: str) -> None:
    engine = Engine(dialect, "m")  # type: ignore[arg-type]
    engine.open()
    send(engine, session_update(SessionSettings(output_modality="text"), Dialect(dialect)))
    send(engine, user_text_item("hi"))
    turn = send(engine, response_create("r1"))
    assert_valid(dialect, turn)
    name = "response.output_text.delta" if dialect == "ga" else "response.text.delta"
    assert "".join(e["delta"] for e in events(turn) if e["type"] == name) == "You said: hi"
    assert not any("audio" in e["type"] for e in events(turn))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_spoken_turn_is_detected_transcribed_and_echoed(dialect: str) -> None:
    engine, out = started(dialect)
    pcm = speech_like_pcm(lead_silence_ms=400, speech_ms=1200, tail_silence_ms=900)
    turn = append_all(engine, pcm)
    assert_valid(dialect, turn)
    kinds = [e["type"] for e in events(turn)]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.done",
    ]
    positions = [kinds.index(k) for k in order]
    assert positions == sorted(positions)
    started_event = events(turn)[kinds.index(order[0])]
    assert started_event["audio_start_ms"] == 400 - 300  # speech onset minus prefix padding
    delta = "response.output_audio.delta" if dialect == "ga" else "response.audio.delta"
    echo = b"".join(base64.b64decode(e["delta"]) for e in events(turn) if e["type"] == delta)
    # The reply is the user's own speech, prefix padding included, to the end of the turn.
    assert echo == pcm[100 * 48 : 100 * 48 + len(echo)] and len(echo) >= 1200 * 48
    transcript = events(turn)[kinds.index(order[3])]["transcript"]
    assert transcript == f"[speech {len(echo) / 48000:.2f} s]"


def test_silence_is_not_speech() -> None:
    engine, _ = started("ga")
    assert events(append_all(engine, bytes(48000 * 3))) == []


def test_truncate_within_and_beyond_the_item() -> None:
    engine, _ = started("ga")
    send(engine, user_text_item("hello there friend"))
    turn = events(send(engine, response_create("r1")))
    item_id = next(e["item_id"] for e in turn if e["type"] == "response.output_audio.delta")
    ok = events(send(engine, truncate_item(item_id, 0, 100)))
    assert [e["type"] for e in ok] == ["conversation.item.truncated"]
    too_far = events(send(engine, truncate_item(item_id, 0, 100_000)))
    assert too_far[0]["type"] == "error" and too_far[0]["error"]["param"] == "audio_end_ms"
    unknown = events(send(engine, truncate_item("item_nope", 0, 1)))
    assert unknown[0]["error"]["code"] == "item_not_found"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{nope", "invalid_json"),
        ('{"type":"no.such.event"}', "invalid_value"),
        ('{"type":"conversation.item.create"}', "missing_required_parameter"),
        ('{"type":"input_audio_buffer.append","audio":"!!!"}', "invalid_value"),
    ],
)
def test_invalid_client_events_get_an_error_and_the_session_stays_open(
    frame: str, code: str
) -> None:
    engine, _ = started("ga")
    out = engine.receive(frame)
    assert len(out) == 1 and isinstance(out[0], dict)
    assert out[0]["type"] == "error" and out[0]["error"]["code"] == code
    validate_server_event("ga", out[0])
    send(engine, user_text_item("still here"))
    assert events(send(engine, response_create("r")))[-2]["type"] == "response.done"


def test_manual_commit_mode() -> None:
    engine = Engine("ga", "m")
    engine.open()
    update = session_update(SessionSettings(), Dialect.GA)
    update["session"]["audio"]["input"]["turn_detection"] = None
    send(engine, update)
    empty = events(send(engine, {"type": "input_audio_buffer.commit"}))
    assert empty[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    append_all(engine, speech_like_pcm())  # no VAD: nothing happens by itself
    committed = events(send(engine, {"type": "input_audio_buffer.commit"}))
    assert committed[0]["type"] == "input_audio_buffer.committed"
    assert_valid("ga", committed)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_benchmark_mode_turns_every_n_bytes(dialect: str) -> None:
    engine, _ = started(dialect, turn_trigger_bytes=48000, validate=False)
    out = append_all(engine, bytes(47040), frame=960)
    assert events(out) == []
    turn = append_all(engine, bytes(960), frame=960)
    assert_valid(dialect, turn)
    kinds = [e["type"] for e in events(turn)]
    delta = "response.output_audio.delta" if dialect == "ga" else "response.audio.delta"
    assert kinds[0] == "input_audio_buffer.speech_started" and kinds[-1] == "response.done"
    assert kinds.count(delta) == 10 and sum("transcript.delta" in k for k in kinds) == 5
    audio = b"".join(base64.b64decode(e["delta"]) for e in events(turn) if e["type"] == delta)
    assert len(audio) == 48000


def test_faults_are_scripted_by_model_name() -> None:
    def first_turn(fault: Fault) -> list[Output]:
        engine, _ = started("ga", model=fault.value, fault=fault)
        send(engine, user_text_item("x"))
        return send(engine, response_create("r"))

    fatal = first_turn(Fault.ERROR_FATAL)
    assert events(fatal)[0]["error"]["code"] == "insufficient_quota" and fatal[-1] == Close(
        1011, "insufficient_quota"
    )
    assert isinstance(first_turn(Fault.DROP_MID_RESPONSE)[-1], Drop)
    expired = first_turn(Fault.SESSION_EXPIRED)
    assert events(expired)[-1]["error"]["code"] == "session_expired" and expired[-1] == Close(
        1001, "session expired"
    )
    recoverable = first_turn(Fault.ERROR_RECOVERABLE)
    assert events(recoverable)[0]["error"]["code"] == "invalid_value"
    engine, _ = started("ga", model="fault-garbage", fault=Fault.GARBAGE)
    assert isinstance(send(engine, user_text_item("x"))[0], Garbage)
    stalled = Engine("ga", "fault-stall", fault=Fault.STALL)
    stalled.open()
    assert send(stalled, session_update(SessionSettings(), Dialect.GA)) == [Stall()]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_relays_client_events_are_valid_for_the_dialect(dialect: str) -> None:
    from fake_upstream.validation import validate_client_event

    for event in (
        session_update(SessionSettings(), Dialect(dialect)),
        session_update(
            SessionSettings(output_modality="text", transcription_model=None), Dialect(dialect)
        ),
        user_text_item("hi"),
        response_create("relay_response_create_1"),
        truncate_item("item_1", 0, 120),
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x00\x01").decode()},
    ):
        validate_client_event(dialect, event)  # type: ignore[arg-type]

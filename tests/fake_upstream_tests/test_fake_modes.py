"""Invalid client events, manual commit mode and benchmark mode of the fake upstream's engine."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fake_support import (
    AUDIO_DELTA,
    BYTES_PER_MS,
    DIALECTS,
    TRANSCRIPT_DELTA,
    append_all,
    audio_of,
    events,
    kinds,
    of_kind,
    send,
    session_update,
    speech_pcm,
    started,
    user_text,
)

from fake_upstream.engine import Engine
from fake_upstream.protocol import DialectName

GA_BAD_SESSIONS = [
    ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
    (
        {"type": "realtime", "output_modalities": ["text", "audio"]},
        "invalid_value",
        "session.output_modalities",
    ),
    (
        {"type": "realtime", "output_modalities": ["video"]},
        "invalid_value",
        "session.output_modalities",
    ),
    ({"output_modalities": ["text"]}, "missing_required_parameter", "session.type"),
    (
        {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
        "invalid_value",
        "session.audio.input.format.rate",
    ),
    (
        {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}},
        },
        "invalid_value",
        "session.audio.input.turn_detection.threshold",
    ),
]


@pytest.mark.parametrize(
    ("frame", "code", "param"),
    [
        ("{nope", "invalid_json", None),
        ("[1, 2]", "invalid_value", None),
        ('{"type":"no.such.event","event_id":"e1"}', "invalid_value", "type"),
        ('{"type":"conversation.item.create"}', "missing_required_parameter", "item"),
        ('{"type":"input_audio_buffer.append","audio":"!!!"}', "invalid_value", "audio"),
        (
            '{"type":"response.create","response":{"modalities":["text"]}}',
            "unknown_parameter",
            "response.modalities",
        ),
        ('{"type":"input_audio_buffer.commit"}', "input_audio_buffer_commit_empty", None),
        ('{"type":"conversation.item.delete","item_id":"item_9999"}', "item_not_found", "item_id"),
    ],
)
def test_invalid_client_events_get_an_error_and_the_session_stays_open(
    frame: str, code: str, param: str | None
) -> None:
    detection = None if "commit" in frame else True
    engine, _ = started("ga", update=session_update("ga", turn_detection=detection))
    answer = events(engine.receive(frame))
    assert kinds(answer) == ["error"]
    assert answer[0]["error"]["code"] == code and answer[0]["error"]["param"] == param
    assert answer[0]["error"]["type"] == "invalid_request_error"
    assert answer[0]["error"]["event_id"] == ("e1" if '"e1"' in frame else None)
    send(engine, user_text("still here"))
    assert kinds(send(engine, {"type": "response.create"}))[-2] == "response.done"


def test_binary_frames_are_answered_with_an_error() -> None:
    engine, _ = started("ga")
    assert events(engine.receive(b"\x00\x01"))[0]["error"]["code"] == "invalid_value"


@pytest.mark.parametrize(("session", "code", "param"), GA_BAD_SESSIONS)
def test_invalid_ga_sessions_are_refused_and_the_session_is_unchanged(
    session: dict[str, Any], code: str, param: str
) -> None:
    engine, _ = started("ga")
    before = engine.session
    answer = events(send(engine, {"type": "session.update", "session": session}))
    assert kinds(answer) == ["error"]
    assert (answer[0]["error"]["code"], answer[0]["error"]["param"]) == (code, param)
    assert engine.session == before


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"type": "realtime"}, "session.type"),
        ({"modalities": ["audio"]}, "session.modalities"),
        ({"input_audio_format": "g711_ulaw"}, "session.input_audio_format"),
        ({"output_modalities": ["text"]}, "session.output_modalities"),
    ],
)
def test_invalid_beta_sessions_are_refused(session: dict[str, Any], param: str) -> None:
    engine, _ = started("beta")
    answer = events(send(engine, {"type": "session.update", "session": session}))
    assert kinds(answer) == ["error"] and answer[0]["error"]["param"] == param


def test_without_validation_malformed_events_still_get_an_error() -> None:
    engine, _ = started("ga", validate=False)
    answer = events(send(engine, {"type": "conversation.item.truncate", "item_id": "x"}))
    assert kinds(answer) == ["error"]
    send(engine, user_text("fine"))
    assert "response.done" in kinds(send(engine, {"type": "response.create"}))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_manual_commit_mode(dialect: DialectName) -> None:
    engine, _ = started(dialect, update=session_update(dialect, turn_detection=None))
    empty = events(send(engine, {"type": "input_audio_buffer.commit", "event_id": "c1"}))
    assert empty[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    assert empty[0]["error"]["event_id"] == "c1"
    pcm = speech_pcm()
    assert append_all(engine, pcm) == []  # no VAD: nothing happens by itself
    assert kinds(send(engine, {"type": "input_audio_buffer.clear"})) == [
        "input_audio_buffer.cleared"
    ]
    assert kinds(send(engine, {"type": "input_audio_buffer.commit"})) == ["error"]
    append_all(engine, pcm)
    committed = send(engine, {"type": "input_audio_buffer.commit"})
    transcription = "conversation.item.input_audio_transcription"
    assert kinds(committed) == [
        "input_audio_buffer.committed",
        "conversation.item.added" if dialect == "ga" else "conversation.item.created",
        *[f"{transcription}.delta"] * 3,
        f"{transcription}.completed",
        *(["conversation.item.done"] if dialect == "ga" else []),
    ]
    item_id = committed[0]["item_id"]  # type: ignore[index]
    assert engine.item_audio[item_id] == pcm
    assert of_kind(committed, f"{transcription}.completed")[0]["transcript"] == "[speech 2.00 s]"
    answer = send(engine, {"type": "response.create"})
    assert audio_of(answer, dialect) == pcm


@pytest.mark.parametrize("dialect", DIALECTS)
def test_benchmark_mode_makes_a_turn_of_every_n_bytes(dialect: DialectName) -> None:
    engine, _ = started(dialect, turn_trigger_bytes=48_000, reply_audio_ms=1000, validate=False)
    assert append_all(engine, bytes(47_040), frame_bytes=960) == []
    turn = append_all(engine, bytes(960), frame_bytes=960)
    found = kinds(turn)
    assert found[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
    ]
    assert found[-1] == "response.done" and found.count("response.done") == 1
    assert found.count(AUDIO_DELTA[dialect]) == 10 and found.count(TRANSCRIPT_DELTA[dialect]) == 5
    assert len(audio_of(turn, dialect)) == 1000 * BYTES_PER_MS
    assert of_kind(turn, "input_audio_buffer.speech_stopped")[0]["audio_end_ms"] == 1000
    # The next turn starts where this one ended; two turns in one append come out whole, in order.
    two = send(
        engine,
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(96_000)).decode()},
    )
    assert kinds(two).count("response.done") == 2
    assert of_kind(two, "input_audio_buffer.speech_started")[0]["audio_start_ms"] == 1000


def test_benchmark_mode_lets_a_client_truncate_its_last_replies() -> None:
    """The reply still playing when the next turn starts is truncated by a relay."""
    engine, _ = started("ga", turn_trigger_bytes=4800, reply_audio_ms=1000, validate=False)
    audio = base64.b64encode(bytes(4800)).decode()
    replies = []
    for _ in range(3):
        turn = send(engine, {"type": "input_audio_buffer.append", "audio": audio})
        replies.append(of_kind(turn, AUDIO_DELTA["ga"])[0]["item_id"])
    truncate = {"type": "conversation.item.truncate", "content_index": 0, "audio_end_ms": 400}
    answer = events(send(engine, {**truncate, "item_id": replies[1]}))
    assert answer[0]["type"] == "conversation.item.truncated"
    # Only the last two replies are remembered (benchmarks run for hours).
    answer = events(send(engine, {**truncate, "item_id": replies[0]}))
    assert answer[0]["error"]["code"] == "item_not_found"


def test_benchmark_mode_checks_only_the_type_of_appended_audio() -> None:
    engine, _ = started("ga", turn_trigger_bytes=4800, validate=False)
    assert send(engine, {"type": "input_audio_buffer.append", "audio": "AAAA" * 1600}) != []
    bad = events(send(engine, {"type": "input_audio_buffer.append", "audio": 12}))
    assert bad[0]["error"]["code"] == "missing_required_parameter"


def test_benchmark_mode_still_answers_text_turns() -> None:
    engine, _ = started("ga", turn_trigger_bytes=4800)
    send(engine, user_text("hi"))
    assert "response.done" in kinds(send(engine, {"type": "response.create"}))


def test_item_retrieve_and_delete() -> None:
    engine = Engine("ga", "m")
    engine.open()
    item_id = events(send(engine, user_text("keep me")))[0]["item"]["id"]
    retrieved = events(send(engine, {"type": "conversation.item.retrieve", "item_id": item_id}))
    assert retrieved[0]["item"]["content"][0]["text"] == "keep me"
    deleted = events(send(engine, {"type": "conversation.item.delete", "item_id": item_id}))
    assert deleted[0] == {
        "type": "conversation.item.deleted",
        "event_id": deleted[0]["event_id"],
        "item_id": item_id,
    }
    assert item_id not in engine.items

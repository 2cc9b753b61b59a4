"""The fake upstream's engine, driven directly: what each client event causes, in order."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fake_support import (
    AUDIO_DELTA,
    BYTES_PER_MS,
    DIALECTS,
    ITEM_ADDED,
    TEXT_DELTA,
    TRANSCRIPT_DELTA,
    append_all,
    append_event,
    audio_of,
    events,
    kinds,
    of_kind,
    send,
    session_update,
    speech_pcm,
    started,
    take,
    user_text,
)

from fake_upstream.engine import Engine
from fake_upstream.protocol import DialectName


def response_sequence(dialect: DialectName, deltas: list[str]) -> list[str]:
    audio = AUDIO_DELTA[dialect] in deltas
    done = (
        [
            AUDIO_DELTA[dialect].replace("delta", "done"),
            TRANSCRIPT_DELTA[dialect].replace("delta", "done"),
        ]
        if audio
        else [TEXT_DELTA[dialect].replace("delta", "done")]
    )
    item_done = ["conversation.item.done"] if dialect == "ga" else []
    return [
        "response.created",
        "response.output_item.added",
        ITEM_ADDED[dialect],
        "response.content_part.added",
        *deltas,
        *done,
        "response.content_part.done",
        "response.output_item.done",
        *item_done,
        "response.done",
        "rate_limits.updated",
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_session_is_created_with_the_real_defaults_and_updated_by_merging(
    dialect: DialectName,
) -> None:
    engine = Engine(dialect, "gpt-realtime")
    created = events(engine.open())
    assert kinds(created) == ["session.created"] and created[0]["event_id"] == "event_0001"
    session = created[0]["session"]
    detection = (
        session["audio"]["input"]["turn_detection"]
        if dialect == "ga"
        else session["turn_detection"]
    )
    assert detection == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }
    voice_update = (
        {"type": "realtime", "audio": {"output": {"voice": "verse"}}}
        if dialect == "ga"
        else {"voice": "verse"}
    )
    updated = events(send(engine, {"type": "session.update", "session": voice_update}))
    assert kinds(updated) == ["session.updated"]
    merged = updated[0]["session"]
    if dialect == "ga":
        assert merged["audio"]["output"] == {
            "format": {"type": "audio/pcm", "rate": 24000},
            "voice": "verse",
            "speed": 1.0,
        }
        assert merged["output_modalities"] == ["audio"]
    else:
        assert merged["voice"] == "verse" and merged["modalities"] == ["text", "audio"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_turn_has_the_real_event_sequence(dialect: DialectName) -> None:
    engine, _ = started(dialect)
    item = send(engine, user_text("hello there"))
    assert kinds(item) == (
        ["conversation.item.added", "conversation.item.done"]
        if dialect == "ga"
        else ["conversation.item.created"]
    )
    turn = send(engine, {"type": "response.create", "event_id": "relay_1"})
    deltas = [k for k in kinds(turn) if k.endswith(".delta")]
    assert kinds(turn) == response_sequence(dialect, deltas)
    transcript = "".join(e["delta"] for e in of_kind(turn, TRANSCRIPT_DELTA[dialect]))
    assert transcript == "You said: hello there"
    assert len(of_kind(turn, TRANSCRIPT_DELTA[dialect])) == 4  # word by word
    audio = audio_of(turn, dialect)
    assert len(audio) == 4 * 80 * BYTES_PER_MS  # a quiet tone, 80 ms per word
    assert all(
        len(base64.b64decode(e["delta"])) <= 4800 for e in of_kind(turn, AUDIO_DELTA[dialect])
    )
    done = of_kind(turn, "response.done")[0]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] > 0
    assert done["output"][0]["content"][0]["transcript"] == transcript
    assert engine.response_active is False


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_modality_answers_with_text_only(dialect: DialectName) -> None:
    engine, _ = started(dialect, update=session_update(dialect, modality="text"))
    send(engine, user_text("hi"))
    turn = send(engine, {"type": "response.create"})
    assert kinds(turn) == response_sequence(dialect, [TEXT_DELTA[dialect]] * 3)
    assert "".join(e["delta"] for e in of_kind(turn, TEXT_DELTA[dialect])) == "You said: hi"


def test_ids_come_from_counters_and_a_run_is_reproducible() -> None:
    def run() -> list[dict[str, Any]]:
        engine, out = started("ga")
        out += send(engine, user_text("same again"))
        out += send(engine, {"type": "response.create"})
        out += append_all(engine, speech_pcm())
        return events(out)

    first = run()
    assert first == run()
    assert [e["event_id"] for e in first] == [f"event_{n:04d}" for n in range(1, len(first) + 1)]
    assert of_kind(first, "response.created")[0]["response"]["id"] == "resp_0001"
    assert of_kind(first, "conversation.item.added")[0]["item"]["id"] == "item_0001"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_spoken_turn_is_detected_committed_transcribed_and_echoed(dialect: DialectName) -> None:
    engine, _ = started(dialect)
    pcm = speech_pcm(lead_ms=500, speech_ms=1000, tail_ms=700)
    turn = append_all(engine, pcm, frame_bytes=960)
    found = kinds(turn)
    user_item = ["conversation.item.added"] if dialect == "ga" else ["conversation.item.created"]
    item_done = ["conversation.item.done"] if dialect == "ga" else []
    transcription = "conversation.item.input_audio_transcription"
    first_response = found.index("response.created")
    assert found[:first_response] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        *user_item,
        *[f"{transcription}.delta"] * 3,
        f"{transcription}.completed",
        *item_done,
    ]
    started_event, stopped = (
        of_kind(turn, "input_audio_buffer.speech_started")[0],
        of_kind(turn, "input_audio_buffer.speech_stopped")[0],
    )
    assert started_event["audio_start_ms"] == 200 and stopped["audio_end_ms"] == 2000
    item_id = started_event["item_id"]
    assert (
        stopped["item_id"] == item_id == of_kind(turn, "input_audio_buffer.committed")[0]["item_id"]
    )
    committed_audio = engine.item_audio[item_id]
    assert committed_audio == pcm[200 * BYTES_PER_MS : 2000 * BYTES_PER_MS]
    completed = of_kind(turn, f"{transcription}.completed")[0]
    assert completed["transcript"] == "[speech 1.80 s]"
    if dialect == "ga":
        assert (
            of_kind(turn, "conversation.item.done")[0]["item"]["content"][0]["transcript"]
            == "[speech 1.80 s]"
        )
        assert (
            of_kind(turn, "conversation.item.added")[0]["item"]["content"][0]["transcript"] is None
        )
    # The answer echoes the committed item's audio exactly, in deltas of 100 ms.
    assert audio_of(turn, dialect) == committed_audio
    assert [len(base64.b64decode(e["delta"])) for e in of_kind(turn, AUDIO_DELTA[dialect])] == [
        4800
    ] * 18
    transcript = "".join(e["delta"] for e in of_kind(turn, TRANSCRIPT_DELTA[dialect]))
    assert transcript == "I heard 1.80 seconds of audio."
    assert found[first_response:] == response_sequence(
        dialect, found[first_response + 4 : -7 + (dialect == "beta")]
    )


def test_without_input_transcription_there_is_no_transcript() -> None:
    engine, _ = started("ga", update=session_update("ga", transcription=False))
    turn = append_all(engine, speech_pcm())
    assert not [k for k in kinds(turn) if "transcription" in k]
    assert "response.done" in kinds(turn)


def test_create_response_false_commits_without_answering() -> None:
    detection = {"type": "server_vad", "create_response": False}
    engine, _ = started("ga", update=session_update("ga", turn_detection=detection))
    turn = append_all(engine, speech_pcm())
    assert "input_audio_buffer.committed" in kinds(turn) and "response.created" not in kinds(turn)
    # An explicit response.create then answers the spoken item with its own audio.
    answer = send(engine, {"type": "response.create"})
    item_id = of_kind(turn, "input_audio_buffer.committed")[0]["item_id"]
    assert audio_of(answer, "ga") == engine.item_audio[item_id]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_barge_in_cancels_the_response_in_progress(dialect: DialectName) -> None:
    engine, _ = started(dialect)
    send(engine, user_text("tell me a long story please"))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    early = take(engine, 6)  # created, output item, item added, part added, two deltas
    assert engine.response_active
    engine.receive_frame(json.dumps(append_event(speech_pcm(lead_ms=0, speech_ms=300, tail_ms=0))))
    rest = engine.drain()
    assert kinds(rest)[0] == "input_audio_buffer.speech_started"
    done_kinds = [
        AUDIO_DELTA[dialect].replace("delta", "done"),
        TRANSCRIPT_DELTA[dialect].replace("delta", "done"),
    ]
    item_done = ["conversation.item.done"] if dialect == "ga" else []
    assert kinds(rest)[1:] == [
        *done_kinds,
        "response.content_part.done",
        "response.output_item.done",
        *item_done,
        "response.done",
        "rate_limits.updated",
    ]
    done = of_kind(rest, "response.done")[0]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert done["output"][0]["status"] == "incomplete"
    said = "".join(e["delta"] for e in of_kind(early, TRANSCRIPT_DELTA[dialect]))
    assert (
        of_kind(rest, TRANSCRIPT_DELTA[dialect].replace("delta", "done"))[0]["transcript"] == said
    )
    assert not engine.response_active
    # When the user stops, the turn is answered as usual.
    after = append_all(engine, bytes(600 * BYTES_PER_MS))
    assert kinds(after)[0] == "input_audio_buffer.speech_stopped" and "response.done" in kinds(
        after
    )


def test_barge_in_leaves_the_response_alone_when_interrupt_response_is_false() -> None:
    detection = {"type": "server_vad", "interrupt_response": False}
    engine, _ = started("ga", update=session_update("ga", turn_detection=detection))
    send(engine, user_text("hello"))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    take(engine, 5)
    engine.receive_frame(json.dumps(append_event(speech_pcm(lead_ms=0, speech_ms=300, tail_ms=0))))
    rest = engine.drain()
    assert "input_audio_buffer.speech_started" in kinds(rest)
    assert of_kind(rest, "response.done")[0]["response"]["status"] == "completed"


def test_response_cancel_cancels_the_active_response_or_says_there_is_none() -> None:
    engine, _ = started("ga")
    send(engine, user_text("hello"))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    take(engine, 2)  # response.created, response.output_item.added
    cancelled = send(engine, {"type": "response.cancel"})
    assert kinds(cancelled) == [
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
    ]
    done = of_kind(cancelled, "response.done")[0]["response"]
    assert done["status_details"]["reason"] == "client_cancelled"
    assert done["output"][0]["content"] == []
    nothing = events(send(engine, {"type": "response.cancel", "event_id": "c2"}))
    assert nothing[0]["error"]["code"] == "response_cancel_not_active"
    assert nothing[0]["error"]["event_id"] == "c2"


def test_response_create_while_one_is_active_is_refused_and_the_session_goes_on() -> None:
    engine, _ = started("ga")
    send(engine, user_text("hello"))
    engine.receive_frame(json.dumps({"type": "response.create", "event_id": "first"}))
    take(engine, 3)
    engine.receive_frame(json.dumps({"type": "response.create", "event_id": "second"}))
    rest = engine.drain()
    errors = of_kind(rest, "error")
    assert (
        len(errors) == 1
        and errors[0]["error"]["code"] == "conversation_already_has_active_response"
    )
    assert (
        errors[0]["error"]["event_id"] == "second"
        and errors[0]["error"]["type"] == "invalid_request_error"
    )
    assert [e["response"]["status"] for e in of_kind(rest, "response.done")] == ["completed"]
    assert kinds(send(engine, {"type": "response.create"}))[-2] == "response.done"


def test_truncate_within_beyond_unknown_and_user_items() -> None:
    engine, _ = started("ga")
    send(engine, user_text("hello there friend"))
    turn = send(engine, {"type": "response.create"})
    item_id = of_kind(turn, AUDIO_DELTA["ga"])[0]["item_id"]
    assert len(audio_of(turn, "ga")) == 400 * BYTES_PER_MS  # five words, 80 ms each

    def truncate(item: str, end_ms: int, index: int = 0) -> dict[str, Any]:
        event = {
            "type": "conversation.item.truncate",
            "event_id": "t",
            "item_id": item,
            "content_index": index,
            "audio_end_ms": end_ms,
        }
        answer = events(send(engine, event))
        assert len(answer) == 1
        return answer[0]

    assert truncate(item_id, 401)["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": "Audio content of 400ms is already shorter than 401ms",
        "param": "audio_end_ms",
        "event_id": "t",
    }
    truncated = truncate(item_id, 100)
    assert truncated["type"] == "conversation.item.truncated"
    assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (
        item_id,
        0,
        100,
    )
    assert truncate(item_id, 150)["error"]["param"] == "audio_end_ms"  # now 100 ms long
    assert truncate(item_id, 50, index=1)["error"]["param"] == "content_index"
    assert truncate("item_nope", 1)["error"]["code"] == "item_not_found"
    user_id = next(i for i, item in engine.items.items() if item["role"] == "user")
    assert truncate(user_id, 1)["error"]["param"] == "item_id"


def test_truncate_of_the_item_being_produced_checks_the_audio_sent_so_far() -> None:
    engine, _ = started("ga")
    send(engine, user_text("one two three four five six seven eight"))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    sent = take(engine, 8)  # up to and including the first audio delta (100 ms)
    item_id = of_kind(sent, AUDIO_DELTA["ga"])[0]["item_id"]
    event = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0}
    engine.receive_frame(json.dumps({**event, "audio_end_ms": 101}))
    assert kinds(take(engine, 1)) == ["error"]
    engine.receive_frame(json.dumps({**event, "audio_end_ms": 100}))
    assert kinds(take(engine, 1)) == ["conversation.item.truncated"]
    assert engine.response_active

"""The session state machine, driven directly: events in, messages and upstream events out."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from trio_relay.browser import (
    AssistantAudio,
    Connected,
    ErrorMessage,
    SpeechStarted,
    TextDelta,
    TextDone,
    Transcription,
    UserMessage,
)
from trio_relay.config import Dialect, SessionSettings
from trio_relay.errors import SessionExpired, UpstreamFailed
from trio_relay.translator import Translator

NOW = 100.0  # the session's clock, where a test does not care


def connected(dialect: Dialect = Dialect.GA) -> Translator:
    translator = Translator(SessionSettings(greeting="hello"), dialect)
    actions = translator.upstream_event({"type": "session.updated", "session": {}})
    assert actions.to_client == [Connected("hello")]
    return translator


def audio_delta(
    item_id: str, pcm: bytes, name: str = "response.output_audio.delta"
) -> dict[str, Any]:
    return {
        "type": name,
        "item_id": item_id,
        "content_index": 0,
        "delta": base64.b64encode(pcm).decode(),
    }


def test_connected_is_sent_once_after_session_updated() -> None:
    translator = Translator(SessionSettings(), Dialect.GA)
    assert not translator.upstream_event({"type": "session.created"}).to_client
    assert not translator.connected
    first = translator.upstream_event({"type": "session.updated"})
    assert [type(m) for m in first.to_client] == [Connected]
    assert translator.upstream_event({"type": "session.updated"}).to_client == []


def test_user_message_creates_item_then_response() -> None:
    translator = connected()
    events = translator.user_message(UserMessage("hi there"), NOW).to_upstream
    assert [e["type"] for e in events] == ["conversation.item.create", "response.create"]
    assert events[0]["item"]["content"] == [{"type": "input_text", "text": "hi there"}]
    assert translator.response_active


def test_response_create_waits_for_the_active_response_to_finish() -> None:
    translator = connected()
    translator.user_message(UserMessage("one"), NOW)
    translator.upstream_event({"type": "response.created", "response": {}})
    second = translator.user_message(UserMessage("two"), NOW).to_upstream
    assert [e["type"] for e in second] == ["conversation.item.create"]
    done = translator.upstream_event({"type": "response.done", "response": {}})
    assert [e["type"] for e in done.to_upstream] == ["response.create"]
    assert translator.response_active and not translator.response_create_queued


def test_a_response_started_by_server_vad_also_defers_response_create() -> None:
    translator = connected()
    translator.upstream_event({"type": "response.created", "response": {}})
    events = translator.user_message(UserMessage("typed during a spoken answer"), NOW).to_upstream
    assert [e["type"] for e in events] == ["conversation.item.create"]
    assert translator.response_create_queued


def test_active_response_error_for_our_create_is_retried_after_done_not_shown() -> None:
    translator = connected()
    create = translator.user_message(UserMessage("one"), NOW).to_upstream[1]
    error = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "conversation_already_has_active_response",
            "message": "Conversation already has an active response",
            "event_id": create["event_id"],
        },
    }
    assert translator.upstream_event(error).to_client == []
    done = translator.upstream_event({"type": "response.done", "response": {}})
    assert [e["type"] for e in done.to_upstream] == ["response.create"]


def test_a_failed_response_create_does_not_block_later_turns() -> None:
    translator = connected()
    create = translator.user_message(UserMessage("one"), NOW).to_upstream[1]
    actions = translator.upstream_event(
        {
            "type": "error",
            "error": {"code": "invalid_value", "message": "bad", "event_id": create["event_id"]},
        }
    )
    assert actions.to_client == [
        ErrorMessage("upstream_error", "bad", upstream_code="invalid_value")
    ]
    assert not translator.response_active
    again = translator.user_message(UserMessage("two"), NOW).to_upstream
    assert [e["type"] for e in again] == ["conversation.item.create", "response.create"]


@pytest.mark.parametrize(
    ("delta", "done"),
    [
        ("response.output_text.delta", "response.output_text.done"),
        ("response.output_audio_transcript.delta", "response.output_audio_transcript.done"),
        ("response.text.delta", "response.text.done"),
        ("response.audio_transcript.delta", "response.audio_transcript.done"),
    ],
)
def test_text_deltas_stream_then_text_done_in_both_dialects(delta: str, done: str) -> None:
    translator = connected()
    out = []
    for piece in ("Hel", "lo"):
        out += translator.upstream_event(
            {"type": delta, "item_id": "item_1", "content_index": 0, "delta": piece}
        ).to_client
    out += translator.upstream_event(
        {"type": done, "item_id": "item_1", "content_index": 0}
    ).to_client
    out += translator.upstream_event(
        {"type": "response.content_part.done", "item_id": "item_1", "content_index": 0}
    ).to_client
    out += translator.upstream_event({"type": "response.done", "response": {}}).to_client
    assert out == [TextDelta("item_1-0", "Hel"), TextDelta("item_1-0", "lo"), TextDone("item_1-0")]


def test_text_only_in_the_done_event_is_not_lost() -> None:
    translator = connected()
    out = translator.upstream_event(
        {"type": "response.output_text.done", "item_id": "i", "content_index": 1, "text": "all"}
    ).to_client
    assert out == [TextDelta("i-1", "all"), TextDone("i-1")]


def test_response_done_closes_text_streams_left_open() -> None:
    translator = connected()
    translator.upstream_event(
        {"type": "response.output_text.delta", "item_id": "i", "content_index": 0, "delta": "x"}
    )
    assert translator.upstream_event({"type": "response.done"}).to_client == [TextDone("i-0")]


def test_assistant_audio_is_decoded_and_kept_even_length() -> None:
    translator = connected()
    first = translator.upstream_event(audio_delta("a1", b"\x01\x02\x03"))
    second = translator.upstream_event(audio_delta("a1", b"\x04", name="response.audio.delta"))
    assert first.to_client == [AssistantAudio(b"\x01\x02", "a1")]
    assert second.to_client == [AssistantAudio(b"\x03\x04", "a1")]


def test_barge_in_truncates_the_assistant_item_at_the_audio_sent() -> None:
    translator = connected()
    produced = translator.upstream_event(audio_delta("a1", b"\x00" * 4800)).to_client
    translator.upstream_event(audio_delta("a1", b"\x00" * 4800))  # produced, never sent
    assert isinstance(produced[0], AssistantAudio)
    translator.audio_sent(produced[0])  # 100 ms reached the browser
    actions = translator.upstream_event(
        {"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 0}
    )
    assert actions.to_client == [SpeechStarted()]
    assert actions.to_upstream == [
        {
            "type": "conversation.item.truncate",
            "item_id": "a1",
            "content_index": 0,
            "audio_end_ms": 100,
        }
    ]
    again = translator.upstream_event(
        {"type": "input_audio_buffer.speech_started", "item_id": "u2"}
    )
    assert again.to_upstream == []


def test_barge_in_truncates_at_real_time_playback_when_audio_was_sent_ahead() -> None:
    translator = connected()
    produced = translator.upstream_event(audio_delta("a1", b"\x00" * 48_000)).to_client
    assert isinstance(produced[0], AssistantAudio)
    translator.audio_sent(produced[0], now=10.0)  # 1 s of audio sent at t=10 s
    actions = translator.upstream_event(
        {"type": "input_audio_buffer.speech_started", "item_id": "u1"}, now=10.25
    )
    # The browser can only have played 250 ms of it, not the whole second it was sent.
    assert actions.to_upstream[0]["audio_end_ms"] == 250


def test_no_truncation_when_the_whole_item_has_played() -> None:
    translator = connected()
    produced = translator.upstream_event(audio_delta("a1", b"\x00" * 48_000)).to_client
    assert isinstance(produced[0], AssistantAudio)
    translator.audio_sent(produced[0], now=10.0)
    actions = translator.upstream_event(
        {"type": "input_audio_buffer.speech_started", "item_id": "u1"}, now=11.5
    )
    assert actions.to_upstream == []


def test_no_truncation_when_no_assistant_audio_was_sent() -> None:
    translator = connected()
    translator.upstream_event(audio_delta("a1", b"\x00" * 480))
    actions = translator.upstream_event(
        {"type": "input_audio_buffer.speech_started", "item_id": "u1"}
    )
    assert actions.to_upstream == []


def test_transcription_follows_speech_started_even_when_upstream_skipped_it() -> None:
    translator = connected()
    event = {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "u9",
        "content_index": 0,
        "transcript": "hello",
    }
    assert translator.upstream_event(event).to_client == [
        SpeechStarted(),
        Transcription("u9", "hello"),
    ]
    translator.upstream_event({"type": "input_audio_buffer.speech_started", "item_id": "u10"})
    event["item_id"] = "u10"
    assert translator.upstream_event(event).to_client == [Transcription("u10", "hello")]


def test_recoverable_upstream_error_is_reported_and_session_goes_on() -> None:
    translator = connected()
    actions = translator.upstream_event(
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "code": "invalid_value", "message": "nope"},
        }
    )
    assert actions.end is None
    assert actions.to_client == [
        ErrorMessage("upstream_error", "nope", upstream_code="invalid_value")
    ]


@pytest.mark.parametrize("code", ["invalid_api_key", "insufficient_quota"])
def test_fatal_upstream_errors_end_the_session(code: str) -> None:
    actions = connected().upstream_event({"type": "error", "error": {"code": code, "message": "m"}})
    assert isinstance(actions.end, UpstreamFailed)
    assert actions.end.upstream_code == code and actions.end.close_code == 1011


def test_session_expired_ends_with_going_away() -> None:
    actions = connected().upstream_event(
        {"type": "error", "error": {"code": "session_expired", "message": "60 minutes"}}
    )
    assert isinstance(actions.end, SessionExpired) and actions.end.close_code == 1001


def test_an_error_before_the_session_is_configured_is_fatal() -> None:
    translator = Translator(SessionSettings(), Dialect.GA)
    actions = translator.upstream_event(
        {"type": "error", "error": {"code": "invalid_value", "message": "bad voice"}}
    )
    assert isinstance(actions.end, UpstreamFailed)


@pytest.mark.parametrize("frame", ["not json", "[1,2]", '{"no":"type"}', b"\x00\x01"])
def test_garbage_from_upstream_ends_the_session(frame: str | bytes) -> None:
    actions = connected().upstream_frame(frame)
    assert isinstance(actions.end, UpstreamFailed)


def test_unknown_upstream_events_are_counted_and_ignored() -> None:
    translator = connected()
    actions = translator.upstream_frame(json.dumps({"type": "brand.new.event", "x": 1}))
    assert actions.to_client == [] and actions.end is None
    assert translator.unknown_events["brand.new.event"] == 1


def test_malformed_known_event_ends_the_session_instead_of_crashing() -> None:
    actions = connected().upstream_event(
        {"type": "response.output_audio.delta", "item_id": "a", "delta": "!!"}
    )
    assert isinstance(actions.end, UpstreamFailed)

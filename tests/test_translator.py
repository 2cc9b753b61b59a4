"""The session state machine, driven directly: events in, messages and upstream events out."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from trio_relay.budgets import Budgets
from trio_relay.config import Dialect, Limits, SessionSettings
from trio_relay.errors import SessionExpired, UpstreamFailed
from trio_relay.translator import Actions, RateLimited, ResponseFinished, Translator

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


# --- responses that end badly, the response timeout, the budgets -------------------------------


def translator_with(**limits: Any) -> Translator:
    translator = Translator(SessionSettings(), Dialect.GA, limits=Limits(**limits))
    translator.upstream_event({"type": "session.updated"})
    return translator


def created(response_id: str) -> dict[str, Any]:
    return {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}}


def done(response_id: str, status: str = "completed", **details: Any) -> dict[str, Any]:
    status_details = {"type": status, **details} if details else None
    response = {"id": response_id, "status": status, "status_details": status_details}
    return {"type": "response.done", "response": response}


def server_error(message: str = "The server had an error while processing your request.") -> Any:
    return {"type": "server_error", "code": None, "message": message}


def text_delta(response_id: str, piece: str = "Hi") -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "response_id": response_id,
        "item_id": f"item_{response_id}",
        "content_index": 0,
        "delta": piece,
    }


def errors(actions: Actions) -> list[ErrorMessage]:
    return [m for m in actions.to_client if isinstance(m, ErrorMessage)]


def finished(actions: Actions) -> list[str]:
    return [o.status for o in actions.observations if isinstance(o, ResponseFinished)]


def upstream_types(actions: Actions) -> list[str]:
    return [e["type"] for e in actions.to_upstream]


def test_a_server_error_failure_is_retried_once_and_the_browser_hears_nothing() -> None:
    translator = connected()
    translator.user_message(UserMessage("hello"), NOW)
    translator.upstream_event(created("r1"), NOW)
    actions = translator.upstream_event(done("r1", "failed", error=server_error()), NOW)
    assert actions.to_client == []
    assert upstream_types(actions) == ["response.create"]
    assert ResponseFinished("failed", "server_error", retried=True) in actions.observations
    translator.upstream_event(created("r2"), NOW)
    assert translator.upstream_event(done("r2"), NOW).to_client == []


def test_a_failed_retry_reaches_the_browser_with_the_upstreams_reason_and_code() -> None:
    translator = connected()
    translator.user_message(UserMessage("hello"), NOW)
    translator.upstream_event(created("r1"), NOW)
    translator.upstream_event(done("r1", "failed", error=server_error()), NOW)
    translator.upstream_event(created("r2"), NOW)
    error = {"type": "server_error", "code": "engine_overloaded", "message": "Overloaded."}
    actions = translator.upstream_event(done("r2", "failed", error=error), NOW)
    assert errors(actions) == [
        ErrorMessage(
            "response_failed",
            "the answer failed upstream: Overloaded. (engine_overloaded)",
            upstream_code="engine_overloaded",
        )
    ]
    assert actions.to_upstream == [] and not translator.response_active
    assert "failed" in finished(actions)
    # The session goes on: the next turn asks again.
    again = translator.user_message(UserMessage("again"), NOW)
    assert upstream_types(again) == ["conversation.item.create", "response.create"]


def test_a_failure_that_is_not_the_servers_fault_is_reported_not_retried() -> None:
    translator = connected()
    translator.upstream_event(created("r1"), NOW)
    error = {"type": "invalid_request_error", "code": "invalid_value", "message": "Bad audio."}
    actions = translator.upstream_event(done("r1", "failed", error=error), NOW)
    assert actions.to_upstream == []
    assert [(e.code, e.upstream_code) for e in errors(actions)] == [
        ("response_failed", "invalid_value")
    ]


def test_with_retries_off_a_server_error_failure_is_reported_at_once() -> None:
    translator = translator_with(retry_failed_responses=False)
    translator.user_message(UserMessage("hello"), NOW)
    translator.upstream_event(created("r1"), NOW)
    actions = translator.upstream_event(done("r1", "failed", error=server_error()), NOW)
    assert actions.to_upstream == []
    assert [(e.code, e.upstream_code) for e in errors(actions)] == [
        ("response_failed", "server_error")
    ]


def test_a_retry_waits_behind_nothing_and_a_queued_turn_shares_it() -> None:
    translator = connected()
    translator.user_message(UserMessage("one"), NOW)
    translator.upstream_event(created("r1"), NOW)
    translator.user_message(UserMessage("two"), NOW)  # queued behind r1
    actions = translator.upstream_event(done("r1", "failed", error=server_error()), NOW)
    assert upstream_types(actions) == ["response.create"]  # one create answers both
    assert not translator.response_create_queued


def test_an_incomplete_response_is_reported_with_its_reason() -> None:
    translator = connected()
    translator.upstream_event(created("r1"), NOW)
    translator.upstream_event(text_delta("r1"), NOW)
    actions = translator.upstream_event(done("r1", "incomplete", reason="max_output_tokens"), NOW)
    assert actions.to_client[0] == TextDone("item_r1-0")
    assert errors(actions) == [
        ErrorMessage(
            "response_incomplete",
            "the answer was cut short upstream: max_output_tokens",
            upstream_code="max_output_tokens",
        )
    ]
    assert "incomplete" in finished(actions)


def test_a_cancelled_response_is_reported_unless_the_user_barged_in() -> None:
    translator = connected()
    translator.upstream_event(created("r1"), NOW)
    actions = translator.upstream_event(done("r1", "cancelled"), NOW)
    assert [e.code for e in errors(actions)] == ["response_cancelled"]

    translator.upstream_event(created("r2"), NOW)
    translator.upstream_event({"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert errors(translator.upstream_event(done("r2", "cancelled"), NOW)) == []

    translator.upstream_event(created("r3"), NOW)
    barge_in = done("r3", "cancelled", reason="turn_detected")
    assert errors(translator.upstream_event(barge_in, NOW)) == []


def test_upstream_text_in_a_failure_is_length_capped() -> None:
    translator = translator_with(retry_failed_responses=False)
    translator.upstream_event(created("r1"), NOW)
    error = {"type": "server_error", "code": "x" * 500, "message": "word " * 400}
    (message,) = errors(translator.upstream_event(done("r1", "failed", error=error), NOW))
    assert len(message.message) <= 300 and message.message.endswith("...")
    assert message.upstream_code is not None and len(message.upstream_code) <= 64


def test_a_turn_never_answered_times_out_and_the_next_turn_works() -> None:
    translator = translator_with(upstream_response_timeout_s=5.0)
    assert translator.response_deadline is None
    translator.user_message(UserMessage("hello"), now=10.0)
    assert translator.response_deadline == 15.0
    assert translator.timed_out(14.9).to_client == []  # not yet
    translator.upstream_event({"type": "rate_limits.updated", "rate_limits": []}, now=12.0)
    assert translator.response_deadline == 15.0  # only the response itself counts
    actions = translator.timed_out(15.0)
    assert [e.code for e in errors(actions)] == ["response_timeout"]
    assert "5 s" in errors(actions)[0].message
    assert actions.to_upstream == []  # nothing was created: nothing to cancel
    assert "timed_out" in finished(actions)
    assert not translator.response_active and translator.response_deadline is None
    again = translator.user_message(UserMessage("anyone there?"), now=20.0)
    assert upstream_types(again) == ["conversation.item.create", "response.create"]


def test_a_response_that_stalls_is_cancelled_and_its_late_events_are_dropped() -> None:
    translator = translator_with(upstream_response_timeout_s=5.0)
    translator.user_message(UserMessage("hello"), now=10.0)
    translator.upstream_event(created("r1"), now=11.0)
    translator.upstream_event(text_delta("r1"), now=13.0)
    assert translator.response_deadline == 18.0  # every event keeps a response alive
    actions = translator.timed_out(18.0)
    assert actions.to_client[0] == TextDone("item_r1-0")  # the open stream is closed
    assert [e.code for e in errors(actions)] == ["response_timeout"]
    (cancel,) = actions.to_upstream
    assert cancel["type"] == "response.cancel" and cancel["response_id"] == "r1"
    # The next turn starts while the stalled response's leftovers trickle in.
    translator.user_message(UserMessage("again"), now=20.0)
    translator.upstream_event(created("r2"), now=20.5)
    assert translator.upstream_event(text_delta("r1", "late"), now=21.0).to_client == []
    assert translator.upstream_event(text_delta("r2", "new"), now=21.0).to_client == [
        TextDelta("item_r2-0", "new")
    ]
    late_done = translator.upstream_event(done("r1", "cancelled"), now=21.5)
    assert late_done.to_client == [] and translator.response_active  # r2 goes on, text open
    cancel_error = {
        "type": "error",
        "error": {"code": "response_cancel_not_active", "event_id": cancel["event_id"]},
    }
    assert translator.upstream_event(cancel_error, now=21.6).to_client == []
    assert translator.upstream_event(done("r2"), now=22.0).to_client == [TextDone("item_r2-0")]


def test_a_spoken_turn_expects_a_server_vad_response_within_the_timeout() -> None:
    translator = translator_with(upstream_response_timeout_s=5.0)
    translator.upstream_event({"type": "input_audio_buffer.speech_stopped"}, now=30.0)
    assert translator.response_deadline == 35.0
    translator.upstream_event(created("r1"), now=31.0)
    assert translator.response_deadline == 36.0  # now the response's own deadline
    translator.upstream_event(done("r1"), now=32.0)
    assert translator.response_deadline is None
    translator.upstream_event({"type": "input_audio_buffer.speech_stopped"}, now=40.0)
    (error,) = errors(translator.timed_out(45.0))
    assert error.code == "response_timeout" and "spoken turn" in error.message


def test_a_spoken_turn_during_an_answer_waits_on_that_answers_deadline_only() -> None:
    translator = translator_with(upstream_response_timeout_s=5.0)
    translator.user_message(UserMessage("hello"), now=10.0)
    translator.upstream_event(created("r1"), now=10.5)
    translator.upstream_event({"type": "input_audio_buffer.speech_stopped"}, now=11.0)
    translator.upstream_event(done("r1"), now=12.0)
    assert translator.response_deadline is None  # no false alarm if no second answer comes


def test_a_late_answer_to_a_timed_out_turn_is_played_like_any_other() -> None:
    translator = translator_with(upstream_response_timeout_s=5.0)
    translator.user_message(UserMessage("hello"), now=10.0)
    translator.timed_out(15.0)
    translator.upstream_event(created("r1"), now=16.0)
    assert translator.upstream_event(text_delta("r1"), now=16.1).to_client
    assert translator.upstream_event(done("r1"), now=16.2).to_client == [TextDone("item_r1-0")]
    assert not translator.response_active


def test_user_messages_over_the_per_minute_budget_are_refused_and_not_sent() -> None:
    translator = translator_with(max_user_messages_per_min=2)
    for second in (0.0, 1.0):
        translator.user_message(UserMessage("hi"), now=second)
        translator.upstream_event(done(f"r{second}"), now=second)
    refused = translator.user_message(UserMessage("third"), now=2.0)
    assert refused.to_upstream == []
    assert [e.code for e in errors(refused)] == ["rate_limited"]
    assert "max_user_messages_per_min" in errors(refused)[0].message
    assert RateLimited("max_user_messages_per_min") in refused.observations
    # The window slides: a minute after the first, one more fits.
    assert translator.user_message(UserMessage("later"), now=60.0).to_upstream


def test_the_text_bytes_budget_adds_up_many_small_messages() -> None:
    translator = translator_with(max_user_messages_per_min=1000, max_user_text_bytes_per_min=1000)
    sent = 0
    for n in range(100):
        actions = translator.user_message(UserMessage("x" * 99), now=n * 0.01)
        if actions.to_upstream:
            sent += 99
        else:
            assert [e.code for e in errors(actions)] == ["rate_limited"]
            assert "max_user_text_bytes_per_min" in errors(actions)[0].message
    assert sent == 990  # ten messages: the eleventh would pass 1000 bytes


def test_a_turn_over_the_responses_budget_is_refused_whole() -> None:
    translator = translator_with(max_responses_per_min=1)
    translator.user_message(UserMessage("one"), NOW)
    translator.upstream_event(created("r1"), NOW)
    translator.upstream_event(done("r1"), NOW)
    refused = translator.user_message(UserMessage("two"), NOW + 1)
    assert refused.to_upstream == []  # not even the item: it would be answered later
    assert RateLimited("max_responses_per_min") in refused.observations


def test_a_server_vad_response_over_the_budget_is_cancelled_and_silenced() -> None:
    translator = translator_with(max_responses_per_min=1)
    translator.upstream_event(created("r1"), NOW)
    translator.upstream_event(done("r1"), NOW)
    actions = translator.upstream_event(created("r2"), NOW + 1)
    assert [e.code for e in errors(actions)] == ["rate_limited"]
    (cancel,) = actions.to_upstream
    assert cancel["type"] == "response.cancel" and cancel["response_id"] == "r2"
    assert translator.upstream_event(text_delta("r2"), NOW + 1).to_client == []
    assert translator.upstream_event(done("r2", "cancelled"), NOW + 1).to_client == []
    assert not translator.response_active


def test_a_retry_over_the_responses_budget_is_not_sent_and_the_failure_is_reported() -> None:
    translator = translator_with(max_responses_per_min=1)
    translator.user_message(UserMessage("hello"), NOW)
    translator.upstream_event(created("r1"), NOW)
    actions = translator.upstream_event(done("r1", "failed", error=server_error()), NOW)
    assert actions.to_upstream == []
    assert [e.code for e in errors(actions)] == ["response_failed"]


def test_budgets_given_to_the_translator_override_its_limits() -> None:
    budgets = Budgets.from_limits(Limits()).with_claims({"max_user_messages_per_min": 1})
    translator = Translator(SessionSettings(), Dialect.GA, budgets=budgets)
    translator.upstream_event({"type": "session.updated"})
    assert translator.user_message(UserMessage("one"), NOW).to_upstream
    refused = translator.user_message(UserMessage("two"), NOW)
    assert [e.code for e in errors(refused)] == ["rate_limited"]


# --- a property: against an upstream that keeps to the protocol, one response at a time ------

STATUSES = st.sampled_from(["completed", "completed", "failed", "incomplete", "cancelled"])
ERROR_TYPES = st.sampled_from(["server_error", "invalid_request_error"])
STEPS = st.lists(
    st.one_of(
        st.just(("user",)),
        st.just(("upstream",)),
        st.tuples(st.just("done"), STATUSES, ERROR_TYPES),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(STEPS)
def test_one_response_at_a_time_and_no_response_ends_in_silence(steps: list[Any]) -> None:
    """The upstream answers a ``response.create`` sent while one is in flight with
    ``conversation_already_has_active_response``: the relay must never provoke it. Every
    response that ends other than ``completed`` is told to the browser or, for a server error,
    retried, and a failed retry is told."""
    translator = translator_with(max_responses_per_min=1000, max_user_messages_per_min=1000)
    pending: list[str] = []  # creates the upstream has not answered yet
    running: str | None = None
    responses = 0
    silent_retries = 0  # failures since the browser last heard anything or typed

    def take(actions: Actions) -> bool:
        for event in actions.to_upstream:
            if event["type"] == "response.create":
                assert not pending and running is None, "a create while a response is active"
                pending.append(event["event_id"])
        return any(e["type"] == "response.create" for e in actions.to_upstream)

    for step in steps:
        if step[0] == "user":
            silent_retries = 0
            take(translator.user_message(UserMessage("hi"), NOW))
        elif step[0] == "upstream" and pending and running is None:
            pending.pop()
            responses += 1
            running = f"r{responses}"
            take(translator.upstream_event(created(running), NOW))
        elif step[0] == "done" and running is not None:
            _, status, kind = step
            details = {"error": {"type": kind, "message": "m"}} if status == "failed" else {}
            finished, running = running, None
            actions = translator.upstream_event(done(finished, status, **details), NOW)
            asked_again = take(actions)
            told = [e.code for e in errors(actions)] == [f"response_{status}"]
            if status == "completed" or told:
                silent_retries = 0
                continue
            assert asked_again and status == "failed" and kind == "server_error"
            silent_retries += 1
            assert silent_retries == 1, "a failed retry must be told"

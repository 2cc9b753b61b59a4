"""The user's spoken turns as the browser hears of them, through the translator: live captions
(``transcription_delta``) when enabled, ``speech_started`` once before any word of an item, and
typed turns only when nothing can end a spoken one (``TURN_DETECTION=none``)."""

from __future__ import annotations

from typing import Any

from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
)

from trio_relay.browser import (
    Connected,
    ErrorMessage,
    SpeechStarted,
    Transcription,
    TranscriptionDelta,
    UserMessage,
)
from trio_relay.config import Dialect, SessionSettings
from trio_relay.translator import Translator, UsageReported

KIND = "conversation.item.input_audio_transcription"


def connected(**settings: Any) -> Translator:
    translator = Translator(SessionSettings(greeting="hi", **settings), Dialect.GA)
    assert translator.upstream_event({"type": "session.updated"}).to_client == [Connected("hi")]
    return translator


def speech_started(item_id: str) -> dict[str, Any]:
    return {"type": "input_audio_buffer.speech_started", "item_id": item_id, "audio_start_ms": 0}


def delta(item_id: str, text: str) -> dict[str, Any]:
    event = {"type": f"{KIND}.delta", "event_id": "e", "item_id": item_id, "delta": text}
    ConversationItemInputAudioTranscriptionDeltaEvent.model_validate(event)
    return event


def completed(item_id: str, transcript: str, usage: dict[str, Any]) -> dict[str, Any]:
    event = {
        "type": f"{KIND}.completed",
        "event_id": "e",
        "item_id": item_id,
        "content_index": 0,
        "transcript": transcript,
        "usage": usage,
    }
    ConversationItemInputAudioTranscriptionCompletedEvent.model_validate(event)
    return event


SECONDS = {"type": "duration", "seconds": 1.5}


def test_captions_stream_between_speech_started_and_the_final_transcription() -> None:
    translator = connected(transcription_deltas=True)
    assert translator.upstream_event(speech_started("u1")).to_client == [SpeechStarted()]
    assert translator.upstream_event(delta("u1", "Hello")).to_client == [
        TranscriptionDelta("u1", "Hello")
    ]
    assert translator.upstream_event(delta("u1", " there")).to_client == [
        TranscriptionDelta("u1", " there")
    ]
    final = translator.upstream_event(completed("u1", "Hello there", SECONDS))
    assert final.to_client == [Transcription("u1", "Hello there")]


def test_a_caption_before_speech_started_announces_the_turn_once() -> None:
    translator = connected(transcription_deltas=True)
    assert translator.upstream_event(delta("u2", "Hi")).to_client == [
        SpeechStarted(),
        TranscriptionDelta("u2", "Hi"),
    ]
    assert translator.upstream_event(speech_started("u2")).to_client == []
    assert translator.upstream_event(completed("u2", "Hi", SECONDS)).to_client == [
        Transcription("u2", "Hi")
    ]
    # The next turn is announced again, once.
    assert translator.upstream_event(delta("u3", "And")).to_client == [
        SpeechStarted(),
        TranscriptionDelta("u3", "And"),
    ]


def test_captions_are_off_by_default() -> None:
    translator = connected()
    translator.upstream_event(speech_started("u1"))
    assert translator.upstream_event(delta("u1", "Hello")).to_client == []
    assert translator.unknown_events == {}


def test_an_empty_caption_or_one_after_the_final_transcript_is_dropped() -> None:
    translator = connected(transcription_deltas=True)
    assert translator.upstream_event(delta("u1", "")).to_client == []
    assert translator.upstream_event({"type": f"{KIND}.delta", "item_id": "u1"}).to_client == []
    translator.upstream_event(completed("u1", "Done", SECONDS))
    assert translator.upstream_event(delta("u1", "late")).to_client == []


def test_a_malformed_caption_ends_the_session_like_any_malformed_event() -> None:
    translator = connected(transcription_deltas=True)
    actions = translator.upstream_event({"type": f"{KIND}.delta", "item_id": "u1", "delta": 7})
    assert actions.end is not None


def test_the_transcriptions_usage_is_reported_by_tokens_or_by_duration() -> None:
    translator = connected()
    tokens = {
        "type": "tokens",
        "input_tokens": 30,
        "output_tokens": 9,
        "total_tokens": 39,
        "input_token_details": {"audio_tokens": 30, "text_tokens": 0},
    }
    by_tokens = translator.upstream_event(completed("u1", "one", tokens))
    assert by_tokens.observations == [
        UsageReported({"transcription_input": 30, "transcription_output": 9})
    ]
    by_time = translator.upstream_event(completed("u2", "two", SECONDS))
    assert by_time.observations == [UsageReported({}, transcription_seconds=1.5)]


def test_with_no_turn_detection_the_microphone_is_refused_once_and_typed_turns_go_on() -> None:
    translator = connected(turn_detection="none")
    refused = translator.microphone_refused()
    assert refused is not None and refused.to_client == [
        ErrorMessage(
            "audio_not_accepted",
            "This assistant takes typed messages only; the microphone is not used.",
        )
    ]
    again = translator.microphone_refused()
    assert again is not None and again.to_client == []
    typed = translator.user_message(UserMessage("what time is it?"), now=1.0)
    assert [event["type"] for event in typed.to_upstream] == [
        "conversation.item.create",
        "response.create",
    ]
    assert connected().microphone_refused() is None  # server VAD: audio goes upstream

"""The browser protocol's frames, parsed and encoded without any socket."""

from __future__ import annotations

import json

import pytest

from trio_relay.browser import (
    Connected,
    ErrorMessage,
    InvalidClientMessage,
    SpeechStarted,
    TextDelta,
    TextDone,
    Transcription,
    UserMessage,
    check_client_audio,
    parse_client_text,
)


def test_user_message_without_id_is_accepted() -> None:
    assert parse_client_text(
        '{"type":"user_message","text":"hi"}', max_text_bytes=100
    ) == UserMessage("hi")


def test_user_message_with_id() -> None:
    frame = '{"type":"user_message","id":"m1","text":"hi"}'
    assert parse_client_text(frame, max_text_bytes=100) == UserMessage("hi", "m1")


@pytest.mark.parametrize(
    ("frame", "code", "words"),
    [
        ("nope", "invalid_message", "not valid JSON"),
        ("[1]", "invalid_message", "JSON object"),
        ('{"text":"x"}', "invalid_message", "no 'type'"),
        ('{"type":"hello"}', "invalid_message", "unknown message type 'hello'"),
        ('{"type":"user_message"}', "invalid_message", "'text' field of type string"),
        ('{"type":"user_message","text":5}', "invalid_message", "'text' field of type string"),
        ('{"type":"user_message","text":"x","id":7}', "invalid_message", "'id' must be a string"),
        ('{"type":"user_message","text":"  "}', "empty_message", "empty"),
        (
            '{"type":"user_message","text":"' + "é" * 6 + '"}',
            "message_too_long",
            "12 bytes; the limit is 10",
        ),
    ],
)
def test_bad_client_frames_say_what_was_wrong(frame: str, code: str, words: str) -> None:
    with pytest.raises(InvalidClientMessage) as caught:
        parse_client_text(frame, max_text_bytes=10)
    assert caught.value.code == code
    assert words in caught.value.message


def test_odd_length_audio_is_rejected() -> None:
    check_client_audio(b"\x00\x01")
    with pytest.raises(InvalidClientMessage) as caught:
        check_client_audio(b"\x00\x01\x02")
    assert caught.value.code == "audio_frame_odd_length"


def test_outgoing_messages_match_the_protocol() -> None:
    assert json.loads(Connected("hi").encode()) == {
        "type": "control",
        "action": "connected",
        "greeting": "hi",
    }
    assert json.loads(SpeechStarted().encode()) == {"type": "control", "action": "speech_started"}
    assert json.loads(Transcription("i", "t").encode()) == {
        "type": "transcription",
        "id": "i",
        "text": "t",
    }
    assert json.loads(TextDelta("i-0", "d").encode()) == {
        "type": "text_delta",
        "id": "i-0",
        "delta": "d",
    }
    assert json.loads(TextDone("i-0").encode()) == {
        "type": "control",
        "action": "text_done",
        "id": "i-0",
    }
    assert json.loads(ErrorMessage("c", "m").encode()) == {
        "type": "error",
        "code": "c",
        "message": "m",
    }

"""The browser protocol's frames, parsed and encoded without any socket."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- hostile text frames: always an answer, never a crash ------------------------------------


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
        ('{"type":"user_message","text":"\\ud800"}', "'text' is not valid Unicode"),
        ('{"type":"user_message","text":"hi","id":"\\udfff"}', "'id' is not valid Unicode"),
        ('{"type":"user_message","text":"hi","n":NaN}', "not valid JSON"),
        ('{"type":"user_message","text":"hi","n":Infinity}', "not valid JSON"),
        ('{"type":"user_message","text":"hi","n":-Infinity}', "not valid JSON"),
        ('{"type":"user_message","text":"hi","n":' + "9" * 5000 + "}", "not valid JSON"),
        ('{"type":"user_message","text":"hi","text":"other"}', "key 'text' more than once"),
        ('{"type":"user_message","text":"hi","x":{"a":1,"a":2}}', "key 'a' more than once"),
        ('{"type":"\\ud800"}', "unknown message type '\\ud800'"),
        ('{"type":["user_message"]}', "unknown message type of type array"),
        ('{"type":"' + "x" * 1000 + '"}', "unknown message type 'xxxxxxxx"),
        ('"just a string"', "JSON object, got string"),
        ("null", "JSON object, got null"),
        ("1e999", "JSON object, got number"),
        ("", "not valid JSON"),
    ],
)
def test_hostile_text_frames_are_invalid_messages(frame: str, words: str) -> None:
    with pytest.raises(InvalidClientMessage) as caught:
        parse_client_text(frame, max_text_bytes=100)
    assert caught.value.code == "invalid_message"
    assert words in caught.value.message
    # What goes back to the browser can always be sent: short, and valid UTF-8.
    assert len(caught.value.message) < 200
    ErrorMessage(caught.value.code, caught.value.message).encode().encode("utf-8")


# Text that may hold a lone surrogate (JSON can escape one: "\\ud800"; UTF-8 cannot carry it).
any_text = st.text(max_size=20) | st.tuples(
    st.text(max_size=8), st.characters(categories=["Cs"]), st.text(max_size=8)
).map("".join)
json_scalars = st.one_of(
    st.sampled_from(["null", "true", "false", "NaN", "Infinity", "-Infinity", "1e999", "-0"]),
    st.integers().map(str),
    st.integers(4000, 6000).map(lambda digits: "7" * digits),
    st.floats().map(repr),
    any_text.map(lambda t: json.dumps(t, ensure_ascii=True)),
    st.just('"user_message"'),
    st.text(max_size=8).map(lambda t: json.dumps(t, ensure_ascii=False)),
)
json_keys = st.sampled_from(['"type"', '"text"', '"id"', '"a"']) | st.text(max_size=4).map(
    json.dumps
)
json_texts = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(json_keys, inner), max_size=4).map(
            lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
        )
    ),
    max_leaves=10,
)
user_messages = st.tuples(any_text, st.booleans()).map(
    lambda given: json.dumps(
        {"type": "user_message", "text": given[0], **({"id": given[0][:3]} if given[1] else {})},
        ensure_ascii=given[1],  # escaped, or raw (a str may hold what UTF-8 cannot)
    )
)
text_frames = st.one_of(
    any_text,
    json_texts,
    user_messages,
    st.integers(0, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.tuples(json_texts, st.integers(0, 40)).map(lambda cut: cut[0][: cut[1]]),  # cut short
)


@settings(max_examples=500, deadline=None)
@given(frame=text_frames)
def test_any_text_frame_is_a_user_message_or_an_invalid_message(frame: str) -> None:
    try:
        message = parse_client_text(frame, max_text_bytes=16)
    except InvalidClientMessage as invalid:
        assert invalid.code in {"invalid_message", "empty_message", "message_too_long"}
        ErrorMessage(invalid.code, invalid.message).encode().encode("utf-8")
        return
    assert message.text.strip() and len(message.text.encode("utf-8")) <= 16
    assert message.id is None or isinstance(message.id, str)
    if message.id is not None:
        message.id.encode("utf-8")

"""Hypothesis properties of the pure core: the translator."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trio_relay.browser import AssistantAudio, SpeechStarted, TextDelta, TextDone, Transcription
from trio_relay.config import Dialect, SessionSettings
from trio_relay.realtime import SERVER_EVENTS
from trio_relay.translator import Translator


@given(st.lists(st.text(max_size=20), min_size=1, max_size=20), st.sampled_from(list(Dialect)))
def test_text_deltas_concatenate_to_the_upstream_text(pieces: list[str], dialect: Dialect) -> None:
    translator = Translator(SessionSettings(), dialect)
    translator.upstream_event({"type": "session.updated"})
    name = "response.output_text.delta" if dialect is Dialect.GA else "response.text.delta"
    out = []
    for piece in pieces:
        out += translator.upstream_event(
            {"type": name, "item_id": "it", "content_index": 0, "delta": piece}
        ).to_client
    out += translator.upstream_event({"type": "response.done"}).to_client
    assert "".join(m.delta for m in out if isinstance(m, TextDelta)) == "".join(pieces)
    assert out[-1] == TextDone("it-0")


item_ids = st.sampled_from(["item_a", "item_b", "item_c"])
field_values = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.text(max_size=8),
    item_ids,
    st.binary(max_size=9).map(lambda b: base64.b64encode(b).decode()),
)
upstream_events = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(SERVER_EVENTS) + ["x.unknown"])},
    optional={
        "item_id": st.one_of(item_ids, field_values),
        "content_index": st.one_of(st.integers(0, 2), field_values),
        "delta": field_values,
        "transcript": field_values,
        "text": field_values,
        "error": st.one_of(
            field_values,
            st.fixed_dictionaries({}, optional={"code": field_values, "message": field_values}),
        ),
    },
)


@settings(max_examples=300)
@given(st.lists(upstream_events, max_size=40))
def test_no_upstream_sequence_yields_a_malformed_browser_message(
    events: list[dict[str, Any]],
) -> None:
    translator = Translator(SessionSettings(), Dialect.GA)
    announced: set[str] = set()
    pending_speech = 0
    for event in events:
        actions = translator.upstream_event(event)
        for message in actions.to_client:
            encoded = message.encode()
            if isinstance(message, AssistantAudio):
                assert isinstance(encoded, bytes) and len(encoded) % 2 == 0 and encoded
                continue
            assert isinstance(encoded, str)
            data = json.loads(encoded)
            assert isinstance(data["type"], str)
            assert all(isinstance(v, str) for v in data.values())
            if isinstance(message, SpeechStarted):
                pending_speech += 1
            if isinstance(message, Transcription):
                # Every transcription has a speech_started before it that no other took.
                assert pending_speech > 0 or message.id in announced
                pending_speech = max(0, pending_speech - 1)
        if event.get("type") == "input_audio_buffer.speech_started" and isinstance(
            event.get("item_id"), str
        ):
            announced.add(event["item_id"])
        if actions.end is not None:
            break

"""Conformance: every server event the fake emits, in every scenario and both dialects, is a
valid ``RealtimeServerEvent`` of the ``openai`` package for that dialect; and the client events
a relay sends are accepted."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pydantic
import pytest
from fake_support import (
    DIALECTS,
    append_all,
    append_event,
    events,
    function_output,
    function_tool,
    of_kind,
    send,
    session_update,
    speech_pcm,
    started,
    take,
    user_text,
    with_tools,
)
from typed_models import undeclared_fields as all_undeclared

from fake_upstream.engine import Engine, Output
from fake_upstream.faults import Fault
from fake_upstream.protocol import DialectName
from fake_upstream.timing import Variant
from fake_upstream.validation import ClientEventError, validate_client_event

Scenario = Callable[[DialectName], list[Output]]


@cache
def server_event_adapter(dialect: DialectName) -> pydantic.TypeAdapter[Any]:
    if dialect == "ga":
        from openai.types.realtime import RealtimeServerEvent
    else:
        from openai.types.beta.realtime import RealtimeServerEvent
    return pydantic.TypeAdapter(RealtimeServerEvent)


# Fields the real service sends that the openai package's models do not declare.
UNMODELLED = {"session.id", "session.object", "session.expires_at"}


def undeclared_fields(model: pydantic.BaseModel) -> list[str]:
    return [field for field in all_undeclared(model) if field not in UNMODELLED]


def text_turns(dialect: DialectName) -> list[Output]:
    engine, out = started(dialect)
    out += send(engine, user_text("hello there"))
    out += send(engine, {"type": "response.create", "event_id": "r1"})
    out += send(engine, session_update(dialect, modality="text"))
    out += send(engine, {"type": "response.create"})
    return out


def spoken_turn(dialect: DialectName) -> list[Output]:
    engine, out = started(dialect)
    return out + append_all(engine, speech_pcm())


def interruptions(dialect: DialectName) -> list[Output]:
    engine, out = started(dialect)
    out += send(engine, user_text("a long story"))
    for cut_after, interruption in [
        (5, append_event(speech_pcm(0, 300, 0))),
        (1, {"type": "response.cancel"}),
        (3, {"type": "response.create"}),
    ]:
        out += append_all(engine, bytes(48 * 700))  # end any turn in progress
        engine.receive_frame(json.dumps({"type": "response.create"}))
        out += take(engine, cut_after)
        out += send(engine, interruption)
    out += send(engine, {"type": "response.cancel"})
    return out


def conversation_edits(dialect: DialectName) -> list[Output]:
    engine, out = started(dialect)
    out += send(engine, user_text("truncate me"))
    turn = send(engine, {"type": "response.create"})
    item_id = next(e["item_id"] for e in events(turn) if e["type"].endswith("audio.delta"))
    truncate = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0}
    out += turn + send(engine, {**truncate, "audio_end_ms": 50})
    out += send(engine, {**truncate, "audio_end_ms": 99_999})
    out += send(engine, {"type": "conversation.item.retrieve", "item_id": item_id})
    out += send(engine, {"type": "conversation.item.delete", "item_id": item_id})
    return out


def manual_commit_and_errors(dialect: DialectName) -> list[Output]:
    engine, out = started(dialect, update=session_update(dialect, turn_detection=None))
    out += send(engine, {"type": "input_audio_buffer.commit"})
    out += append_all(engine, speech_pcm())
    out += send(engine, {"type": "input_audio_buffer.commit"})
    out += send(engine, {"type": "input_audio_buffer.clear"})
    for frame in ["{nope", '{"type":"bogus"}', '{"type":"conversation.item.create"}']:
        out += engine.receive(frame)
    return out + engine.receive(b"\x00")


def benchmark(dialect: DialectName) -> list[Output]:
    engine, out = started(dialect, turn_trigger_bytes=9600, validate=False)
    return out + append_all(engine, bytes(19_200))


def faults(dialect: DialectName) -> list[Output]:
    out: list[Output] = []
    for fault in [
        Fault.ERROR_RECOVERABLE,
        Fault.ERROR_FATAL,
        Fault.SESSION_EXPIRED,
        Fault.DROP_MID_RESPONSE,
    ]:
        engine, opened = started(dialect, model=fault.value, fault=fault)
        out += opened + send(engine, user_text("hi"))
        out += send(engine, {"type": "response.create"}) + send(engine, {"type": "response.create"})
    return out


def variants(dialect: DialectName) -> list[Output]:
    """Every timing variant, a few seeds: spoken turns (one barged in), a text turn, and a
    manual commit, so that each late or failed transcription and each rate limits placement
    shows up."""
    out: list[Output] = []
    for variant in Variant:
        for seed in range(3):
            engine, opened = started(dialect, model=f"{variant}-seed-{seed}")
            out += opened + append_all(engine, speech_pcm())
            out += send(engine, user_text("and in writing"))
            engine.receive_frame(json.dumps({"type": "response.create"}))
            out += take(engine, 4)
            out += append_all(engine, speech_pcm(0, 300, 600))  # barge in
            out += send(engine, session_update(dialect, turn_detection=None))
            out += append_all(engine, speech_pcm()) + send(
                engine, {"type": "input_audio_buffer.commit"}
            )
            out += send(engine, {"type": "response.create"})
    return out


def function_calls(dialect: DialectName) -> list[Output]:
    """A single call, parallel calls, their outputs (one refused) and the quoting reply, in
    audio and in text; a call cancelled mid-way; a spoken turn that asks for a call."""
    tools = [function_tool("get_time"), function_tool("roll_dice")]
    out: list[Output] = []
    for modality in ["audio", "text"]:
        update = with_tools(session_update(dialect, modality=modality), tools)
        engine, opened = started(dialect, update=update, spoken_texts=["roll 2 dice"])
        out += opened + send(engine, user_text("what time is it in Tokyo?"))
        turn = send(engine, {"type": "response.create"})
        out += turn + send(engine, user_text("call get_time {} call roll_dice {}"))
        turn = send(engine, {"type": "response.create"})
        for call in of_kind(turn, "response.output_item.done"):
            out += send(engine, function_output(call["item"]["call_id"], '{"ok":true}'))
        out += turn + send(engine, function_output("call_9999", "nobody asked"))
        out += send(engine, {"type": "response.create"})
        out += send(engine, user_text("call get_time {} call roll_dice {}"))
        engine.receive_frame(json.dumps({"type": "response.create"}))
        out += take(engine, 4) + send(engine, {"type": "response.cancel"})
        out += append_all(engine, speech_pcm())
    return out


def mcp_sequences(dialect: DialectName) -> list[Output]:
    """GA: listing (completed and failed), an approval approved and one declined, a call at
    once, a failing call, a call cancelled mid-way. Beta: the refusal of an MCP tool (then a
    function tool is taken)."""
    docs = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example/docs"}
    if dialect == "beta":
        engine, out = started(dialect)
        out += send(engine, {"type": "session.update", "session": {"tools": [docs]}})
        return out + send(engine, with_tools(session_update(dialect), [function_tool("f")]))
    tools = [
        {**docs, "headers": {"X-Key": "k"}, "authorization": "Bearer t"},
        {**docs, "server_label": "open", "require_approval": "never"},
        {**docs, "server_label": "broken", "server_url": "https://fail.example"},
    ]
    update = with_tools(session_update(dialect, modality="text"), tools)
    engine, out = started(dialect, update=update)
    for approve in [True, False]:
        out += send(engine, user_text('mcp docs lookup {"id":"1"}'))
        asked = send(engine, {"type": "response.create"})
        request = of_kind(asked, "response.output_item.done")[0]["item"]
        answer = {"type": "mcp_approval_response", "id": f"appr_{approve}", "approve": approve}
        item = {**answer, "approval_request_id": request["id"]}
        out += asked + send(engine, {"type": "conversation.item.create", "item": item})
        out += send(engine, {"type": "response.create"})
    for text in ["mcp open echo {}", "mcp open fail {}"]:
        out += send(engine, user_text(text)) + send(engine, {"type": "response.create"})
    out += send(engine, user_text('mcp open lookup {"id":"a-long-one"}'))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    return out + take(engine, 4) + send(engine, {"type": "response.cancel"})


SCENARIOS: list[Scenario] = [
    text_turns,
    spoken_turn,
    interruptions,
    conversation_edits,
    manual_commit_and_errors,
    benchmark,
    faults,
    variants,
    function_calls,
    mcp_sequences,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_server_event_is_valid_for_its_dialect(
    dialect: DialectName, scenario: Scenario
) -> None:
    adapter = server_event_adapter(dialect)
    emitted = events(scenario(dialect))
    assert len(emitted) > 3
    for event in emitted:
        model = adapter.validate_python(event)
        assert undeclared_fields(model) == [], event["type"]


def test_the_scenarios_cover_the_event_types_a_relay_handles() -> None:
    seen = {e["type"] for scenario in SCENARIOS for e in events(scenario("ga"))}
    assert seen >= {
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "session.created",
        "session.updated",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
        "rate_limits.updated",
        "error",
    }


def relay_client_events(dialect: DialectName) -> list[dict[str, Any]]:
    """The client events a relay sends, shaped as protocol.md (section 2) describes them."""
    return [
        session_update(dialect),
        session_update(dialect, modality="text", transcription=False),
        session_update(dialect, turn_detection=None),
        user_text("hi"),
        {"type": "response.create", "event_id": "relay_response_create_1"},
        append_event(b"\x00\x01" * 2400),
        {"type": "input_audio_buffer.commit"},
        {
            "type": "conversation.item.truncate",
            "item_id": "item_0001",
            "content_index": 0,
            "audio_end_ms": 120,
        },
        {"type": "response.cancel"},
        with_tools(session_update(dialect), [function_tool("get_time")], "auto"),
        function_output("call_0001", '{"time":"12:00"}'),
        {"type": "response.create", "response": {"tool_choice": "none"}},
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_client_events_a_relay_sends_are_accepted(dialect: DialectName) -> None:
    for event in relay_client_events(dialect):
        validate_client_event(dialect, event)


def test_the_ga_mcp_client_events_a_relay_sends_are_accepted() -> None:
    mcp = {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example/docs",
        "allowed_tools": ["lookup"],
        "require_approval": {"never": {"tool_names": ["lookup"]}},
        "headers": {"X-Key": "k"},
        "authorization": "Bearer t",
    }
    validate_client_event("ga", with_tools(session_update("ga"), [mcp]))
    answer = {"type": "mcp_approval_response", "id": "a", "approval_request_id": "r"}
    item = {**answer, "approve": True, "reason": "policy"}
    validate_client_event("ga", {"type": "conversation.item.create", "item": item})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_relays_own_client_events_are_accepted(dialect: DialectName) -> None:
    # The relay's builders, not copies of them: a change there that the service would refuse
    # fails here.
    from trio_relay.config import Dialect, SessionSettings
    from trio_relay.realtime import response_create, session_update, truncate_item, user_text_item

    for event in [
        session_update(SessionSettings(), Dialect(dialect)),
        session_update(
            SessionSettings(output_modality="text", transcription_model=None), Dialect(dialect)
        ),
        user_text_item("hi"),
        response_create("relay_response_create_1"),
        truncate_item("item_0001", 0, 120),
    ]:
        validate_client_event(dialect, event)
    engine = Engine(dialect, "gpt-realtime")
    engine.open()
    answer = send(engine, session_update(SessionSettings(), Dialect(dialect)))
    assert [e["type"] for e in events(answer)] == ["session.updated"]


def test_a_beta_session_update_is_refused_in_the_ga_dialect_and_the_other_way_round() -> None:
    with pytest.raises(ClientEventError) as ga:
        validate_client_event("ga", session_update("beta"))
    assert ga.value.code in {"unknown_parameter", "missing_required_parameter"}
    with pytest.raises(ClientEventError) as beta:
        validate_client_event("beta", session_update("ga"))
    assert beta.value.code == "unknown_parameter"

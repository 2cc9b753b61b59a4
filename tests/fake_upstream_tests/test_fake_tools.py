"""Function calling in the fake upstream, driven through the engine: what triggers a call, how a
call is streamed, what the client answers with, and the reply that quotes the answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_support import (
    DIALECTS,
    ITEM_ADDED,
    TRANSCRIPT_DELTA,
    append_all,
    events,
    function_output,
    function_tool,
    kinds,
    of_kind,
    said_in,
    send,
    session_update,
    speech_pcm,
    started,
    take,
    user_text,
    with_tools,
)

from fake_upstream.engine import Engine, Output
from fake_upstream.protocol import DialectName

DEMO_TOOLS = [function_tool(name) for name in ("get_time", "convert_units", "roll_dice")]
KM_TO_MILES = {"value": 10, "from_unit": "km", "to_unit": "miles"}


def tool_session(
    dialect: DialectName,
    tools: list[dict[str, Any]] | None = None,
    *,
    modality: str = "text",
    tool_choice: Any = None,
    **kwargs: Any,
) -> Engine:
    declared = DEMO_TOOLS if tools is None else tools
    update = with_tools(session_update(dialect, modality=modality), declared, tool_choice)
    engine, _ = started(dialect, update=update, **kwargs)
    return engine


def ask(engine: Engine, text: str, **response: Any) -> list[Output]:
    """A typed user turn and the response it gets."""
    send(engine, user_text(text))
    create: dict[str, Any] = {"type": "response.create"}
    if response:
        create["response"] = response
    return send(engine, create)


def calls_in(outputs: list[Output]) -> list[dict[str, Any]]:
    """The function calls a response made: its output once done."""
    done = of_kind(outputs, "response.done")[0]["response"]
    return [item for item in done["output"] if item["type"] == "function_call"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_call_command_streams_a_function_call_like_the_real_api(dialect: DialectName) -> None:
    engine = tool_session(dialect, modality="audio")
    turn = ask(engine, 'call get_time {"timezone":"Asia/Tokyo"}')
    deltas = of_kind(turn, "response.function_call_arguments.delta")
    item_done = ["conversation.item.done"] if dialect == "ga" else []
    assert kinds(turn) == [
        "response.created",
        "response.output_item.added",
        ITEM_ADDED[dialect],
        *["response.function_call_arguments.delta"] * len(deltas),
        "response.function_call_arguments.done",
        "response.output_item.done",
        *item_done,
        "response.done",
        "rate_limits.updated",
    ]  # no content part, no audio, no transcript: a function call only
    assert len(deltas) > 1
    added = of_kind(turn, "response.output_item.added")[0]
    assert added["item"] == {
        "id": added["item"]["id"],
        "object": "realtime.item",
        "type": "function_call",
        "status": "in_progress",
        "name": "get_time",
        "call_id": "call_0001",
        "arguments": "",
    }
    where = {"response_id": added["response_id"], "item_id": added["item"]["id"]}
    assert all(d["call_id"] == "call_0001" and d.items() >= where.items() for d in deltas)
    arguments = '{"timezone":"Asia/Tokyo"}'
    assert "".join(d["delta"] for d in deltas) == arguments
    done = of_kind(turn, "response.function_call_arguments.done")[0]
    assert done["arguments"] == arguments and done["call_id"] == "call_0001"
    assert ("name" in done) is (dialect == "ga")  # the beta event has no name
    item = of_kind(turn, "response.output_item.done")[0]["item"]
    assert item == {**added["item"], "status": "completed", "arguments": arguments}
    response = of_kind(turn, "response.done")[0]["response"]
    assert response["status"] == "completed" and response["output"] == [item]
    assert engine.items[item["id"]] == item  # it is part of the conversation


@pytest.mark.parametrize("dialect", DIALECTS)
def test_several_call_commands_in_one_text_are_parallel_calls_in_one_response(
    dialect: DialectName,
) -> None:
    engine = tool_session(dialect)
    turn = ask(engine, 'call get_time {"timezone":"UTC"} call roll_dice {"sides":20,"count":2}')
    assert [(c["name"], c["call_id"], c["arguments"]) for c in calls_in(turn)] == [
        ("get_time", "call_0001", '{"timezone":"UTC"}'),
        ("roll_dice", "call_0002", '{"sides":20,"count":2}'),
    ]
    added = of_kind(turn, "response.output_item.added")
    assert [event["output_index"] for event in added] == [0, 1]
    first, second = (event["item"]["id"] for event in added)
    assert of_kind(turn, ITEM_ADDED[dialect])[1]["previous_item_id"] == first
    indexes = {
        d["item_id"]: d["output_index"]
        for d in of_kind(turn, "response.function_call_arguments.delta")
    }
    assert indexes == {first: 0, second: 1}
    assert len(of_kind(turn, "response.done")) == 1


def test_arguments_are_passed_as_written_even_when_they_are_not_valid_json() -> None:
    engine = tool_session("ga")
    turn = ask(engine, "call roll_dice {sides: 'many'} call get_time")
    assert [c["arguments"] for c in calls_in(turn)] == ["{sides: 'many'}", "{}"]
    unclosed = ask(engine, 'call get_time {"timezone": "UTC"')
    assert [c["arguments"] for c in calls_in(unclosed)] == ['{"timezone": "UTC"']


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ("What time is it in Tokyo?", "get_time", {"timezone": "Asia/Tokyo"}),
        ("what's the time in new york right now", "get_time", {"timezone": "America/New_York"}),
        ("WHAT TIME IS IT IN LONDON", "get_time", {"timezone": "Europe/London"}),
        ("what time is it in Atlantis?", "get_time", {"timezone": "Atlantis"}),
        ("Convert 10 km to miles, please.", "convert_units", KM_TO_MILES),
        (
            "convert 2.5 kg into lb",
            "convert_units",
            {"value": 2.5, "from_unit": "kg", "to_unit": "lb"},
        ),
        ("Roll a die!", "roll_dice", {"sides": 6, "count": 1}),
        ("roll 2 dice", "roll_dice", {"sides": 6, "count": 2}),
        ("roll a d20.", "roll_dice", {"sides": 20, "count": 1}),
        ("roll 3d8", "roll_dice", {"sides": 8, "count": 3}),
    ],
)
def test_the_demo_phrases_call_the_demo_tools(
    text: str, name: str, arguments: dict[str, Any]
) -> None:
    engine = tool_session("ga")
    (call,) = calls_in(ask(engine, text))
    assert call["name"] == name and json.loads(call["arguments"]) == arguments
    assert call["arguments"] == json.dumps(arguments, separators=(",", ":"))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_tool_that_is_not_declared_is_never_called(dialect: DialectName) -> None:
    engine = tool_session(dialect, [function_tool("get_weather")])
    for text in ['call get_time {"timezone":"UTC"}', "what time is it in Tokyo?"]:
        turn = ask(engine, text)
        assert "response.function_call_arguments.delta" not in kinds(turn)
        assert said_in(turn, dialect) == f"You said: {text}"
    # Only the declared one of several commands is called.
    turn = ask(engine, "call get_time {} call get_weather {}")
    assert [c["name"] for c in calls_in(turn)] == ["get_weather"]


def test_tool_choice_none_turns_every_trigger_off() -> None:
    engine = tool_session("ga", tool_choice="none")
    assert said_in(ask(engine, "roll a die"), "ga") == "You said: roll a die"
    # A response.create's own tool choice wins over the session's, both ways.
    assert calls_in(ask(engine, "roll a die", tool_choice="auto"))
    engine = tool_session("ga")
    assert not calls_in(ask(engine, "roll a die", tool_choice="none"))


def test_a_forced_tool_choice_calls_that_tool_only() -> None:
    engine = tool_session("ga", tool_choice={"type": "function", "name": "get_time"})
    turn = ask(engine, "call roll_dice {} call get_time {}")
    assert [c["name"] for c in calls_in(turn)] == ["get_time"]


def test_a_response_create_may_declare_its_own_tools() -> None:
    engine = tool_session("ga", [])
    turn = ask(engine, "roll a die", tools=[function_tool("roll_dice")])
    assert [c["name"] for c in calls_in(turn)] == ["roll_dice"]


@pytest.mark.parametrize("modality", ["text", "audio"])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_reply_after_the_outputs_quotes_each_in_call_order(
    dialect: DialectName, modality: str
) -> None:
    engine = tool_session(dialect, modality=modality)
    calls = calls_in(ask(engine, "call get_time {} call roll_dice {}"))
    answers = {"get_time": '{"time": "09:00"}', "roll_dice": '{"rolls":[4]}'}
    for call in reversed(calls):  # answered out of order
        acknowledged = send(engine, function_output(call["call_id"], answers[call["name"]]))
        assert kinds(acknowledged) == (
            ["conversation.item.added", "conversation.item.done"]
            if dialect == "ga"
            else ["conversation.item.created"]
        )
        assert events(acknowledged)[0]["item"]["status"] == "completed"
    reply = send(engine, {"type": "response.create"})
    assert said_in(reply, dialect) == (
        'The get_time tool says: {"time": "09:00"} The roll_dice tool says: {"rolls":[4]}'
    )
    assert ("audio" in "".join(kinds(reply))) is (modality == "audio")
    assert not calls_in(reply)


def test_outputs_for_some_of_the_calls_are_quoted_alone() -> None:
    engine = tool_session("ga")
    calls = calls_in(ask(engine, "call get_time {} call roll_dice {}"))
    send(engine, function_output(calls[1]["call_id"], "6"))
    reply = send(engine, {"type": "response.create"})
    assert said_in(reply, "ga") == "The roll_dice tool says: 6"


def test_once_the_outputs_are_quoted_the_next_response_calls_nothing_again() -> None:
    engine = tool_session("ga")
    (call,) = calls_in(ask(engine, "roll a die"))
    send(engine, function_output(call["call_id"], "3"))
    send(engine, {"type": "response.create"})
    again = send(engine, {"type": "response.create"})
    assert said_in(again, "ga") == "You said: roll a die" and not calls_in(again)
    # ... and a response with the calls unanswered says the usual.
    (call,) = calls_in(ask(engine, "roll a die"))
    assert said_in(send(engine, {"type": "response.create"}), "ga") == "You said: roll a die"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_output_for_an_unknown_call_id_is_refused_with_an_error(dialect: DialectName) -> None:
    engine = tool_session(dialect)
    calls_in(ask(engine, "roll a die"))
    refused = events(send(engine, {**function_output("call_9999", "x"), "event_id": "out_1"}))
    assert kinds(refused) == ["error"]
    assert refused[0]["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": "No function call found with call_id 'call_9999'. Answer one of this "
        "conversation's function_call items.",
        "param": "item.call_id",
        "event_id": "out_1",
    }
    assert not any(item.get("call_id") == "call_9999" for item in engine.items.values())


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_output_without_its_call_id_is_refused(dialect: DialectName) -> None:
    engine = tool_session(dialect)
    item = {"type": "function_call_output", "output": "x"}
    refused = events(send(engine, {"type": "conversation.item.create", "item": item}))
    assert refused[0]["error"]["code"] == "missing_required_parameter"
    assert refused[0]["error"]["param"] == "item.call_id"


def test_an_output_may_come_while_its_response_is_still_going() -> None:
    engine = tool_session("ga")
    send(engine, user_text("call get_time {} call roll_dice {}"))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    first: list[Output] = []
    while "response.output_item.done" not in kinds(first):
        first += take(engine, 1)
    call = of_kind(first, "response.output_item.done")[0]["item"]
    engine.receive_frame(json.dumps(function_output(call["call_id"], "noon")))
    engine.receive_frame(json.dumps({"type": "response.create", "event_id": "early"}))
    rest = engine.drain()
    assert "conversation.item.added" in kinds(rest)  # the output is taken
    error = of_kind(rest, "error")[0]["error"]
    assert error["code"] == "conversation_already_has_active_response"
    assert of_kind(rest, "response.done")[0]["response"]["status"] == "completed"
    reply = send(engine, {"type": "response.create"})
    assert said_in(reply, "ga") == "The get_time tool says: noon"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_cancel_during_a_function_call_closes_it_incomplete(dialect: DialectName) -> None:
    engine = tool_session(dialect)
    send(engine, user_text('call get_time {"timezone":"Australia/Sydney"} call roll_dice {}'))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    early = take(engine, 4)  # created, output item added, item added, a first delta
    cancelled = send(engine, {"type": "response.cancel"})
    item_done = ["conversation.item.done"] if dialect == "ga" else []
    assert kinds(cancelled) == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        *item_done,
        "response.done",
        "rate_limits.updated",
    ]
    sent = of_kind(early, "response.function_call_arguments.delta")[0]["delta"]
    assert of_kind(cancelled, "response.function_call_arguments.done")[0]["arguments"] == sent
    response = of_kind(cancelled, "response.done")[0]["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert [(i["name"], i["status"], i["arguments"]) for i in response["output"]] == [
        ("get_time", "incomplete", sent)
    ]  # the second call never started
    assert not engine.response_active
    assert calls_in(ask(engine, "roll a die"))  # and the session goes on


def test_barge_in_during_a_function_call_response_cancels_it() -> None:
    engine = tool_session("ga", modality="audio")
    send(engine, user_text("call get_time {} call roll_dice {}"))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    take(engine, 3)
    interrupted = append_all(engine, speech_pcm(lead_ms=0, speech_ms=300, tail_ms=0))
    assert kinds(interrupted)[0] == "input_audio_buffer.speech_started"
    response = of_kind(interrupted, "response.done")[0]["response"]
    assert response["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_spoken_text_is_the_transcript_and_its_triggers_apply(dialect: DialectName) -> None:
    spoken = ["What time is it in Paris?", "call roll_dice {}"]
    engine = tool_session(dialect, modality="audio", spoken_texts=spoken)
    turn = append_all(engine, speech_pcm())
    completed = of_kind(turn, "conversation.item.input_audio_transcription.completed")
    assert completed[0]["transcript"] == "What time is it in Paris?"
    (call,) = calls_in(turn)
    assert (call["name"], call["arguments"]) == ("get_time", '{"timezone":"Europe/Paris"}')
    send(engine, function_output(call["call_id"], "10:00"))
    reply = send(engine, {"type": "response.create"})
    transcript = "".join(e["delta"] for e in of_kind(reply, TRANSCRIPT_DELTA[dialect]))
    assert transcript == "The get_time tool says: 10:00"
    assert [c["name"] for c in calls_in(append_all(engine, speech_pcm()))] == ["roll_dice"]
    # Once the texts run out, spoken turns are as without them: transcribed by length, echoed.
    third = append_all(engine, speech_pcm())
    assert of_kind(third, "conversation.item.input_audio_transcription.completed")[0][
        "transcript"
    ].startswith("[speech ")
    assert said_in(third, dialect).startswith("I heard ")


def test_spoken_text_triggers_even_without_input_transcription() -> None:
    update = with_tools(session_update("ga", transcription=False), DEMO_TOOLS)
    engine, _ = started("ga", update=update, spoken_texts=["roll a die"])
    turn = append_all(engine, speech_pcm())
    assert not [kind for kind in kinds(turn) if "transcription" in kind]
    assert [c["name"] for c in calls_in(turn)] == ["roll_dice"]


def test_without_spoken_text_a_spoken_turn_is_echoed_even_with_tools_declared() -> None:
    engine = tool_session("ga", modality="audio")
    turn = append_all(engine, speech_pcm())
    assert not calls_in(turn) and said_in(turn, "ga").startswith("I heard ")

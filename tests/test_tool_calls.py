"""Server-side tool calls in the session state machine, driven directly: upstream events and tool
results in, browser messages, calls to run and upstream events out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.beta.realtime import SessionUpdateEvent as BetaSessionUpdate
from openai.types.realtime import SessionUpdateEvent

from trio_relay.actions import (
    Actions,
    McpApprovalAnswered,
    ToolCallFinished,
    ToolInvocation,
    ToolResult,
)
from trio_relay.browser import Connected, SpeechStarted, ToolCallUpdate, UserMessage
from trio_relay.config import Dialect, SessionSettings
from trio_relay.tool_calls import ToolCalls
from trio_relay.tools import tool
from trio_relay.tools.definition import define_tool
from trio_relay.tools.mcp import McpServer
from trio_relay.tools.toolbox import Toolbox
from trio_relay.translator import Translator

NOW = 100.0


@tool
def get_time(timezone: str) -> dict[str, str]:
    """The time in a time zone."""
    return {"timezone": timezone, "time": "12:00"}


@tool
async def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


TOOLBOX = Toolbox.of(
    [define_tool(get_time), define_tool(add)],
    [McpServer("docs", "https://mcp.example.com/mcp", approve=frozenset({"search"}))],
)


def connected(
    toolbox: Toolbox = TOOLBOX, dialect: Dialect = Dialect.GA, **options: Any
) -> Translator:
    translator = Translator(
        SessionSettings(greeting="hi"), dialect, tools=ToolCalls(toolbox, **options)
    )
    assert translator.upstream_event({"type": "session.updated"}).to_client == [Connected("hi")]
    return translator


def call_item(call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"item_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def item_done(item: dict[str, Any], response_id: str = "resp_1") -> dict[str, Any]:
    return {
        "type": "response.output_item.done",
        "response_id": response_id,
        "output_index": 0,
        "item": item,
    }


def response_done(*items: dict[str, Any], response_id: str = "resp_1", status: str = "completed"):
    return {
        "type": "response.done",
        "response": {"id": response_id, "status": status, "output": list(items)},
    }


def calling(translator: Translator, *items: dict[str, Any], response_id: str = "resp_1") -> Actions:
    """A response that asks for ``items``: created, each item done, then done."""
    actions = translator.upstream_event(
        {"type": "response.created", "response": {"id": response_id}}, NOW
    )
    for item in items:
        actions.add(translator.upstream_event(item_done(item, response_id), NOW))
    return actions.add(translator.upstream_event(response_done(*items, response_id=response_id)))


def outputs(actions: Actions) -> list[tuple[str, Any]]:
    """The function_call_output items going upstream, as (call_id, parsed output)."""
    found = []
    for event in actions.to_upstream:
        item = event.get("item", {})
        if item.get("type") == "function_call_output":
            output = item["output"]
            try:
                output = json.loads(output)
            except ValueError:
                pass
            found.append((item["call_id"], output))
    return found


def creates(actions: Actions) -> int:
    return sum(event["type"] == "response.create" for event in actions.to_upstream)


def done(call_id: str, output: str) -> ToolResult:
    return ToolResult(call_id, output, duration_s=0.01)


# --- declaring the tools ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", list(Dialect))
def test_session_update_declares_the_tools_as_the_typed_models_expect(dialect: Dialect) -> None:
    toolbox = Toolbox.of([define_tool(get_time), define_tool(add)])
    update = connected(toolbox, dialect).session_update()
    model = SessionUpdateEvent if dialect is Dialect.GA else BetaSessionUpdate
    parsed = model.model_validate(update)
    assert parsed.session.tool_choice == "auto"
    declared = update["session"]["tools"]
    assert [t["name"] for t in declared] == ["get_time", "add"]
    assert declared[1] == {
        "type": "function",
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 0}},
            "required": ["a"],
            "additionalProperties": False,
        },
    }


def test_mcp_servers_are_declared_to_a_ga_upstream_always_asking_for_approval() -> None:
    update = connected().session_update()
    SessionUpdateEvent.model_validate(update)
    assert update["session"]["tools"][-1] == {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com/mcp",
        "require_approval": "always",
    }


def test_without_tools_the_session_update_declares_none() -> None:
    assert "tools" not in connected(Toolbox()).session_update()["session"]


# --- one call ----------------------------------------------------------------------------------


def test_a_call_starts_when_its_item_is_done_and_is_answered_after_its_result() -> None:
    translator = connected()
    actions = calling(translator, call_item("call_1", "get_time", '{"timezone":"Asia/Tokyo"}'))
    (invocation,) = actions.start_tools
    assert invocation == ToolInvocation(
        "call_1", TOOLBOX.functions["get_time"], {"timezone": "Asia/Tokyo"}
    )
    assert ToolCallUpdate("call_1", "get_time", "started") in actions.to_client
    assert not actions.to_upstream  # the call is still running
    assert translator.busy

    answer = translator.tool_finished(done("call_1", '{"time":"12:00"}'), NOW)
    assert outputs(answer) == [("call_1", {"time": "12:00"})]
    assert creates(answer) == 1 and answer.to_upstream[-1]["type"] == "response.create"
    assert answer.to_client == [ToolCallUpdate("call_1", "get_time", "done")]
    assert answer.observations == [ToolCallFinished("call_1", "get_time", "done", None, 0.01)]
    assert not translator.tools.busy


def test_a_call_that_finishes_before_its_response_is_done_is_answered_at_the_done() -> None:
    translator = connected()
    translator.upstream_event({"type": "response.created", "response": {"id": "resp_1"}}, NOW)
    item = call_item("call_1", "add", '{"a": 2, "b": 3}')
    started = translator.upstream_event(item_done(item), NOW)
    assert started.start_tools[0].arguments == {"a": 2, "b": 3}
    assert not translator.tool_finished(done("call_1", "5"), NOW).to_upstream
    answer = translator.upstream_event(response_done(item), NOW)
    assert outputs(answer) == [("call_1", 5)] and creates(answer) == 1


# --- several calls -----------------------------------------------------------------------------


def test_parallel_calls_run_together_and_are_answered_together_in_call_order() -> None:
    translator = connected()
    first = call_item("call_1", "get_time", '{"timezone":"UTC"}')
    second = call_item("call_2", "add", '{"a": 1}')
    actions = calling(translator, first, second)
    assert [call.call_id for call in actions.start_tools] == ["call_1", "call_2"]
    assert not translator.tool_finished(done("call_2", "1"), NOW).to_upstream
    answer = translator.tool_finished(done("call_1", '"noon"'), NOW)
    assert outputs(answer) == [("call_1", "noon"), ("call_2", 1)]
    assert creates(answer) == 1


def test_calls_over_the_per_answer_limit_are_answered_without_running() -> None:
    translator = connected(max_calls_per_response=1)
    actions = calling(
        translator,
        call_item("call_1", "add", '{"a": 1}'),
        call_item("call_2", "add", '{"a": 2}'),
    )
    assert [call.call_id for call in actions.start_tools] == ["call_1"]
    answer = translator.tool_finished(done("call_1", "1"), NOW)
    call_id, output = outputs(answer)[1]
    assert call_id == "call_2" and output["error"].startswith("at most 1 tool calls per answer")


# --- calls that cannot run ---------------------------------------------------------------------


def test_invalid_arguments_give_the_model_an_error_saying_what_was_wrong() -> None:
    translator = connected()
    actions = calling(translator, call_item("call_1", "add", '{"a": "two", "c": 1}'))
    assert not actions.start_tools
    ((call_id, output),) = outputs(actions)
    assert call_id == "call_1" and creates(actions) == 1
    assert "a: Input should be a valid integer" in output["error"]
    assert "c: Extra inputs are not permitted" in output["error"]
    assert (
        ToolCallUpdate("call_1", "add", "failed", reason="invalid_arguments") in actions.to_client
    )


@pytest.mark.parametrize("arguments", ["", "{not json", "[1, 2]", "null"])
def test_arguments_that_are_not_a_json_object_are_invalid(arguments: str) -> None:
    actions = calling(connected(), call_item("call_1", "get_time", arguments))
    assert not actions.start_tools
    assert "invalid arguments" in outputs(actions)[0][1]["error"]


def test_a_tool_the_relay_does_not_have_is_an_error_for_the_model() -> None:
    actions = calling(connected(), call_item("call_1", "delete_everything", "{}"))
    assert not actions.start_tools
    assert outputs(actions) == [("call_1", {"error": "there is no tool named 'delete_everything'"})]
    assert ToolCallFinished("call_1", "delete_everything", "failed", "unknown_tool") in (
        actions.observations
    )


def test_a_ticket_without_the_tool_cannot_have_it_called() -> None:
    narrowed = TOOLBOX.for_claims({"tools": ["get_time"]})
    assert list(narrowed.functions) == ["get_time"] and narrowed.mcp_servers == ()
    translator = connected(narrowed)
    assert [t["name"] for t in translator.session_update()["session"]["tools"]] == ["get_time"]
    actions = calling(translator, call_item("call_1", "add", '{"a": 1}'))
    assert not actions.start_tools and "no tool named 'add'" in outputs(actions)[0][1]["error"]


# --- what the upstream repeats or cuts short ---------------------------------------------------


def test_a_call_repeated_by_the_upstream_runs_once() -> None:
    translator = connected()
    item = call_item("call_1", "add", '{"a": 1}')
    actions = translator.upstream_event(item_done(item), NOW)
    actions.add(translator.upstream_event(item_done(item), NOW))
    actions.add(translator.upstream_event(response_done(item), NOW))
    assert len(actions.start_tools) == 1
    answer = translator.tool_finished(done("call_1", "1"), NOW)
    assert len(outputs(answer)) == 1
    # A result reported twice, or the same done again, answers nothing more.
    assert not translator.tool_finished(done("call_1", "1"), NOW).to_upstream
    assert not translator.upstream_event(response_done(item), NOW).to_upstream


def test_a_call_only_in_response_done_still_runs() -> None:
    translator = connected()
    actions = translator.upstream_event(response_done(call_item("call_9", "add", '{"a": 4}')))
    assert [call.call_id for call in actions.start_tools] == ["call_9"]
    assert outputs(translator.tool_finished(done("call_9", "4"), NOW)) == [("call_9", 4)]


def test_a_call_the_model_did_not_finish_asking_for_is_not_run() -> None:
    translator = connected()
    item = call_item("call_1", "add", '{"a": 1', status="incomplete")
    actions = translator.upstream_event(item_done(item), NOW)
    actions.add(translator.upstream_event(response_done(item, status="cancelled"), NOW))
    assert not actions.start_tools and not outputs(actions)


# --- the rest of the session goes on -----------------------------------------------------------


def test_barge_in_during_a_call_the_answer_waits_for_the_new_response() -> None:
    translator = connected()
    calling(translator, call_item("call_1", "add", '{"a": 1}'))
    # The user talks while the tool runs; server VAD answers them first.
    assert translator.upstream_event(
        {"type": "input_audio_buffer.speech_started", "item_id": "in_1"}, NOW
    ).to_client == [SpeechStarted()]
    translator.upstream_event({"type": "response.created", "response": {"id": "resp_2"}}, NOW)
    answer = translator.tool_finished(done("call_1", "1"), NOW)
    assert outputs(answer) == [("call_1", 1)]
    assert creates(answer) == 0  # never a conversation_already_has_active_response
    after = translator.upstream_event(response_done(response_id="resp_2"), NOW)
    assert creates(after) == 1


def test_a_typed_turn_while_a_tool_runs_is_answered_and_the_call_still_is() -> None:
    translator = connected()
    calling(translator, call_item("call_1", "add", '{"a": 1}'))
    typed = translator.user_message(UserMessage("and the weather?"), NOW)
    assert creates(typed) == 1
    answer = translator.tool_finished(done("call_1", "1"), NOW)
    assert outputs(answer) and creates(answer) == 0  # queued behind the typed turn's answer
    translator.upstream_event({"type": "response.created", "response": {"id": "resp_2"}}, NOW)
    assert creates(translator.upstream_event(response_done(response_id="resp_2"), NOW)) == 1


def test_a_call_of_a_response_that_stalled_is_still_answered() -> None:
    translator = connected()
    translator.upstream_event({"type": "response.created", "response": {"id": "resp_1"}}, NOW)
    started = translator.upstream_event(item_done(call_item("call_1", "add", '{"a": 1}')), NOW)
    assert started.start_tools
    deadline = translator.response_deadline
    assert deadline is not None
    timed_out = translator.timed_out(deadline)
    assert [m.code for m in timed_out.to_client if hasattr(m, "code")] == ["response_timeout"]
    answer = translator.tool_finished(done("call_1", "1"), deadline + 1)
    assert outputs(answer) == [("call_1", 1)] and creates(answer) == 1
    assert not translator.tools.busy  # nothing left waiting for a done that will not come


def test_detail_shows_the_browser_arguments_and_outputs() -> None:
    translator = connected(detail=True)
    actions = calling(translator, call_item("call_1", "get_time", '{"timezone":"UTC"}'))
    assert (
        ToolCallUpdate("call_1", "get_time", "started", arguments={"timezone": "UTC"})
        in actions.to_client
    )
    answer = translator.tool_finished(done("call_1", '{"time":"12:00"}'), NOW)
    assert answer.to_client == [
        ToolCallUpdate("call_1", "get_time", "done", output='{"time":"12:00"}')
    ]
    assert json.loads(answer.to_client[0].encode()) == {
        "type": "tool_call",
        "id": "call_1",
        "name": "get_time",
        "status": "done",
        "output": '{"time":"12:00"}',
    }


def test_without_detail_the_browser_sees_no_arguments_or_outputs() -> None:
    translator = connected()
    actions = calling(translator, call_item("call_1", "get_time", '{"timezone":"UTC"}'))
    answer = translator.tool_finished(done("call_1", "secret result"), NOW)
    for message in actions.to_client + answer.to_client:
        assert set(json.loads(message.encode())) == {"type", "id", "name", "status"}


# --- MCP ---------------------------------------------------------------------------------------


def approval_request(request_id: str, name: str, server: str = "docs") -> dict[str, Any]:
    return {
        "type": "mcp_approval_request",
        "id": request_id,
        "server_label": server,
        "name": name,
        "arguments": "{}",
    }


@pytest.mark.parametrize(
    ("name", "server", "approved"),
    [("search", "docs", True), ("delete", "docs", False), ("search", "other", False)],
)
def test_mcp_approval_requests_are_answered_by_the_servers_allow_list(
    name: str, server: str, approved: bool
) -> None:
    translator = connected()
    actions = calling(translator, approval_request("mcpr_1", name, server))
    answers = [e for e in actions.to_upstream if e["type"] == "conversation.item.create"]
    assert answers == [
        {
            "type": "conversation.item.create",
            "item": {
                "type": "mcp_approval_response",
                "id": "relay_approval_1",
                "approval_request_id": "mcpr_1",
                "approve": approved,
                "reason": answers[0]["item"]["reason"],
            },
        }
    ]
    assert creates(actions) == 1  # after the response that asked, the model goes on
    assert McpApprovalAnswered(server, name, approved) in actions.observations


def test_mcp_events_are_counted() -> None:
    actions = connected().upstream_event(
        {"type": "response.mcp_call.completed", "item_id": "x", "output_index": 0}, NOW
    )
    assert [type(o).__name__ for o in actions.observations] == ["McpEventSeen"]

"""MCP servers in the fake upstream (GA only), driven through the engine: the tool listing a
session.update starts, approval requests and their answers, calls that succeed or fail, and
credentials that never come back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_support import (
    events,
    kinds,
    of_kind,
    said_in,
    send,
    session_update,
    started,
    take,
    user_text,
    with_tools,
)

from fake_upstream.engine import Engine, Output

SECRET = "s3cret-token"


def mcp_tool(label: str = "docs", **fields: Any) -> dict[str, Any]:
    tool = {"type": "mcp", "server_label": label, "server_url": f"https://mcp.example/{label}"}
    return {**tool, **fields}


def mcp_session(*tools: dict[str, Any]) -> tuple[Engine, list[Output]]:
    update = with_tools(session_update("ga", modality="text"), list(tools))
    return started("ga", update=update)


def ask(engine: Engine, text: str) -> list[Output]:
    send(engine, user_text(text))
    return send(engine, {"type": "response.create"})


def approval(request_id: str, approve: bool, item_id: str = "appr_1") -> dict[str, Any]:
    item = {
        "type": "mcp_approval_response",
        "id": item_id,
        "approval_request_id": request_id,
        "approve": approve,
    }
    return {"type": "conversation.item.create", "item": item}


def output_of(outputs: list[Output]) -> list[dict[str, Any]]:
    return list(of_kind(outputs, "response.done")[0]["response"]["output"])


def test_adding_a_server_lists_its_tools_after_session_updated() -> None:
    _, opened = mcp_session(mcp_tool())
    listing = events(opened)[2:]
    assert kinds(listing) == [
        "mcp_list_tools.in_progress",
        "conversation.item.added",
        "conversation.item.done",
        "mcp_list_tools.completed",
    ]
    item_id = listing[0]["item_id"]
    assert listing[1]["item"] == {
        "id": item_id,
        "type": "mcp_list_tools",
        "server_label": "docs",
        "tools": [],
    }
    tools = listing[2]["item"]["tools"]
    assert [tool["name"] for tool in tools] == ["echo", "lookup", "fail"]
    assert all(isinstance(tool["input_schema"], dict) for tool in tools)
    assert listing[3]["item_id"] == item_id


def test_allowed_tools_are_the_tools_listed() -> None:
    _, opened = mcp_session(
        mcp_tool("a", allowed_tools=["search", "fetch"]),
        mcp_tool("b", allowed_tools={"tool_names": ["summarize"]}),
    )
    lists = [e["item"] for e in of_kind(opened, "conversation.item.done")]
    assert [(item["server_label"], [t["name"] for t in item["tools"]]) for item in lists] == [
        ("a", ["search", "fetch"]),
        ("b", ["summarize"]),
    ]


def test_a_server_url_containing_fail_fails_to_list_and_has_no_tools() -> None:
    engine, opened = mcp_session(mcp_tool("broken", server_url="https://fail.example/mcp"))
    assert kinds(opened)[-1] == "mcp_list_tools.failed"
    assert of_kind(opened, "conversation.item.done")[0]["item"]["tools"] == []
    assert said_in(ask(engine, "mcp broken echo {}"), "ga") == "You said: mcp broken echo {}"


def test_a_server_is_listed_again_only_when_it_changes() -> None:
    update = with_tools(session_update("ga", modality="text"), [mcp_tool()])
    engine, _ = started("ga", update=update)
    assert kinds(send(engine, update)) == ["session.updated"]
    moved = with_tools(update, [mcp_tool(server_url="https://elsewhere.example")])
    assert "mcp_list_tools.completed" in kinds(send(engine, moved))


def test_credentials_never_appear_in_what_the_fake_sends() -> None:
    tool = mcp_tool(headers={"X-Api-Key": SECRET}, authorization=f"Bearer {SECRET}")
    engine, out = mcp_session(tool)
    out += ask(engine, 'mcp docs lookup {"id":"1"}')
    assert SECRET not in json.dumps(events(out))
    reported = of_kind(out, "session.updated")[0]["session"]["tools"][0]
    assert reported["server_label"] == "docs" and "headers" not in reported
    assert SECRET not in json.dumps(engine.session)


def test_a_call_that_needs_approval_asks_then_runs_once_approved() -> None:
    engine, _ = mcp_session(mcp_tool(require_approval="always"))
    asked = ask(engine, 'mcp docs lookup {"id":"42"}')
    assert kinds(asked) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
    ]
    (request,) = output_of(asked)
    assert request == {
        "id": request["id"],
        "type": "mcp_approval_request",
        "server_label": "docs",
        "name": "lookup",
        "arguments": '{"id":"42"}',
    }
    assert kinds(send(engine, approval(request["id"], True))) == [
        "conversation.item.added",
        "conversation.item.done",
    ]
    ran = send(engine, {"type": "response.create"})
    call_kinds = kinds(ran)[: kinds(ran).index("response.output_item.done") + 2]
    deltas = call_kinds.count("response.mcp_call_arguments.delta")
    assert call_kinds == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        *["response.mcp_call_arguments.delta"] * deltas,
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
        "conversation.item.done",
    ]
    call, message = output_of(ran)
    output = '{"server":"docs","tool":"lookup","arguments":{"id":"42"}}'
    assert call == {
        "id": call["id"],
        "type": "mcp_call",
        "server_label": "docs",
        "name": "lookup",
        "arguments": '{"id":"42"}',
        "approval_request_id": request["id"],
        "output": output,
        "error": None,
    }
    assert message["role"] == "assistant"
    assert said_in(ran, "ga") == f"The lookup tool on docs says: {output}"
    assert of_kind(ran, "response.output_text.delta")[0]["output_index"] == 1


def test_a_declined_approval_is_answered_with_a_text_saying_so() -> None:
    engine, _ = mcp_session(mcp_tool())  # approval is required by default
    (request,) = output_of(ask(engine, 'mcp docs echo {"text":"hi"}'))
    send(engine, approval(request["id"], False))
    reply = send(engine, {"type": "response.create"})
    assert said_in(reply, "ga") == "The call to echo on docs was declined."
    assert [item["type"] for item in output_of(reply)] == ["message"]


def test_require_approval_never_runs_the_call_at_once() -> None:
    engine, _ = mcp_session(mcp_tool(require_approval="never"))
    ran = ask(engine, "mcp docs echo")
    assert [item["type"] for item in output_of(ran)] == ["mcp_call", "message"]
    assert output_of(ran)[0]["approval_request_id"] is None
    assert said_in(ran, "ga") == 'The echo tool on docs says: {"server":"docs","tool":"echo",' + (
        '"arguments":{}}'
    )


def test_an_approval_filter_lets_the_tools_it_names_never_run_without_asking() -> None:
    engine, _ = mcp_session(mcp_tool(require_approval={"never": {"tool_names": ["echo"]}}))
    assert output_of(ask(engine, "mcp docs echo {}"))[0]["type"] == "mcp_call"
    assert output_of(ask(engine, "mcp docs lookup {}"))[0]["type"] == "mcp_approval_request"


def test_a_tool_named_fail_fails_with_an_error_and_the_reply_says_so() -> None:
    engine, _ = mcp_session(mcp_tool(require_approval="never"))
    ran = ask(engine, "mcp docs fail {}")
    assert "response.mcp_call.failed" in kinds(ran)
    assert "response.mcp_call.completed" not in kinds(ran)
    call = output_of(ran)[0]
    assert call["output"] is None
    assert call["error"] == {"type": "tool_execution_error", "message": "This tool always fails."}
    assert said_in(ran, "ga") == "The fail tool on docs failed: This tool always fails."


def test_a_tool_or_server_that_is_not_listed_is_never_called() -> None:
    engine, _ = mcp_session(mcp_tool(allowed_tools=["search"], require_approval="never"))
    for text in ["mcp docs echo {}", "mcp nowhere search {}"]:
        assert said_in(ask(engine, text), "ga") == f"You said: {text}"
    update = with_tools(session_update("ga", modality="text"), [mcp_tool()], tool_choice="none")
    engine, _ = started("ga", update=update)
    assert [item["type"] for item in output_of(ask(engine, "mcp docs echo {}"))] == ["message"]


def test_an_approval_answering_no_request_is_refused() -> None:
    engine, _ = mcp_session(mcp_tool())
    refused = events(send(engine, approval("item_9999", True)))
    assert refused[0]["error"]["code"] == "invalid_value"
    assert refused[0]["error"]["param"] == "item.approval_request_id"
    # The GA model requires the approval's own id.
    item = {"type": "mcp_approval_response", "approval_request_id": "x", "approve": True}
    missing = events(send(engine, {"type": "conversation.item.create", "item": item}))
    assert missing[0]["error"]["param"] == "item.id"


def test_cancel_during_an_mcp_call_closes_it() -> None:
    engine, _ = mcp_session(mcp_tool(require_approval="never"))
    send(engine, user_text('mcp docs lookup {"id":"a-long-identifier"}'))
    engine.receive_frame(json.dumps({"type": "response.create"}))
    take(engine, 4)  # created, output item added, item added, a first delta
    cancelled = send(engine, {"type": "response.cancel"})
    assert kinds(cancelled) == [
        "response.mcp_call_arguments.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
    ]
    (call,) = output_of(cancelled)
    assert call["output"] is None and call["arguments"] == '{"id":"a'


@pytest.mark.parametrize("validate", [True, False])
def test_the_beta_dialect_refuses_mcp_tools(validate: bool) -> None:
    tools = [{"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example"}]
    engine, _ = started("beta", validate=validate)
    update = {"type": "session.update", "session": {"tools": tools}}
    (refused,) = events(send(engine, update))
    assert refused["type"] == "error"
    assert refused["error"]["type"] == "invalid_request_error"
    assert refused["error"]["code"] == "invalid_value"
    assert refused["error"]["param"].startswith("session.tools")
    assert engine.session["tools"] == []


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ([mcp_tool(), mcp_tool()], "session.tools[1].server_label"),
        ([{"type": "mcp", "server_label": "docs"}], "session.tools[0].server_url"),
    ],
)
def test_mcp_tools_without_a_server_or_with_a_label_twice_are_refused(
    tools: list[dict[str, Any]], param: str
) -> None:
    engine, _ = started("ga")
    (refused,) = events(send(engine, with_tools(session_update("ga"), tools)))
    assert refused["error"]["code"] == "invalid_value" and refused["error"]["param"] == param
    assert engine.session["tools"] == [] and engine.mcp.servers == {}


def test_a_new_approval_rule_applies_without_listing_again() -> None:
    update = with_tools(session_update("ga", modality="text"), [mcp_tool()])
    engine, _ = started("ga", update=update)
    relaxed = with_tools(update, [mcp_tool(require_approval="never")])
    assert kinds(send(engine, relaxed)) == ["session.updated"]
    assert output_of(ask(engine, "mcp docs echo {}"))[0]["type"] == "mcp_call"

"""Server-side tools end to end, in memory against the fake upstream in both dialects: the model
asks (the fake's documented triggers), the relay runs the call inside the session and answers,
the model's reply quotes the result, and the browser sees the call's progress."""

from __future__ import annotations

import json
import time
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from harness import Browser, is_control, read_head, serve_in_memory

from fake_upstream import FakeUpstream
from trio_relay.client_auth import ClientAuth, ClientAuthMode, mint_ticket
from trio_relay.config import (
    Access,
    Dialect,
    RelayConfig,
    SessionSettings,
    ToolSettings,
    azure_target,
    openai_target,
)
from trio_relay.tools import ToolError, tool
from trio_relay.tools.definition import define_tool
from trio_relay.tools.examples import convert_units, get_time, roll_dice
from trio_relay.tools.mcp import McpServer
from trio_relay.tools.toolbox import Toolbox

RUNNING = {"calls": 0, "cancelled": 0}


@tool
async def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order by its id."""
    RUNNING["calls"] += 1
    if order_id == "missing":
        raise ToolError("no order with that id")
    return {"order_id": order_id, "status": "shipped"}


@tool
async def slow_lookup(order_id: str) -> str:
    """Looks an order up, slowly."""
    await trio.sleep(2)
    return f"order {order_id} is on its way"


@tool
async def wait_forever(reason: str) -> str:
    """Takes forever."""
    try:
        await trio.sleep_forever()
    finally:
        RUNNING["cancelled"] += 1
    return reason


TOOLBOX = Toolbox.of(
    [
        define_tool(f)
        for f in (lookup_order, slow_lookup, wait_forever, get_time, convert_units, roll_dice)
    ]
)


def config_for(fake: FakeUpstream, dialect: Dialect, **tools: Any) -> RelayConfig:
    if dialect is Dialect.GA:
        target = openai_target(f"{fake.url}/v1", "gpt-realtime", "sk-test")
    else:
        target = azure_target(fake.url, "dep", api_key="k", api_version="2024-10-01-preview")
    return RelayConfig(
        upstream=target,
        session=SessionSettings(output_modality="text"),
        tools=ToolSettings(**tools),
    )


async def reply_to(browser: Browser, text: str) -> tuple[list[dict[str, Any]], str]:
    """Send a typed turn; the tool_call messages and the text of the reply that follows them."""
    await browser.send_text(text)
    calls: list[dict[str, Any]] = []
    reply = ""
    while True:
        message = await browser.next_message()
        if message["type"] == "tool_call":
            calls.append(message)
        elif message["type"] == "text_delta":
            reply += message["delta"]
        elif message == {"type": "control", "action": "text_done", "id": message.get("id")}:
            return calls, reply
        elif message["type"] == "error":
            raise AssertionError(f"unexpected error {message}")


@pytest.fixture(autouse=True)
def counters() -> None:
    RUNNING.update(calls=0, cancelled=0)


@pytest.mark.parametrize("dialect", list(Dialect))
async def test_a_call_runs_in_the_relay_and_the_model_quotes_its_result(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    dialect: Dialect,
) -> None:
    site = await serve_in_memory(nursery, config_for(fake, dialect), fake, toolbox=TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        calls, reply = await reply_to(browser, 'call lookup_order {"order_id": "A-17"}')
    assert [(c["name"], c["status"]) for c in calls] == [
        ("lookup_order", "started"),
        ("lookup_order", "done"),
    ]
    assert calls[0]["id"] == calls[1]["id"] and set(calls[1]) == {"type", "id", "name", "status"}
    assert "shipped" in reply and "A-17" in reply
    assert RUNNING["calls"] == 1
    # What went upstream: the declared tools, one output for the call, then a response.create.
    (record,) = fake.connections
    sent = record.received
    declared = sent[0]["session"]["tools"]
    assert {tool["name"] for tool in declared} == set(TOOLBOX.functions)
    outputs = [e for e in sent if e.get("item", {}).get("type") == "function_call_output"]
    assert len(outputs) == 1 and json.loads(outputs[0]["item"]["output"])["status"] == "shipped"


@pytest.mark.parametrize("dialect", list(Dialect))
async def test_parallel_calls_and_a_failing_one_are_answered_together(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    dialect: Dialect,
) -> None:
    site = await serve_in_memory(nursery, config_for(fake, dialect), fake, toolbox=TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        calls, reply = await reply_to(
            browser,
            'call lookup_order {"order_id": "B-2"} call lookup_order {"order_id": "missing"}'
            ' call lookup_order {"order_id": 7, "extra": true}',
        )
    outcome = {c["id"]: (c["status"], c.get("reason")) for c in calls if c["status"] != "started"}
    assert sorted(outcome.values(), key=str) == sorted(
        [("done", None), ("failed", "error"), ("failed", "invalid_arguments")], key=str
    )
    assert "shipped" in reply and "no order with that id" in reply
    assert "order_id" in reply  # the model reads what was wrong with its arguments
    assert RUNNING["calls"] == 2  # the invalid call never ran


async def test_the_demo_tools_answer_a_natural_question(
    nursery: trio.Nursery, fake: FakeUpstream
) -> None:
    # The real clock: these tools are plain functions, run in a worker thread, and a virtual
    # clock would jump past every timeout while the thread works.
    config = config_for(fake, Dialect.GA, modules=("trio_relay.tools.examples",))
    site = await serve_in_memory(nursery, config, fake)  # the toolbox TOOLS names
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        calls, reply = await reply_to(browser, "What time is it in Tokyo?")
        assert [c["name"] for c in calls] == ["get_time", "get_time"]
        assert "Asia/Tokyo" in reply
        calls, reply = await reply_to(browser, "convert 10 km to miles")
        assert [c["status"] for c in calls] == ["started", "done"] and "6.2137" in reply


async def test_detail_shows_arguments_and_outputs_to_the_browser(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    config = config_for(fake, Dialect.GA, events_detail=True)
    site = await serve_in_memory(nursery, config, fake, toolbox=TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        calls, _ = await reply_to(browser, 'call lookup_order {"order_id": "C-3"}')
    assert calls[0]["arguments"] == {"order_id": "C-3"}
    assert json.loads(calls[1]["output"]) == {"order_id": "C-3", "status": "shipped"}


async def test_a_call_that_takes_too_long_is_answered_with_a_timeout(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    config = config_for(fake, Dialect.GA, timeout_s=3)
    site = await serve_in_memory(nursery, config, fake, toolbox=TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        started = trio.current_time()
        calls, reply = await reply_to(browser, 'call wait_forever {"reason": "x"}')
        assert trio.current_time() - started == pytest.approx(3, abs=0.5)
    assert calls[-1]["status"] == "failed" and calls[-1]["reason"] == "timeout"
    assert "did not finish within 3 s" in reply
    assert RUNNING["cancelled"] == 1


async def test_a_call_still_running_when_the_browser_leaves_is_cancelled(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, config_for(fake, Dialect.GA), fake, toolbox=TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text('call wait_forever {"reason": "x"}')
        await browser.until(lambda m: m.get("status") == "started")
    with trio.fail_after(5):
        await site.relay.sessions_ended()
    assert RUNNING["cancelled"] == 1


async def test_the_session_keeps_talking_while_a_tool_runs(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    config = config_for(fake, Dialect.GA, timeout_s=60)
    site = await serve_in_memory(nursery, config, fake, toolbox=TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text('call wait_forever {"reason": "x"}')
        await browser.until(lambda m: m.get("status") == "started")
        _, reply = await reply_to(browser, "hello meanwhile")
        assert "hello meanwhile" in reply


MCP_TOOLBOX = Toolbox.of(
    [],
    [
        McpServer(
            "docs",
            "https://mcp.example.com/mcp",
            approve=frozenset({"lookup", "fail"}),
            authorization="mcp-secret-token-123",
        )
    ],
)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('mcp docs lookup {"q": "manual"}', "The lookup tool on docs says"),
        ('mcp docs echo {"q": "manual"}', "The call to echo on docs was declined."),
        ("mcp docs fail {}", "The fail tool on docs failed"),
    ],
)
async def test_mcp_calls_are_approved_by_the_relays_allow_list_and_metered(
    nursery: trio.Nursery,
    fake: FakeUpstream,
    autojump_clock: trio.testing.MockClock,
    text: str,
    said: str,
) -> None:
    site = await serve_in_memory(nursery, config_for(fake, Dialect.GA), fake, toolbox=MCP_TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        _, reply = await reply_to(browser, text)
        assert said in reply
    (record,) = fake.connections
    approvals = [
        e["item"]
        for e in record.received
        if e.get("item", {}).get("type") == "mcp_approval_response"
    ]
    assert len(approvals) == 1 and approvals[0]["approve"] is ("declined" not in said)
    assert "mcp-secret-token-123" not in json.dumps(record.sent)  # never echoed back
    metrics = site.relay.metrics.render().decode()
    decision = "denied" if "declined" in said else "approved"
    assert f'trio_relay_mcp_approvals_total{{decision="{decision}",server="docs"}} 1.0' in metrics
    assert 'trio_relay_mcp_events_total{event="mcp_list_tools.completed"} 1.0' in metrics


TICKET_SECRET = b"s" * 32


def ticket_config(fake: FakeUpstream) -> RelayConfig:
    auth = ClientAuth(ClientAuthMode.TICKET, ticket_secret=TICKET_SECRET)
    return attrs.evolve(config_for(fake, Dialect.GA), access=Access(client_auth=auth))


def ticket(**claims: Any) -> str:
    return mint_ticket(TICKET_SECRET, "alice", int(time.time()) + 600, claims=claims)


async def test_a_tickets_tools_claim_narrows_what_its_session_may_call(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, ticket_config(fake), fake, toolbox=TOOLBOX)
    async with site.browser(f"/realtime?token={ticket(tools=['get_time'])}") as browser:
        await browser.until(is_control("connected"))
        calls, reply = await reply_to(browser, 'call lookup_order {"order_id": "A-1"}')
    assert calls == []  # the model was never offered it, so the fake does not call it
    assert "You said" in reply
    (record,) = fake.connections
    assert [t["name"] for t in record.received[0]["session"]["tools"]] == ["get_time"]
    assert RUNNING["calls"] == 0


async def test_a_malformed_tools_claim_is_refused_before_any_upstream(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, ticket_config(fake), fake, toolbox=TOOLBOX)
    stream = await site.listener.connect()
    request = (
        f"GET /realtime?token={ticket(tools='get_time')} HTTP/1.1\r\nHost: relay\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    await stream.send_all(request.encode())
    head = await read_head(stream)
    assert head.startswith(b"HTTP/1.1 401") and b"must be a list of tool names" in head + (
        await stream.receive_some(4096)
    )
    assert fake.connections == []


async def test_a_draining_relay_lets_a_running_call_finish_and_be_answered(
    nursery: trio.Nursery, fake: FakeUpstream, autojump_clock: trio.testing.MockClock
) -> None:
    site = await serve_in_memory(nursery, config_for(fake, Dialect.GA), fake, toolbox=TOOLBOX)
    async with site.browser() as browser:
        await browser.until(is_control("connected"))
        await browser.send_text('call slow_lookup {"order_id": "D-4"}')
        await browser.until(lambda m: m.get("status") == "started")
        nursery.start_soon(site.relay.shutdown)
        reply = ""
        while (message := await browser.next_message())["type"] != "error":
            reply += message.get("delta", "")
        assert "order D-4 is on its way" in reply  # answered before the session ended
        assert message["code"] == "server_shutting_down"

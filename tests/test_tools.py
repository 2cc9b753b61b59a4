"""Writing tools: the ``@tool`` decorator, the schema the model sees, loading ``TOOLS`` and
``MCP_SERVERS``, running a call (timeouts, exceptions, threads), and the example tools."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest
import trio
import trio.testing

from trio_relay.actions import ToolInvocation, ToolResult
from trio_relay.config import ToolSettings, load_config
from trio_relay.errors import ConfigError
from trio_relay.tools import ToolError, tool
from trio_relay.tools.definition import (
    InvalidArguments,
    ToolDefinitionError,
    define_tool,
    encode_output,
)
from trio_relay.tools.examples import convert_units, get_time, roll_dice
from trio_relay.tools.loading import load_toolbox
from trio_relay.tools.mcp import parse_servers
from trio_relay.tools.runner import ToolRunner

# --- defining a tool ---------------------------------------------------------------------------


class Address(pydantic.BaseModel):
    city: str


def test_the_schema_comes_from_the_type_hints_and_the_docstring() -> None:
    def ship(
        order_id: str,
        quantity: Annotated[int, pydantic.Field(ge=1)] = 1,
        express: bool = False,
        to: Address | None = None,
    ) -> str:
        """Ship an order.

        Args:
            order_id: the order's id, e.g. "A-1".
            quantity: how many parcels;
                at least one.
        Returns:
            the tracking number.
        """
        return "T-1"

    shipping = define_tool(ship)
    assert shipping.name == "ship" and shipping.description == "Ship an order."
    assert not shipping.is_async
    schema = shipping.parameters
    assert schema["required"] == ["order_id"] and schema["additionalProperties"] is False
    assert schema["properties"]["order_id"] == {
        "type": "string",
        "description": 'the order\'s id, e.g. "A-1".',
    }
    assert schema["properties"]["quantity"] == {
        "type": "integer",
        "minimum": 1,
        "default": 1,
        "description": "how many parcels; at least one.",
    }
    assert "title" not in json.dumps(schema)  # noise to the model
    assert shipping.parse_arguments('{"order_id": "A-1", "to": {"city": "Oslo"}}') == {
        "order_id": "A-1",
        "quantity": 1,
        "express": False,
        "to": Address(city="Oslo"),
    }
    with pytest.raises(InvalidArguments, match="quantity: Input should be greater than"):
        shipping.parse_arguments('{"order_id": "A-1", "quantity": 0}')


def test_a_property_named_title_is_kept() -> None:
    def book(title: str) -> str:
        """Find a book."""
        return title

    assert define_tool(book).parameters["properties"] == {"title": {"type": "string"}}


def test_the_decorator_keeps_the_function_callable_and_takes_a_name() -> None:
    @tool(name="lookup", description="Look it up.")
    async def find(key: str) -> str:
        return key

    assert find.__name__ == "find"  # the function itself, unchanged
    definition = find.__trio_relay_tool__  # type: ignore[attr-defined]
    assert (definition.name, definition.description, definition.is_async) == (
        "lookup",
        "Look it up.",
        True,
    )


def no_doc(x: int) -> int:
    return x


def no_hint(x) -> int:  # type: ignore[no-untyped-def]
    """Has no hint."""
    return 1


def star_args(*xs: int) -> int:
    """Takes anything."""
    return 1


@pytest.mark.parametrize(
    ("function", "name", "problem"),
    [
        (no_doc, None, "give it a docstring"),
        (no_hint, None, "parameter 'x' needs a type hint"),
        (star_args, None, r"\*args and \*\*kwargs"),
        (get_time, "bad name!", "1-64"),
    ],
)
def test_a_tool_the_model_cannot_be_offered_says_what_to_change(
    function: Any, name: str | None, problem: str
) -> None:
    with pytest.raises(ToolDefinitionError, match=problem):
        define_tool(function, name=name)


@pytest.mark.parametrize(
    ("value", "text"),
    [("plain text", "plain text"), ({"a": [1, 2]}, '{"a":[1,2]}'), (3, "3"), (None, "null")],
)
def test_results_reach_the_model_as_text_or_json(value: Any, text: str) -> None:
    assert encode_output(value) == text


# --- loading ---------------------------------------------------------------------------------


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("voice_tools_")]:
        del sys.modules[name]


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def test_tools_named_in_the_setting_are_loaded(module_dir: Path) -> None:
    write_module(
        module_dir,
        "voice_tools_a",
        """
        from trio_relay.tools import tool

        @tool
        async def get_order_status(order_id: str) -> dict:
            \"\"\"Look up an order by its id.\"\"\"
            return {"order_id": order_id, "status": "shipped"}

        def helper() -> None: ...
        """,
    )
    config = load_config({"TOOLS": "voice_tools_a, trio_relay.tools.examples"})
    toolbox = load_toolbox(config.tools, {})
    assert sorted(toolbox.functions) == [
        "convert_units",
        "get_order_status",
        "get_time",
        "roll_dice",
    ]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("raise RuntimeError('boom')", "cannot import 'voice_tools_bad': RuntimeError: boom"),
        ("x = 1", "defines no @tool functions"),
        (
            "from trio_relay.tools import tool\n@tool\ndef f(x):\n    '''doc'''\n",
            "needs a type hint",
        ),
    ],
)
def test_a_bad_tools_module_stops_start_up_naming_the_setting(
    module_dir: Path, source: str, problem: str
) -> None:
    write_module(module_dir, "voice_tools_bad", source)
    with pytest.raises(ConfigError, match=problem) as raised:
        load_toolbox(ToolSettings(modules=("voice_tools_bad",)), {})
    assert raised.value.variable == "TOOLS"


def test_a_missing_tools_module_is_named() -> None:
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_here'"):
        load_toolbox(ToolSettings(modules=("no_such_module_here",)), {})


def test_mcp_servers_come_from_a_toml_file_with_secrets_from_the_environment(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mcp.toml"
    path.write_text(
        textwrap.dedent(
            """
            [[servers]]
            label = "docs"
            url = "https://mcp.example.com/mcp"
            allowed_tools = ["search"]
            approve = ["search"]
            authorization_env = "DOCS_TOKEN"
            headers_env = { "X-Api-Key" = "DOCS_KEY" }
            """
        )
    )
    env = {"DOCS_TOKEN": "tok-123", "DOCS_KEY": "key-456"}
    toolbox = load_toolbox(ToolSettings(mcp_servers=str(path)), env)
    (server,) = toolbox.mcp_servers
    assert server.declaration() == {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com/mcp",
        "require_approval": "always",
        "allowed_tools": ["search"],
        "authorization": "tok-123",
        "headers": {"X-Api-Key": "key-456"},
    }
    assert "tok-123" not in repr(server) and "key-456" not in repr(server)
    assert server.approves("search") and not server.approves("delete")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not valid JSON"),
        ('{"servers": []}', "non-empty list"),
        ('{"servers": [{"label": "a b", "url": "https://x"}]}', "label must be a name"),
        ('{"servers": [{"label": "a", "url": "ftp://x"}]}', "url must be an http"),
        ('{"servers": [{"label": "a", "url": "https://x", "aproove": []}]}', "unknown keys"),
        (
            '{"servers": [{"label": "a", "url": "https://x", "authorization_env": "NOPE"}]}',
            "NOPE is not set",
        ),
    ],
)
def test_a_bad_mcp_servers_file_says_what_to_fix(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_servers(text, toml=False, env={})


def test_an_unreadable_mcp_servers_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MCP_SERVERS: cannot read"):
        load_toolbox(ToolSettings(mcp_servers=str(tmp_path / "missing.json")), {})


def test_tool_settings_are_read_and_checked() -> None:
    tools = load_config(
        {"TOOL_TIMEOUT_S": "2.5", "TOOL_EVENTS_DETAIL": "1", "TOOL_THREADS": "2"}
    ).tools
    assert (tools.timeout_s, tools.events_detail, tools.threads) == (2.5, True, 2)
    with pytest.raises(ConfigError, match="TOOL_TIMEOUT_S"):
        load_config({"TOOL_TIMEOUT_S": "never"})


# --- running a call ----------------------------------------------------------------------------


def runner(timeout_s: float = 5.0, max_output_bytes: int = 1000) -> ToolRunner:
    return ToolRunner(timeout_s, max_output_bytes, trio.CapacityLimiter(2))


def invocation(function: Any, **arguments: Any) -> ToolInvocation:
    return ToolInvocation("call_1", define_tool(function), arguments)


async def slow(seconds: float) -> str:
    """Takes its time."""
    await trio.sleep(seconds)
    return "finally"


async def test_a_call_that_takes_too_long_gives_the_model_a_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    result = await runner(timeout_s=2).run(invocation(slow, seconds=60))
    assert (result.status, result.reason) == ("failed", "timeout")
    assert json.loads(result.output) == {"error": "the tool did not finish within 2 s"}
    assert (await runner(timeout_s=2).run(invocation(slow, seconds=1))).output == "finally"


def broken(x: int) -> int:
    """Always fails."""
    raise KeyError("db-password-123")


@pytest.mark.expects_traceback  # the operator gets the traceback; the model does not
async def test_an_exception_in_a_tool_is_an_error_for_the_model_without_its_message() -> None:
    result = await runner().run(invocation(broken, x=1))
    assert result == ToolResult(
        "call_1",
        '{"error": "the tool failed (KeyError); it may work if tried again"}',
        "failed",
        "error",
        result.duration_s,
    )
    assert "db-password-123" not in result.output


def refuses(order_id: str) -> str:
    """Refuses politely."""
    raise ToolError(f"no order {order_id}")


async def test_a_tool_error_tells_the_model_in_the_tools_own_words() -> None:
    result = await runner().run(invocation(refuses, order_id="A-9"))
    assert json.loads(result.output) == {"error": "no order A-9"}
    assert result.reason == "error"


def big() -> str:
    """Says a lot."""
    return "x" * 5000


async def test_an_output_over_the_limit_is_not_sent() -> None:
    result = await runner(max_output_bytes=1000).run(invocation(big))
    assert result.reason == "output_too_large"
    assert "5000 bytes" in json.loads(result.output)["error"]


def which_thread() -> str:
    """Where it runs."""
    return threading.current_thread().name


async def test_a_plain_function_runs_in_a_worker_thread() -> None:
    result = await runner().run(invocation(which_thread))
    assert result.status == "done" and result.output != threading.current_thread().name


async def test_a_call_is_cancelled_with_its_nursery() -> None:
    cancelled = trio.Event()

    async def forever() -> str:
        """Never ends."""
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()
        return ""

    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner().run, invocation(forever))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert cancelled.is_set()


# --- the example tools -------------------------------------------------------------------------


def test_the_example_tools_answer_offline() -> None:
    tokyo = get_time("Asia/Tokyo")
    assert tokyo["timezone"] == "Asia/Tokyo" and len(tokyo["time"]) == 5
    with pytest.raises(ToolError, match="unknown time zone"):
        get_time("Mars/Olympus")
    assert convert_units(10, "km", "miles")["result"] == pytest.approx(6.2137, abs=1e-4)
    assert convert_units(100, "celsius", "F")["result"] == pytest.approx(212)
    with pytest.raises(ToolError, match="cannot convert"):
        convert_units(1, "kg", "km")
    roll = roll_dice(sides=20, count=3)
    assert len(roll["rolls"]) == 3 and all(1 <= r <= 20 for r in roll["rolls"])
    assert roll["total"] == sum(roll["rolls"])

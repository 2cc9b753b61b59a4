"""Server-side tools (:mod:`trio_relay.tools`): which modules and MCP servers, and the bounds on
a call. Pure: no I/O here (the modules and the MCP file are loaded by
:mod:`trio_relay.tools.loading`)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .env import flag, number, whole_number


@attrs.frozen
class ToolSettings:
    """Server-side tools (trio_relay.tools): where they come from and the bounds on a call."""

    modules: tuple[str, ...] = ()  # TOOLS: modules whose @tool functions the model may call
    mcp_servers: str | None = None  # MCP_SERVERS: a JSON or TOML file of remote MCP servers
    timeout_s: float = 10.0
    events_detail: bool = False  # arguments and outputs in the browser's tool_call messages
    max_calls_per_response: int = 8
    threads: int = 8  # worker threads for plain-def tools, per process
    max_output_bytes: int = 32 * 1024


def tools_from_env(env: Mapping[str, str]) -> ToolSettings:
    d = ToolSettings()
    modules = tuple(m.strip() for m in env.get("TOOLS", "").split(",") if m.strip())
    return ToolSettings(
        modules=modules,
        mcp_servers=env.get("MCP_SERVERS", "").strip() or None,
        timeout_s=number(env, "TOOL_TIMEOUT_S", d.timeout_s, low=0.1, high=3600),
        events_detail=flag(env, "TOOL_EVENTS_DETAIL", d.events_detail),
        max_calls_per_response=whole_number(
            env, "TOOL_MAX_CALLS_PER_RESPONSE", d.max_calls_per_response, minimum=1
        ),
        threads=whole_number(env, "TOOL_THREADS", d.threads, minimum=1),
        max_output_bytes=whole_number(env, "TOOL_MAX_OUTPUT_BYTES", d.max_output_bytes, minimum=16),
    )

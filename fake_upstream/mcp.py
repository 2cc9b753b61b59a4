"""Remote MCP servers as the GA Realtime API runs them for a session (the beta dialect has none):
listing each server's tools when a ``session.update`` adds it, asking for approval, and running
a call. Nothing is contacted: the tools and their results are made up, deterministically.
Pure: no I/O.

- Listing: for each ``type: "mcp"`` tool that is new (or whose ``server_url``, ``connector_id``
  or ``allowed_tools`` changed), after ``session.updated``: ``mcp_list_tools.in_progress``,
  the conversation's item added (an ``mcp_list_tools`` item, no tools yet) and done (with the
  tools), then ``mcp_list_tools.completed``. The tools are ``allowed_tools`` (names, or a
  filter's ``tool_names``) if given, else :data:`DEFAULT_TOOLS` (``echo``, ``lookup``,
  ``fail``). A ``server_url`` containing ``fail`` gives ``mcp_list_tools.failed`` instead, and
  the server has no tools.
- Approval: ``require_approval`` ``"never"`` runs every call at once; ``"always"`` (the
  default) or a filter asks first, unless the filter's ``never.tool_names`` lists the tool
  (``read_only`` filters match nothing here). Asking is a response whose one output item is an
  ``mcp_approval_request`` (its id is the ``approval_request_id`` to answer).
- A call: an ``mcp_call`` output item (``response.mcp_call_arguments.delta`` / ``.done``,
  ``response.mcp_call.in_progress``, ``response.mcp_call.completed``), then, in the same
  response, a message saying ``The TOOL tool on LABEL says: OUTPUT``, where OUTPUT is
  ``{"server":LABEL,"tool":TOOL,"arguments":ARGS}`` (ARGS parsed if they are JSON, else the
  text). A tool named ``fail`` ends ``response.mcp_call.failed`` with a
  ``tool_execution_error`` and the message ``The fail tool on LABEL failed: MESSAGE``. A declined
  approval is answered ``The call to TOOL on LABEL was declined.``

``headers`` and ``authorization`` never appear in anything the fake sends (:mod:`.session`
drops them from the session it reports).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from .conversation import Conversation
from .output_items import OutputItem, pieces_of
from .protocol import Event
from .triggers import McpRequest

FAILING_URL_MARK = "fail"  # a server_url containing this fails to list its tools
FAILING_TOOL = "fail"  # a call to a tool of this name fails
FAILURE_MESSAGE = "This tool always fails."
_OBJECT = {"type": "object"}
DEFAULT_TOOLS: tuple[dict[str, Any], ...] = (
    {
        "name": "echo",
        "description": "Echo the arguments back.",
        "input_schema": {**_OBJECT, "properties": {"text": {"type": "string"}}},
    },
    {
        "name": "lookup",
        "description": "Look a record up by its id.",
        "input_schema": {**_OBJECT, "properties": {"id": {"type": "string"}}, "required": ["id"]},
    },
    {"name": FAILING_TOOL, "description": "Always fails.", "input_schema": dict(_OBJECT)},
)


@attrs.frozen
class McpServer:
    """One MCP server of the session, as its tool listing left it."""

    label: str
    source: str  # its server_url (or connector / tunnel id)
    allowed_tools: Any
    require_approval: Any
    tools: tuple[dict[str, Any], ...]  # empty if the listing failed

    @property
    def failed(self) -> bool:
        return FAILING_URL_MARK in self.source

    def lists(self, tool: str) -> bool:
        return any(listed["name"] == tool for listed in self.tools)

    def needs_approval(self, tool: str) -> bool:
        rule = self.require_approval
        if rule == "never":
            return False
        if isinstance(rule, dict):
            never = (rule.get("never") or {}).get("tool_names") or []
            return tool not in never
        return True


def _server(tool: dict[str, Any]) -> McpServer:
    source = tool.get("server_url") or tool.get("connector_id") or tool.get("tunnel_id") or ""
    allowed = tool.get("allowed_tools")
    names = allowed.get("tool_names") if isinstance(allowed, dict) else allowed
    if FAILING_URL_MARK in source:
        tools: tuple[dict[str, Any], ...] = ()
    elif isinstance(names, list):
        tools = tuple(
            {"name": name, "description": f"The {name} tool.", "input_schema": dict(_OBJECT)}
            for name in names
        )
    else:
        tools = copy.deepcopy(DEFAULT_TOOLS)
    return McpServer(
        tool["server_label"], source, copy.deepcopy(allowed), tool.get("require_approval"), tools
    )


class McpServers:
    """The session's MCP servers, by label."""

    def __init__(self) -> None:
        self.servers: dict[str, McpServer] = {}

    def update(self, tools: Sequence[Any]) -> list[McpServer]:
        """Take the session's tools as they now are; returns the servers whose tools are to be
        listed now (new ones and changed ones), in order."""
        before, self.servers = self.servers, {}
        to_list = []
        for tool in tools:
            if not isinstance(tool, dict) or tool.get("type") != "mcp":
                continue
            server = _server(tool)
            old = before.get(server.label)
            if old is not None and (old.source, old.allowed_tools) == (
                server.source,
                server.allowed_tools,
            ):
                server = attrs.evolve(old, require_approval=server.require_approval)
            else:
                to_list.append(server)
            self.servers[server.label] = server
        return to_list

    def find(self, request: McpRequest) -> McpServer | None:
        """The server that can run ``request`` (it lists the tool), if any."""
        server = self.servers.get(request.server_label)
        return server if server is not None and server.lists(request.tool) else None


def list_tools(server: McpServer, item_id: str, conversation: Conversation) -> list[Event]:
    """The events of listing a server's tools; its ``mcp_list_tools`` item joins the
    conversation."""
    item: dict[str, Any] = {"id": item_id, "type": "mcp_list_tools", "server_label": server.label}
    item["tools"] = []
    previous = conversation.add(item)
    added = {"previous_item_id": previous, "item": copy.deepcopy(item)}
    item["tools"] = copy.deepcopy(list(server.tools))
    outcome = "failed" if server.failed else "completed"
    return [
        {"type": "mcp_list_tools.in_progress", "item_id": item_id},
        {"type": "conversation.item.added", **added},
        {"type": "conversation.item.done", "item": copy.deepcopy(item)},
        {"type": f"mcp_list_tools.{outcome}", "item_id": item_id},
    ]


def call_result(request: McpRequest) -> tuple[str | None, dict[str, Any] | None]:
    """The made-up (output, error) of running ``request``."""
    if request.tool == FAILING_TOOL:
        return None, {"type": "tool_execution_error", "message": FAILURE_MESSAGE}
    try:
        arguments: Any = json.loads(request.arguments)
    except ValueError:
        arguments = request.arguments
    output = {"server": request.server_label, "tool": request.tool, "arguments": arguments}
    return json.dumps(output, separators=(",", ":")), None


def call_reply(request: McpRequest, output: str | None, error: dict[str, Any] | None) -> str:
    where = f"The {request.tool} tool on {request.server_label}"
    if error is not None:
        return f"{where} failed: {error['message']}"
    return f"{where} says: {output}"


def declined_reply(request: McpRequest) -> str:
    return f"The call to {request.tool} on {request.server_label} was declined."


class McpApprovalRequestItem(OutputItem):
    """An ``mcp_approval_request`` output item: complete as soon as it is added."""

    def __init__(self, item_id: str, request: McpRequest) -> None:
        super().__init__("ga", item_id)
        self.request = request

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": "mcp_approval_request",
            "server_label": self.request.server_label,
            "name": self.request.tool,
            "arguments": self.request.arguments,
        }


class McpCallItem(OutputItem):
    """An ``mcp_call`` output item: its arguments streamed, then the call run."""

    def __init__(self, item_id: str, request: McpRequest, approval_request_id: str | None) -> None:
        super().__init__("ga", item_id)
        self.request = request
        self.approval_request_id = approval_request_id
        self.arguments_sent = ""
        self.arguments_done = False
        self.output: str | None = None
        self.error: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": "mcp_call",
            "server_label": self.request.server_label,
            "name": self.request.tool,
            "arguments": self.arguments_sent,
            "approval_request_id": self.approval_request_id,
            "output": self.output,
            "error": copy.deepcopy(self.error),
        }

    def body(self) -> Iterator[Event]:
        for piece in pieces_of(self.request.arguments):
            self.arguments_sent += piece
            yield {"type": "response.mcp_call_arguments.delta", **self.where, "delta": piece}
        yield from self.cut_short()
        at = {"item_id": self.item_id, "output_index": self.output_index}
        yield {"type": "response.mcp_call.in_progress", **at}
        self.output, self.error = call_result(self.request)
        outcome = "failed" if self.error is not None else "completed"
        yield {"type": f"response.mcp_call.{outcome}", **at}

    def cut_short(self) -> list[Event]:
        if self.arguments_done:
            return []
        self.arguments_done = True
        done = {"type": "response.mcp_call_arguments.done", **self.where}
        return [{**done, "arguments": self.arguments_sent}]

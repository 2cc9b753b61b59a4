"""What the fake assistant does when a response is due: say something (or echo a spoken turn),
call functions, ask for an MCP approval, or run an MCP call. It reads the conversation since
the last user message. Pure: no I/O.

- No tool item since that message (and no reply yet): the user's words (the text, or for a
  spoken turn what ``--spoken-text`` says it said) are read for triggers (:mod:`.triggers`).
  ``mcp`` commands come first: the first one naming a listed tool of a session MCP server is
  the answer (an approval request, or the call at once). Else every ``call NAME`` command whose
  NAME is a declared function tool is a call, in parallel; else the demo phrases, for the demo
  tools that are declared. ``tool_choice`` ``"none"`` turns every trigger off; a forced choice
  (``{"type":"function","name":...}``, ``{"type":"mcp","server_label":...}``) keeps only that
  tool's; ``"required"`` is ``"auto"`` here (the fake never makes up a call). A
  ``response.create``'s own ``tools`` / ``tool_choice`` replace the session's (MCP servers are
  the session's only). Nothing asked for: the usual reply ("You said: ...", or the spoken
  turn's echo).
- Function calls since that message, and outputs for some of them: the reply quoting the
  outputs (:func:`~fake_upstream.tool_calls.quote_outputs`).
- An approval request answered since that message: the call (approved) or the reply saying it
  was declined.
- Anything else (already answered, calls without outputs, an unanswered approval request): the
  usual reply, without triggers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from . import scripts
from .conversation import Conversation, Item
from .mcp import (
    McpApprovalRequestItem,
    McpCallItem,
    McpServers,
    call_reply,
    call_result,
    declined_reply,
)
from .output_items import OutputItem
from .protocol import DialectName
from .tool_calls import FunctionCallItem, quote_outputs
from .triggers import FunctionRequest, McpRequest, demo_requests, function_requests, mcp_requests


@attrs.frozen
class Say:
    """A message saying ``text``; if the response has audio, ``audio`` (a spoken turn's own,
    echoed) or else the tone of :func:`~fake_upstream.scripts.spoken`."""

    text: str
    audio: bytes | None = attrs.field(default=None, repr=False)

    def pcm(self, audio_out: bool) -> bytes | None:
        if not audio_out:
            return None
        return self.audio if self.audio is not None else scripts.spoken(self.text)


@attrs.frozen
class CallFunctions:
    requests: tuple[FunctionRequest, ...]


@attrs.frozen
class AskApproval:
    request: McpRequest


@attrs.frozen
class RunMcp:
    request: McpRequest
    approval_request_id: str | None = None


Answer = Say | CallFunctions | AskApproval | RunMcp
_TOOL_ITEMS = {"function_call", "function_call_output", "mcp_approval_request", "mcp_call"}


@attrs.frozen
class Tools:
    """The tools a response may use: the declared function names, the tool choice, and the
    session's MCP servers."""

    functions: frozenset[str]
    choice: Any
    mcp: McpServers

    @classmethod
    def of(cls, session: dict[str, Any], response: dict[str, Any], mcp: McpServers) -> Tools:
        """The ``response.create``'s own ``tools`` and ``tool_choice`` if it names them, else
        the session's."""
        tools = response.get("tools")
        tools = (session.get("tools") or []) if tools is None else tools
        choice = response.get("tool_choice")
        choice = session.get("tool_choice") if choice is None else choice
        names = frozenset(
            tool["name"]
            for tool in tools
            if isinstance(tool, dict)
            and tool.get("type", "function") == "function"
            and isinstance(tool.get("name"), str)
        )
        return cls(names, choice, mcp)

    def allows_function(self, name: str) -> bool:
        if self.choice == "none" or name not in self.functions:
            return False
        if isinstance(self.choice, dict):
            return self.choice.get("type") == "function" and self.choice.get("name") == name
        if isinstance(self.choice, str) and self.choice not in ("auto", "required"):
            return self.choice == name  # beta: a function's name
        return True

    def allows_mcp(self, request: McpRequest) -> bool:
        if self.choice == "none" or self.mcp.find(request) is None:
            return False
        if isinstance(self.choice, dict):
            return (
                self.choice.get("type") == "mcp"
                and self.choice.get("server_label") == request.server_label
                and self.choice.get("name") in (None, request.tool)
            )
        return self.choice in (None, "auto", "required")


def answer(conversation: Conversation, heard: dict[str, str], tools: Tools) -> Answer:
    """What the next response does (``heard``: spoken user item id -> what was said)."""
    items = list(conversation.items.values())
    last_user = max((i for i, item in enumerate(items) if item.get("role") == "user"), default=-1)
    if last_user < 0:
        return Say(scripts.text_reply(""))
    user, since = items[last_user], items[last_user + 1 :]
    audio = conversation.item_audio.get(user["id"])
    said = heard.get(user["id"]) if audio is not None else _text_of(user)
    usual = Say(scripts.text_reply(said or ""))
    if audio is not None:
        usual = Say(scripts.audio_reply_transcript(scripts.seconds_of(len(audio))), audio)
    if any(item.get("role") == "assistant" for item in since):
        return usual
    if not any(item.get("type") in _TOOL_ITEMS for item in since):
        return _triggered(said or "", tools) or usual
    calls = [item for item in since if item.get("type") == "function_call"]
    if calls:
        outputs = {
            item["call_id"]: item["output"]
            for item in since
            if item.get("type") == "function_call_output"
        }
        quoted = quote_outputs(calls, outputs)
        return Say(quoted) if quoted is not None else usual
    return _after_approval(since) or usual


def _text_of(user: Item) -> str:
    said = [part.get("text") or "" for part in user.get("content", [])]
    return " ".join(text for text in said if text)


def _triggered(said: str, tools: Tools) -> Answer | None:
    for request in mcp_requests(said):
        if tools.allows_mcp(request):
            server = tools.mcp.find(request)
            assert server is not None
            if server.needs_approval(request.tool):
                return AskApproval(request)
            return RunMcp(request)
    calls = [request for request in function_requests(said) if tools.allows_function(request.name)]
    if not calls:
        calls = [request for request in demo_requests(said) if tools.allows_function(request.name)]
    return CallFunctions(tuple(calls)) if calls else None


def _after_approval(since: list[Item]) -> Answer | None:
    asked = [item for item in since if item.get("type") == "mcp_approval_request"]
    if not asked or any(item.get("type") == "mcp_call" for item in since):
        return None
    request = asked[-1]
    replies = [
        item
        for item in since
        if item.get("type") == "mcp_approval_response"
        and item.get("approval_request_id") == request["id"]
    ]
    if not replies:
        return None
    mcp = McpRequest(request["server_label"], request["name"], request["arguments"])
    if replies[-1].get("approve"):
        return RunMcp(mcp, request["id"])
    return Say(declined_reply(mcp))


def output_items(
    dialect: DialectName, chosen: Answer, new_id: Callable[[str], str]
) -> tuple[list[OutputItem], Say | None]:
    """The tool items of an answer (ids from ``new_id``), and the message that follows them
    (None: no message)."""
    if isinstance(chosen, Say):
        return [], chosen
    if isinstance(chosen, CallFunctions):
        calls: list[OutputItem] = [
            FunctionCallItem(
                dialect,
                new_id("item"),
                call_id=new_id("call"),
                name=request.name,
                arguments=request.arguments,
            )
            for request in chosen.requests
        ]
        return calls, None
    if isinstance(chosen, AskApproval):
        return [McpApprovalRequestItem(new_id("item"), chosen.request)], None
    output, error = call_result(chosen.request)
    call = McpCallItem(new_id("item"), chosen.request, chosen.approval_request_id)
    return [call], Say(call_reply(chosen.request, output, error))

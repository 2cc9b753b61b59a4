"""Server-side tool calls: which are open, and what goes upstream when. Pure: no I/O, no tasks,
no clock; the translator owns one and feeds it, the session runs the calls it hands out
(:attr:`~trio_relay.actions.Actions.start_tools`) and reports each :class:`ToolResult`.

What it keeps, and why:

- **every call once.** A ``function_call`` item is taken from ``response.output_item.done`` (so
  a call starts as soon as its arguments are complete, while the response still streams) and
  from the ``output`` of ``response.done`` (should the item event be missing); a ``call_id``
  seen before is never run again, however often the upstream repeats it. Items that did not
  complete (a response cut short by a barge-in) are not run.
- **checks before a call.** An unknown tool (or one the client's ticket does not allow), more
  calls in one response than ``TOOL_MAX_CALLS_PER_RESPONSE``, and arguments that do not fit the
  tool's schema are answered at once with an error output the model can act on; nothing runs.
- **answered together.** Calls of one response (parallel calls) are answered together, once
  the response is done and every call has a result: one ``function_call_output`` item each, in
  call order, then one ``response.create``, which the translator sends through the response
  state machine (queued behind any active response).
- **MCP approvals.** An ``mcp_approval_request`` is answered once, by the server's policy
  (:meth:`~trio_relay.tools.mcp.McpServer.approves`: default deny), and the answer is followed
  by a ``response.create`` so the model goes on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from .actions import (
    Actions,
    McpApprovalAnswered,
    McpCallFinished,
    ToolCallFinished,
    ToolInvocation,
    ToolResult,
)
from .browser import ToolCallUpdate
from .tools.definition import InvalidArguments
from .tools.toolbox import Toolbox

DEFAULT_MAX_CALLS_PER_RESPONSE = 8
# Call ids remembered per session (an upstream repeating ids cannot grow the set past it).
MAX_REMEMBERED_CALLS = 4096


def error_output(message: str) -> str:
    """The output text of a call that failed: JSON, so the model reads it like any result."""
    return json.dumps({"error": message}, ensure_ascii=False)


@attrs.define
class _Batch:
    """The calls of one response, in call order, and their outputs so far."""

    calls: list[tuple[str, str]] = attrs.Factory(list)  # (call_id, name)
    outputs: dict[str, str] = attrs.Factory(dict)
    response_done: bool = False

    @property
    def complete(self) -> bool:
        return self.response_done and len(self.outputs) == len(self.calls)


class ToolCalls:
    def __init__(
        self,
        toolbox: Toolbox,
        *,
        max_calls_per_response: int = DEFAULT_MAX_CALLS_PER_RESPONSE,
        detail: bool = False,
    ) -> None:
        self.toolbox = toolbox
        self.max_calls_per_response = max_calls_per_response
        self.detail = detail  # TOOL_EVENTS_DETAIL: arguments and outputs reach the browser
        self._seen: dict[str, None] = {}  # call ids and approval ids handled; insertion-ordered
        self._batches: dict[str, _Batch] = {}  # by response id
        self._response_of: dict[str, str] = {}  # running call id -> its response id
        self._approvals = 0

    @property
    def busy(self) -> bool:
        """Calls are running or waiting to be answered (the session is not idle)."""
        return bool(self._batches)

    # --- the upstream says ---------------------------------------------------------------------

    def item_done(self, item: Mapping[str, Any], response_id: str) -> Actions:
        """An output item is complete (``response.output_item.done``, or one of the items in
        ``response.done``): a function call to run, an MCP approval to answer, an MCP call to
        meter; anything else is not ours."""
        kind = item.get("type")
        if kind == "function_call":
            return self._function_call(item, response_id)
        if kind == "mcp_approval_request":
            return self._approval_request(item)
        if kind == "mcp_call" and self._first_time(_text(item, "id")):
            error = item.get("error")
            message = _error_text(error) if error is not None else None
            return Actions(
                observations=[
                    McpCallFinished(_text(item, "server_label"), _text(item, "name"), message)
                ]
            )
        return Actions()

    def response_done(self, response: Mapping[str, Any]) -> Actions:
        """``response.done``: its calls not seen yet start now, and if all of them have their
        outputs, they go upstream."""
        response_id = _text(response, "id")
        actions = Actions()
        output = response.get("output")
        for item in output if isinstance(output, list) else ():
            if isinstance(item, dict):
                actions.add(self.item_done(item, response_id))
        batch = self._batches.get(response_id)
        if batch is not None:
            batch.response_done = True
            actions.add(self._answer_if_complete(response_id))
        return actions

    # --- the session says ----------------------------------------------------------------------

    def finished(self, result: ToolResult) -> Actions:
        """A call the session ran has its result."""
        response_id = self._response_of.pop(result.call_id, None)
        batch = self._batches.get(response_id) if response_id is not None else None
        if batch is None:
            return Actions()  # not a call of ours, or answered already
        name = dict(batch.calls)[result.call_id]
        batch.outputs[result.call_id] = result.output
        update = ToolCallUpdate(
            result.call_id,
            name,
            result.status,
            reason=result.reason,
            output=result.output if self.detail and result.status == "done" else None,
        )
        finished = ToolCallFinished(
            result.call_id, name, result.status, result.reason, result.duration_s
        )
        actions = Actions(to_client=[update], observations=[finished])
        assert response_id is not None
        return actions.add(self._answer_if_complete(response_id))

    # --- what goes upstream --------------------------------------------------------------------

    def _function_call(self, item: Mapping[str, Any], response_id: str) -> Actions:
        status = item.get("status")
        if status not in (None, "completed"):
            return Actions()  # cut short: the model did not finish asking
        call_id, name = _text(item, "call_id"), _text(item, "name")
        if not call_id or not self._first_time(call_id):
            return Actions()
        batch = self._batches.setdefault(response_id, _Batch())
        batch.calls.append((call_id, name))
        self._response_of[call_id] = response_id
        arguments = item.get("arguments")
        arguments = arguments if isinstance(arguments, str) else ""
        tool = self.toolbox.functions.get(name)
        if tool is None:
            return self._refused(call_id, name, "unknown_tool", f"there is no tool named {name!r}")
        if len(batch.calls) > self.max_calls_per_response:
            return self._refused(
                call_id,
                name,
                "too_many_calls",
                f"at most {self.max_calls_per_response} tool calls per answer; "
                "this one was not run",
            )
        try:
            parsed = tool.parse_arguments(arguments)
        except InvalidArguments as exc:
            return self._refused(call_id, name, "invalid_arguments", str(exc))
        shown = _shown_arguments(arguments) if self.detail else None
        return Actions(
            to_client=[ToolCallUpdate(call_id, name, "started", arguments=shown)],
            start_tools=[ToolInvocation(call_id, tool, parsed)],
        )

    def _refused(self, call_id: str, name: str, reason: str, message: str) -> Actions:
        """A call answered without running it: the model reads why."""
        actions = Actions(to_client=[ToolCallUpdate(call_id, name, "started")])
        result = ToolResult(call_id, error_output(message), "failed", reason)
        return actions.add(self.finished(result))

    def _answer_if_complete(self, response_id: str) -> Actions:
        batch = self._batches[response_id]
        if not batch.complete:
            return Actions()
        del self._batches[response_id]
        return Actions(
            to_upstream=[
                function_call_output(call_id, batch.outputs[call_id]) for call_id, _ in batch.calls
            ]
        )

    def _approval_request(self, item: Mapping[str, Any]) -> Actions:
        request_id = _text(item, "id")
        if not request_id or not self._first_time(request_id):
            return Actions()
        label, name = _text(item, "server_label"), _text(item, "name")
        server = self.toolbox.mcp_server(label)
        approved = server is not None and server.approves(name)
        self._approvals += 1
        return Actions(
            to_upstream=[
                mcp_approval_response(f"relay_approval_{self._approvals}", request_id, approved)
            ],
            observations=[McpApprovalAnswered(label, name, approved)],
        )

    def _first_time(self, item_id: str) -> bool:
        if item_id in self._seen:
            return False
        self._seen[item_id] = None
        if len(self._seen) > MAX_REMEMBERED_CALLS:
            del self._seen[next(iter(self._seen))]
        return True


def function_call_output(call_id: str, output: str) -> dict[str, Any]:
    """``conversation.item.create`` answering a call (the same shape in both dialects)."""
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def mcp_approval_response(item_id: str, request_id: str, approve: bool) -> dict[str, Any]:
    """The answer to an ``mcp_approval_request`` (an item of our own, so it has our id)."""
    reason = "allowed by the relay's policy" if approve else "not on the relay's allow-list"
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "mcp_approval_response",
            "id": item_id,
            "approval_request_id": request_id,
            "approve": approve,
            "reason": reason,
        },
    }


def _text(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    return value if isinstance(value, str) else ""


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        for field in ("message", "type", "code"):
            if isinstance(value := error.get(field), str) and value:
                return value[:200]
    return "error"


def _shown_arguments(arguments: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None

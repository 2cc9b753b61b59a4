"""Running one tool call inside a session's nursery: an ``async def`` tool as a task of the
session, a plain ``def`` in a worker thread (at most ``TOOL_THREADS`` at once in the process),
both within ``TOOL_TIMEOUT_S``. Whatever a tool does, the result is a
:class:`~trio_relay.actions.ToolResult` for the model, never a session failure; a call still
running when the session ends is cancelled with the nursery (a thread is abandoned: Python
cannot stop it, but nobody waits for it).
"""

from __future__ import annotations

import time
from functools import partial

import attrs
import trio

from ..actions import ToolInvocation, ToolResult
from ..config import ToolSettings
from ..log import get_logger
from ..tool_calls import error_output
from .definition import ToolError, encode_output

log = get_logger("trio_relay.tools")


@attrs.frozen
class ToolRunner:
    timeout_s: float
    max_output_bytes: int
    threads: trio.CapacityLimiter = attrs.field(eq=False)

    @classmethod
    def for_settings(cls, settings: ToolSettings) -> ToolRunner:
        """A runner with its own pool of ``TOOL_THREADS`` threads (one per process: the server
        makes one and hands it to every session)."""
        return cls(
            settings.timeout_s, settings.max_output_bytes, trio.CapacityLimiter(settings.threads)
        )

    async def run(self, call: ToolInvocation) -> ToolResult:
        name = call.tool.name
        log.debug("tool call", tool=name, call_id=call.call_id, arguments=call.arguments)
        started = time.perf_counter()

        def result(output: str, status: str = "done", reason: str | None = None) -> ToolResult:
            return ToolResult(call.call_id, output, status, reason, time.perf_counter() - started)

        try:
            with trio.fail_after(self.timeout_s):
                if call.tool.is_async:
                    value = await call.tool.function(**call.arguments)
                else:
                    value = await trio.to_thread.run_sync(
                        partial(call.tool.function, **call.arguments),
                        limiter=self.threads,
                        abandon_on_cancel=True,
                    )
            output = encode_output(value)
        except trio.TooSlowError:
            return result(
                error_output(f"the tool did not finish within {self.timeout_s:g} s"),
                "failed",
                "timeout",
            )
        except ToolError as exc:  # the tool's own words for the model
            return result(error_output(str(exc)), "failed", "error")
        except Exception as exc:
            log.exception("tool call raised", tool=name, call_id=call.call_id)
            return result(
                error_output(f"the tool failed ({type(exc).__name__}); it may work if tried again"),
                "failed",
                "error",
            )
        size = len(output.encode("utf-8"))
        if size > self.max_output_bytes:
            log.warning("tool output too large", tool=name, call_id=call.call_id, bytes=size)
            return result(
                error_output(
                    f"the tool's result was {size} bytes, over the relay's limit of "
                    f"{self.max_output_bytes} (TOOL_MAX_OUTPUT_BYTES)"
                ),
                "failed",
                "output_too_large",
            )
        return result(output)

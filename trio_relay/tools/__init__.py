"""Server-side tools: Python functions the model calls, run by the relay inside the session.

::

    from trio_relay.tools import tool

    @tool
    async def get_order_status(order_id: str) -> dict:
        \"\"\"Look up an order by its id.\"\"\"
        ...

``TOOLS=myapp.voice_tools trio-relay`` offers every ``@tool`` of that module to the model
(see the README, "Server-side tools"). Raise :class:`ToolError` to tell the model why a call
did not work.
"""

from .definition import Tool, ToolError, tool

__all__ = ["Tool", "ToolError", "tool"]

"""A deterministic fake of the OpenAI / Azure OpenAI Realtime API, for offline tests and demos.

Tools. The fake calls the function tools a ``session.update`` (or a ``response.create``)
declares when the last user turn asks for them, in both dialects, and runs the session's MCP
servers (GA only) without contacting anything:

- Triggers (:mod:`.triggers`): a user text ``call NAME {json}`` (several of them: parallel calls
  in one response), ``mcp LABEL TOOL {json}``, and for the demo tools ``get_time``,
  ``convert_units`` and ``roll_dice`` "what time is it in Tokyo?", "convert 10 km to miles",
  "roll a die" / "roll 2 dice" / "roll a d20". Only declared tools are called; ``tool_choice``
  ``"none"`` calls nothing. A spoken turn says what ``--spoken-text`` (``spoken_texts``) gives
  it, one text per turn, and the same triggers apply; without one it is echoed as ever.
- A function-call response streams ``function_call`` items only (:mod:`.tool_calls`); after a
  ``function_call_output`` per call and a ``response.create``, the reply is ``The NAME tool
  says: OUTPUT`` per output, in call order. An output for an unknown ``call_id`` is an error.
- MCP (:mod:`.mcp`): tool listing on ``session.update`` (a ``server_url`` containing ``fail``
  fails), approval requests, calls (a tool named ``fail`` fails), and the reply quoting the
  call. ``headers`` and ``authorization`` are never sent back.
- What a response does next is decided in :mod:`.answers`.
"""

from .options import FakeUpstreamOptions
from .server import ConnectionRecord, FakeUpstream, open_fake_upstream

__all__ = ["ConnectionRecord", "FakeUpstream", "FakeUpstreamOptions", "open_fake_upstream"]

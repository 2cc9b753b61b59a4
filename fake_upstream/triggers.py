"""What a user turn asks the fake assistant to call: the documented, deterministic triggers
that stand in for a model deciding to use a tool. Pure: text in, requests out; whether a
request is made at all depends on the tools the session declares (:mod:`.answers`).

The grammar (keywords case-insensitive, tool names and labels exact):

| user text (or ``--spoken-text`` of a spoken turn) | request                                 |
|---------------------------------------------------|-----------------------------------------|
| ``call NAME {json}``                              | function ``NAME``, arguments ``{json}`` |
|                                                   | as written (even invalid JSON), ``{}``  |
|                                                   | if no ``{`` follows the name            |
| ``call A {..} call B {..}``                       | parallel calls, one item each, in order |
| ``mcp LABEL TOOL {json}``                         | MCP tool ``TOOL`` on server ``LABEL``   |
| ``what time is it in Tokyo?``                     | ``get_time {"timezone":"Asia/Tokyo"}``  |
| ``convert 10 km to miles``                        | ``convert_units {"value":10,``          |
|                                                   | ``"from_unit":"km","to_unit":"miles"}`` |
| ``roll a die`` / ``roll 2 dice`` / ``roll a d20`` | ``roll_dice {"sides":6,"count":1}`` /   |
| / ``roll 2d20``                                   | ``count`` 2 / ``sides`` 20              |

The time question also reads ``what's the time in ...``; the cities known are Tokyo, London,
Paris, New York, Sydney and UTC (any other place is passed as said: ``{"timezone":"Atlantis"}``).
A command JSON object ends at its matching ``}`` (braces inside strings do not count); one
left open runs to the end of the text.
"""

from __future__ import annotations

import json
import re

import attrs


@attrs.frozen
class FunctionRequest:
    """A function call the user asked for."""

    name: str
    arguments: str  # JSON text, passed on as written


@attrs.frozen
class McpRequest:
    """A tool call on an MCP server the user asked for."""

    server_label: str
    tool: str
    arguments: str


CITY_ZONES = {
    "tokyo": "Asia/Tokyo",
    "london": "Europe/London",
    "paris": "Europe/Paris",
    "new york": "America/New_York",
    "sydney": "Australia/Sydney",
    "utc": "UTC",
}
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}

_CALL = re.compile(r"\bcall\s+([^\s{]+)", re.IGNORECASE)
_MCP = re.compile(r"\bmcp\s+(\S+)\s+([^\s{]+)", re.IGNORECASE)
_TIME = re.compile(
    r"\bwhat(?:'s|\s+is)?\s+(?:the\s+)?time\s+(?:is\s+it\s+)?in\s+([^\W\d_][^?!.,;]*)",
    re.IGNORECASE,
)
_CONVERT = re.compile(
    r"\bconvert\s+(-?\d+(?:\.\d+)?)\s*([^\W\d_][\w/]*)\s+(?:to|into|in)\s+([^\W\d_][\w/]*)",
    re.IGNORECASE,
)
_DICE = re.compile(
    r"\broll\s+(?:(\d+)\s*d(\d+)\b|(a|an|one|two|three|four|five|six|\d+)\s+(?:(dice|die)\b|d(\d+)\b))",
    re.IGNORECASE,
)


def function_requests(text: str) -> list[FunctionRequest]:
    """Every ``call NAME {json}`` command in ``text``, in order."""
    requests = []
    position = 0
    while (found := _CALL.search(text, position)) is not None:
        arguments, position = _json_after(text, found.end())
        requests.append(FunctionRequest(found.group(1), arguments))
    return requests


def mcp_requests(text: str) -> list[McpRequest]:
    """Every ``mcp LABEL TOOL {json}`` command in ``text``, in order."""
    requests = []
    position = 0
    while (found := _MCP.search(text, position)) is not None:
        arguments, position = _json_after(text, found.end())
        requests.append(McpRequest(found.group(1), found.group(2), arguments))
    return requests


def demo_requests(text: str) -> list[FunctionRequest]:
    """The demo tools' natural-language triggers found in ``text``, in the order they occur."""
    found: list[tuple[int, FunctionRequest]] = []
    if (time := _TIME.search(text)) is not None:
        found.append((time.start(), FunctionRequest("get_time", _compact(_zone(time.group(1))))))
    if (convert := _CONVERT.search(text)) is not None:
        value, from_unit, to_unit = convert.groups()
        number = float(value)
        arguments = {
            "value": int(number) if number.is_integer() else number,
            "from_unit": from_unit.lower(),
            "to_unit": to_unit.lower(),
        }
        found.append((convert.start(), FunctionRequest("convert_units", _compact(arguments))))
    if (dice := _DICE.search(text)) is not None:
        count, sides, count_word, _, word_sides = dice.groups()
        if count is None:
            word = count_word.lower()
            count = str(NUMBER_WORDS[word]) if word in NUMBER_WORDS else count_word
            sides = word_sides or "6"
        arguments = {"sides": int(sides), "count": int(count)}
        found.append((dice.start(), FunctionRequest("roll_dice", _compact(arguments))))
    return [request for _, request in sorted(found, key=lambda pair: pair[0])]


def _zone(place: str) -> dict[str, str]:
    said = place.strip()
    lowered = " ".join(said.lower().split())
    for city, zone in CITY_ZONES.items():
        if lowered == city or lowered.startswith(city + " "):
            return {"timezone": zone}
    return {"timezone": said}


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _json_after(text: str, start: int) -> tuple[str, int]:
    """The JSON object written after ``start`` (``{}`` if the next word is no object) and where
    scanning goes on."""
    rest = text[start:]
    stripped = rest.lstrip()
    if not stripped.startswith("{"):
        return "{}", start
    begin = start + len(rest) - len(stripped)
    depth, in_string, escaped = 0, False, False
    for index in range(begin, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[begin : index + 1], index + 1
    return text[begin:].rstrip(), len(text)

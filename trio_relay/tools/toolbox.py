"""The tools one session offers the model: the relay's ``@tool`` functions and its remote MCP
servers, narrowed for a client whose ticket carries a ``tools`` claim. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .definition import Tool
from .mcp import McpServer

# The ticket claim that narrows a session's tools (function names and MCP server labels).
TOOLS_CLAIM = "tools"


class InvalidToolsClaim(ValueError):
    """A ticket's ``tools`` claim is not a list of names; the ticket is bad."""


def _read_only(functions: Mapping[str, Tool]) -> Mapping[str, Tool]:
    return MappingProxyType(dict(functions))


@attrs.frozen
class Toolbox:
    functions: Mapping[str, Tool] = attrs.field(factory=dict, converter=_read_only)
    mcp_servers: tuple[McpServer, ...] = ()

    @classmethod
    def of(cls, tools: Iterable[Tool], mcp_servers: Iterable[McpServer] = ()) -> Toolbox:
        return cls({t.name: t for t in tools}, tuple(mcp_servers))

    def __bool__(self) -> bool:
        return bool(self.functions or self.mcp_servers)

    def declarations(self) -> list[dict[str, Any]]:
        """``session.tools``: the functions, then the MCP servers."""
        return [tool.declaration() for tool in self.functions.values()] + [
            server.declaration() for server in self.mcp_servers
        ]

    def mcp_server(self, label: str) -> McpServer | None:
        return next((s for s in self.mcp_servers if s.label == label), None)

    def for_claims(self, claims: Mapping[str, Any]) -> Toolbox:
        """The tools a client may use: all of them, or those its ticket's ``tools`` claim
        names (others in the claim are ignored), or :class:`InvalidToolsClaim`."""
        if TOOLS_CLAIM not in claims:
            return self
        names = claims[TOOLS_CLAIM]
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise InvalidToolsClaim(f"ticket claim {TOOLS_CLAIM!r} must be a list of tool names")
        allowed = set(names)
        return Toolbox(
            {name: tool for name, tool in self.functions.items() if name in allowed},
            tuple(server for server in self.mcp_servers if server.label in allowed),
        )

"""Remote MCP servers the upstream calls on the relay's behalf. Pure: parsing, declarations and
the approval policy; no MCP client (the upstream speaks MCP, the relay configures, approves and
meters).

``MCP_SERVERS`` names a JSON or TOML file with a list of servers::

    [[servers]]
    label = "docs"                          # server_label: what the model and the logs call it
    url = "https://mcp.example.com/mcp"
    description = "Our product manuals"     # optional
    allowed_tools = ["search", "fetch"]     # optional: the tools the model may see
    approve = ["search"]                    # tools the relay approves; every other call is denied
    authorization_env = "DOCS_MCP_TOKEN"    # optional: the OAuth token, from this variable
    headers_env = { "X-Api-Key" = "DOCS_MCP_KEY" }  # optional: header values from variables

Secrets are never in the file, only the names of the relay's environment variables that hold
them; a browser can neither see nor change any of it. The upstream asks before every call
(``require_approval: "always"``) and the relay answers by ``approve``: default deny.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import ConfigError

SETTING = "MCP_SERVERS"
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_KNOWN_KEYS = frozenset(
    {"label", "url", "description", "allowed_tools", "approve", "authorization_env", "headers_env"}
)


@attrs.frozen
class McpServer:
    label: str
    url: str
    description: str | None = None
    allowed_tools: tuple[str, ...] | None = None
    approve: frozenset[str] = frozenset()
    authorization: str | None = attrs.field(default=None, repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    def declaration(self) -> dict[str, Any]:
        """The ``session.tools`` entry (GA: ``RealtimeToolsConfigUnion``'s ``Mcp``)."""
        tool: dict[str, Any] = {
            "type": "mcp",
            "server_label": self.label,
            "server_url": self.url,
            "require_approval": "always",
        }
        if self.description:
            tool["server_description"] = self.description
        if self.allowed_tools is not None:
            tool["allowed_tools"] = list(self.allowed_tools)
        if self.authorization:
            tool["authorization"] = self.authorization
        if self.headers:
            tool["headers"] = dict(self.headers)
        return tool

    def approves(self, tool_name: str) -> bool:
        return tool_name in self.approve

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(filter(None, (self.authorization, *self.headers.values())))


def parse_servers(text: str, *, toml: bool, env: Mapping[str, str]) -> tuple[McpServer, ...]:
    """The servers a ``MCP_SERVERS`` file declares, or :class:`ConfigError` saying what to fix."""
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            SETTING, f"the file is not valid {'TOML' if toml else 'JSON'}: {exc}"
        ) from None
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, list) or not servers:
        raise ConfigError(SETTING, "the file needs a non-empty list 'servers'")
    parsed = tuple(_server(entry, index, env) for index, entry in enumerate(servers))
    labels = [server.label for server in parsed]
    if len(set(labels)) != len(labels):
        raise ConfigError(SETTING, "two servers have the same label")
    return parsed


def _server(entry: object, index: int, env: Mapping[str, str]) -> McpServer:
    where = f"servers[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(SETTING, f"{where} must be a table/object")
    if unknown := sorted(set(entry) - _KNOWN_KEYS):
        raise ConfigError(SETTING, f"{where} has unknown keys {unknown}")
    label = entry.get("label")
    if not isinstance(label, str) or not _LABEL.match(label):
        raise ConfigError(SETTING, f"{where}.label must be a name (letters, digits, '_', '-')")
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigError(SETTING, f"{where}.url must be an http(s) URL")
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(SETTING, f"{where}.description must be a string")
    allowed = entry.get("allowed_tools")
    if allowed is not None:
        allowed = tuple(_names(allowed, f"{where}.allowed_tools"))
    approve = frozenset(_names(entry.get("approve", []), f"{where}.approve"))
    authorization = None
    if (variable := entry.get("authorization_env")) is not None:
        authorization = _from_env(variable, f"{where}.authorization_env", env)
    headers_env = entry.get("headers_env", {})
    if not isinstance(headers_env, dict):
        raise ConfigError(SETTING, f"{where}.headers_env must map header names to variables")
    headers = {
        str(name): _from_env(variable, f"{where}.headers_env.{name}", env)
        for name, variable in headers_env.items()
    }
    return McpServer(label, url, description, allowed, approve, authorization, headers)


def _names(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(SETTING, f"{where} must be a list of tool names")
    return value


def _from_env(variable: object, where: str, env: Mapping[str, str]) -> str:
    if not isinstance(variable, str) or not variable:
        raise ConfigError(SETTING, f"{where} must name an environment variable")
    value = env.get(variable, "")
    if not value:
        raise ConfigError(SETTING, f"{where}: the environment variable {variable} is not set")
    return value

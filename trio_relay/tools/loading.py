"""Building the relay's :class:`Toolbox` at start-up: importing the ``TOOLS`` modules and reading
the ``MCP_SERVERS`` file. Every problem is a :class:`ConfigError` naming the setting, so a bad
tool stops start-up with one line instead of failing the first call."""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Mapping
from pathlib import Path

from ..config import ToolSettings
from ..errors import ConfigError
from .definition import TOOL_ATTRIBUTE, Tool, ToolDefinitionError
from .mcp import SETTING as MCP_SETTING
from .mcp import McpServer, parse_servers
from .toolbox import Toolbox


def load_toolbox(settings: ToolSettings, env: Mapping[str, str]) -> Toolbox:
    tools: dict[str, Tool] = {}
    for module_name in settings.modules:
        found = tools_in(module_name)
        for tool in found:
            other = tools.get(tool.name)
            if other is not None and other.function is not tool.function:
                raise ConfigError(
                    "TOOLS", f"two tools are named {tool.name!r} (give one @tool(name=...))"
                )
            tools[tool.name] = tool
    servers: tuple[McpServer, ...] = ()
    if settings.mcp_servers is not None:
        path = Path(settings.mcp_servers)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(MCP_SETTING, f"cannot read {str(path)!r}: {exc}") from None
        servers = parse_servers(text, toml=path.suffix.lower() == ".toml", env=env)
        clash = set(tools) & {server.label for server in servers}
        if clash:
            raise ConfigError(MCP_SETTING, f"labels {sorted(clash)} are also names of tools")
    return Toolbox(tools, servers)


def tools_in(module_name: str) -> list[Tool]:
    """The ``@tool`` functions a module defines or imports, or :class:`ConfigError`."""
    try:
        module = importlib.import_module(module_name)
    except ToolDefinitionError as exc:
        raise ConfigError("TOOLS", str(exc)) from None
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise ConfigError(
            "TOOLS",
            f"cannot import {module_name!r}: {type(exc).__name__}: {exc} "
            f"({where.filename}:{where.lineno})",
        ) from None
    found = [
        tool
        for value in vars(module).values()
        if isinstance(tool := getattr(value, TOOL_ATTRIBUTE, None), Tool)
    ]
    if not found:
        raise ConfigError("TOOLS", f"module {module_name!r} defines no @tool functions")
    return found

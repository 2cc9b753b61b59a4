"""The pure modules stay pure: no trio, sockets, HTTP clients or websockets imported there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trio_relay

PURE = [
    "browser",
    "realtime",
    "translator",
    "responses",
    "actions",
    "budgets",
    "redact",
    "limits",
    "config",
    "errors",
    "http",
    "connections",
]
FORBIDDEN = {"trio", "trio_websocket", "websockets", "httpx", "socket", "wsproto", "h11", "asyncio"}


@pytest.mark.parametrize("module", PURE)
def test_pure_module_does_no_io(module: str) -> None:
    source = Path(trio_relay.__file__).with_name(f"{module}.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN


def test_public_surface_is_small_and_pinned() -> None:
    assert sorted(trio_relay.__all__) == [
        "Backend",
        "ConfigError",
        "Dialect",
        "Limits",
        "RelayConfig",
        "SessionSettings",
        "Translator",
        "load_config",
        "serve_relay",
    ]

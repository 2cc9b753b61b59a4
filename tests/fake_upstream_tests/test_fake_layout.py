"""The fake upstream's layout: pure modules stay pure, the public surface stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fake_upstream

PURE = [
    "answers",
    "batches",
    "bench",
    "conversation",
    "engine",
    "faults",
    "input_audio",
    "mcp",
    "options",
    "ordering",
    "output_items",
    "protocol",
    "replay",
    "responses",
    "routing",
    "scripts",
    "session",
    "timing",
    "tool_calls",
    "triggers",
    "vad",
    "validation",
]
# No I/O, no tasks and no clock in the pure modules: the engine is deterministic.
FORBIDDEN = {
    "trio",
    "trio_websocket",
    "trio_relay",  # the WebSocket layer the server runs on
    "websockets",
    "wsproto",
    "h11",
    "httpx",
    "socket",
    "asyncio",
    "time",
    "datetime",
}


def imports_of(module: str) -> set[str]:
    source = Path(fake_upstream.__file__).with_name(f"{module}.py").read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    return imported


@pytest.mark.parametrize("module", PURE)
def test_pure_module_does_no_io(module: str) -> None:
    assert not imports_of(module) & FORBIDDEN


def test_every_module_is_short() -> None:
    for path in Path(fake_upstream.__file__).parent.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 500, path.name


def test_public_surface() -> None:
    assert sorted(fake_upstream.__all__) == [
        "ConnectionRecord",
        "FakeUpstream",
        "FakeUpstreamOptions",
        "open_fake_upstream",
    ]

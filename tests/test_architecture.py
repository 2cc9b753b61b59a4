"""The pure modules stay pure: no trio, sockets, HTTP clients or websockets imported there; and
the fake upstream shares no code with the relay."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import fake_upstream
import trio_relay

PURE = [
    "browser",
    "realtime",
    "translator",
    "transcripts",
    "text_streams",
    "usage",
    "responses",
    "actions",
    "budgets",
    "redact",
    "limits",
    "errors",
    "http",
    "static",
    "negotiation",
    "connections",
    "microphone",
    "tool_calls",
    "tools/definition",
    "tools/toolbox",
    "tools/mcp",
]
# The configuration is pure as a whole: every module of the package, whatever it grows into.
PURE += sorted(
    f"config/{path.stem}"
    for path in Path(trio_relay.__file__).parent.joinpath("config").glob("*.py")
)
FORBIDDEN = {"trio", "trio_websocket", "websockets", "httpx", "socket", "wsproto", "h11", "asyncio"}


@pytest.mark.parametrize("module", PURE)
def test_pure_module_does_no_io(module: str) -> None:
    source = Path(trio_relay.__file__).parent.joinpath(f"{module}.py").read_text()
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


def test_the_fake_upstream_imports_nothing_from_the_relay() -> None:
    # The fake is the relay's upstream in tests: sharing code (its WebSocket layer above all)
    # would hide a bug common to both ends, and make a package cycle.
    for path in sorted(Path(fake_upstream.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] == "trio_relay"], path.name


def test_importing_the_fake_upstream_loads_no_relay_module() -> None:
    # Transitively too (a helper package that imported the relay would count).
    probe = (
        "import sys, fake_upstream.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'trio_relay'))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

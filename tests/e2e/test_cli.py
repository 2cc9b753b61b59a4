"""The installed commands, run as a user runs them: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from harness import is_control, open_browser
from relay_process import event, running_workers, sessions_on_both_workers

from trio_relay.client_auth import TicketRules, verify_ticket

CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(
        ("OPENAI_", "AZURE_", "BACKEND", "PORT", "HOST", "CLIENT_", "WORKERS", "PROMETHEUS_")
    )
}


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_relay", *args],
        env={**CLEAN_ENV, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["--port", str(port)], {"WORKERS": "1"}, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    said = result.stderr.strip().splitlines()[-1]  # after the start-up log lines
    assert said == f"trio-relay: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"TOOLS": "no_such_tools_module"}, "TOOLS: cannot import 'no_such_tools_module'"),
        ({"TOOL_TIMEOUT_S": "soon"}, "TOOL_TIMEOUT_S"),
        ({"MCP_SERVERS": "missing.toml"}, "MCP_SERVERS: cannot read"),
    ],
)
def test_bad_tools_stop_start_up_with_one_line(
    env: dict[str, str], problem: str, tmp_path: Path
) -> None:
    result = run_cli([], env, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert problem in line


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BACKEND": "openai"}, "OPENAI_API_KEY"),
        (
            {"BACKEND": "azure", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"},
            "AZURE_OPENAI_DEPLOYMENT",
        ),
        ({"PORT": "http"}, "PORT"),
        ({"HOST": "0.0.0.0"}, "CLIENT_AUTH"),
    ],
)
def test_misconfiguration_prints_one_line_and_exits_2(
    env: dict[str, str], variable: str, tmp_path: Path
) -> None:
    result = run_cli([], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "Traceback" not in result.stderr


def test_a_worker_not_started_by_a_supervisor_refuses_in_one_line(tmp_path: Path) -> None:
    result = run_cli(["--worker-index", "0", "--supervisor-fd", "0"], {"BACKEND": "fake"}, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "PROMETHEUS_MULTIPROC_DIR" in result.stderr.strip()


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BACKEND=openai\nPORT=1\n")
    result = run_cli([], {}, tmp_path)
    assert result.returncode == 2 and "OPENAI_API_KEY" in result.stderr
    result = run_cli([], {"BACKEND": "bogus"}, tmp_path)
    assert "BACKEND" in result.stderr and "bogus" in result.stderr


def test_ticket_command_mints_a_verifiable_ticket(tmp_path: Path) -> None:
    secret = "k" * 40
    result = run_cli(
        ["ticket", "--sub", "alice", "--ttl", "60"], {"TICKET_SECRET": secret}, tmp_path
    )
    assert result.returncode == 0
    import time

    claims = verify_ticket(secret.encode(), result.stdout.strip(), time.time())
    assert claims["sub"] == "alice" and claims["aud"] == "trio-relay" and claims["jti"]
    assert claims["exp"] - claims["iat"] == 60
    assert run_cli(["ticket", "--sub", "a"], {}, tmp_path).returncode == 2


def test_ticket_command_adds_budget_claims_and_refuses_a_lifetime_over_the_maximum(
    tmp_path: Path,
) -> None:
    import time

    env = {"TICKET_SECRET": "k" * 40, "TICKET_AUDIENCE": "voice-app"}
    minted = run_cli(
        ["ticket", "--sub", "bob", "--claim", "max_session_s=600", "--claim", "plan=free"],
        env,
        tmp_path,
    )
    assert minted.returncode == 0, minted.stderr
    claims = verify_ticket(
        env["TICKET_SECRET"].encode(),
        minted.stdout.strip(),
        time.time(),
        TicketRules(audience="voice-app"),
    )
    assert claims["max_session_s"] == 600 and claims["plan"] == "free"
    too_long = run_cli(
        ["ticket", "--sub", "bob", "--ttl", "7200"],
        {**env, "TICKET_MAX_LIFETIME_S": "3600"},
        tmp_path,
    )
    assert too_long.returncode == 2 and "--ttl" in too_long.stderr
    reserved = run_cli(["ticket", "--sub", "bob", "--claim", "exp=1"], env, tmp_path)
    assert reserved.returncode == 2 and "exp" in reserved.stderr


@asynccontextmanager
async def running_relay(
    args: list[str], env: dict[str, str]
) -> AsyncIterator[tuple[trio.Process, str]]:
    """Start ``trio-relay``; yield the process and the ws URL it printed when ready."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_relay", "--port", "0", *args],
        env={**CLEAN_ENV, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        buffer = b""
        with trio.fail_after(20):
            while b"ws://" not in buffer or not buffer.endswith(b"\n"):
                chunk = await process.stdout.receive_some(4096)
                assert chunk, "the relay exited before it was ready"
                buffer += chunk
        url = buffer.decode().split("ws://", 1)[1].split()[0]
        yield process, f"ws://{url}"
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_offline_demo_serves_text_and_audio_turns_and_stops_on_sigterm() -> None:
    async with running_relay(["--workers", "1"], {"BACKEND": "fake"}) as (process, url):
        async with open_browser(url) as browser:
            await browser.until(is_control("connected"))
            await browser.send_text("hello")
            await browser.until(is_control("text_done"))
        probe = await trio.run_process(
            [sys.executable, "-m", "trio_relay.probe", url], capture_stdout=True, check=False
        )
        assert probe.returncode == 0, probe.stdout
        assert b"audio turn: transcription" in probe.stdout
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await process.wait() == 0


async def test_several_workers_share_one_port_and_stop_together() -> None:
    with trio.fail_after(60):
        async with running_workers(2) as relay:
            per_worker = await sessions_on_both_workers(relay, 4)
            assert set(per_worker) == {0, 1}  # both served: they do share the port
            relay.process.send_signal(signal.SIGTERM)
            with trio.fail_after(15):
                assert await relay.process.wait() == 0
            draining = await relay.log.until(event("signal: draining, then exiting"), 2)
            assert {line["worker"] for line in draining} == {0, 1}


async def test_relay_against_a_standalone_fake_upstream_process() -> None:
    """OPENAI_BASE_URL=http://127.0.0.1:P/v1 OPENAI_API_KEY=x BACKEND=openai trio-relay,
    against fake-upstream --port P: two separate processes, as a user runs them."""
    fake = await trio.lowlevel.open_process(
        [sys.executable, "-m", "fake_upstream", "--port", "0", "--api-key", "x"],
        stdout=subprocess.PIPE,
    )
    try:
        assert fake.stdout is not None
        with trio.fail_after(20):
            line = b""
            while not line.endswith(b"\n"):
                line += await fake.stdout.receive_some(1024)
        fake_url = line.decode().split("listening on ")[1].strip()
        env = {
            "BACKEND": "openai",
            "OPENAI_API_KEY": "x",
            "OPENAI_BASE_URL": fake_url.replace("ws://", "http://") + "/v1",
        }
        async with running_relay(["--workers", "1"], env) as (relay, url):
            async with open_browser(url) as browser:
                await browser.until(is_control("connected"))
                await browser.send_text("hello over two processes")
                await browser.until(is_control("text_done"))
            relay.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                assert await relay.wait() == 0
    finally:
        fake.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await fake.wait() == 0


def test_unauthenticated_on_a_public_address_only_when_forced_and_loudly(tmp_path: Path) -> None:
    refused = run_cli(["--host", "0.0.0.0"], {"BACKEND": "fake"}, tmp_path)
    assert refused.returncode == 2 and "ALLOW_UNAUTHENTICATED" in refused.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "trio_relay", "--host", "0.0.0.0", "--port", "0", "--workers", "1"],
        env={**CLEAN_ENV, "BACKEND": "fake", "ALLOW_UNAUTHENTICATED": "1"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert "trio-relay ready" in process.stdout.readline()
        process.terminate()
        assert process.wait(timeout=15) == 0
        assert "CLIENT AUTHENTICATION IS OFF" in process.stderr.read()
    finally:
        process.kill()
        process.wait()

"""Starting the servers a phase runs against: the fake upstream, and a relay of given settings
and code (this checkout or another one), each on a free port, ready when this returns.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import attrs

from .procs import ROOT, Child, child_env, listeners, python_module


@attrs.frozen
class TlsFiles:
    """A test CA and a certificate for 127.0.0.1 signed by it (``--tls``)."""

    ca: Path
    cert: Path
    key: Path


def tls_files(log_dir: Path) -> TlsFiles:
    import trustme  # a dev dependency, like the rest of the benchmark's

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    files = TlsFiles(log_dir / "ca.pem", log_dir / "cert.pem", log_dir / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    server.private_key_pem.write_to_path(str(files.key))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(files.cert), append=True)
    return files


# The fake's server for benchmark runs: websockets' asyncio server on uvloop. On the Trio one
# the fake burns a core on the direct runs and becomes their ceiling (docs/benchmarks.md).
FAKE_SHELL = "asyncio"


def start_fake(
    log_dir: Path,
    turn_trigger_bytes: int,
    reply_audio_ms: int,
    *,
    tls: TlsFiles | None = None,
    shell: str = FAKE_SHELL,
) -> tuple[Child, int]:
    """``fake-upstream --shell SHELL`` in benchmark mode on a free port, and that port."""
    tls_args = [] if tls is None else ["--certfile", str(tls.cert), "--keyfile", str(tls.key)]
    fake = Child(
        "fake-upstream",
        python_module(
            "fake_upstream",
            "--port",
            "0",
            "--turn-trigger-bytes",
            str(turn_trigger_bytes),
            "--reply-audio-ms",
            str(reply_audio_ms),
            "--shell",
            shell,
            *tls_args,
        ),
        log_dir,
        env=child_env(),
    )
    match = fake.wait_for_line(r"listening on wss?://[^:]+:(\d+)", 30)
    return fake, int(match.group(1))


def is_checkout(root: Path) -> bool:
    """Whether ``root`` holds a ``trio_relay`` package a relay can be started from."""
    return (root / "trio_relay" / "__main__.py").is_file()


def start_relay(
    log_dir: Path,
    upstream_port: int,
    workers: int,
    *,
    tls: TlsFiles | None = None,
    extra_env: Mapping[str, str] | None = None,
    root: Path | None = None,
    name: str = "",
) -> tuple[Child, str]:
    """``trio-relay --port 0 --workers N`` against the fake, once every worker listens.

    ``extra_env`` goes over the benchmark's settings (``AUDIO_CHUNK_MS=100``, say); ``root`` is
    another checkout (a ``git worktree`` of another commit) to run the relay's code from, with
    this venv's Python; ``name`` tells its log apart from other relays' in the same run.
    """
    scheme = "http" if tls is None else "https"
    env = child_env(
        {
            **({} if tls is None else {"UPSTREAM_CA_FILE": str(tls.ca)}),
            "BACKEND": "openai",
            "OPENAI_BASE_URL": f"{scheme}://127.0.0.1:{upstream_port}/v1",
            "OPENAI_API_KEY": "bench",
            "HOST": "127.0.0.1",
            "MAX_SESSIONS": "5000",
            "MAX_SESSIONS_PER_IP": "5000",
            # Every generator connects from loopback, many turns a minute: no per-client limits.
            "MAX_CONNECTIONS": "5000",
            "MAX_CONNECTIONS_PER_IP": "5000",
            "MAX_USER_MESSAGES_PER_MIN": "1000000",
            "MAX_USER_TEXT_BYTES_PER_MIN": "100000000",
            "MAX_RESPONSES_PER_MIN": "1000000",
            "LOG_LEVEL": "WARNING",
            "DRAIN_GRACE_S": "1",
            **(extra_env or {}),
        },
        root=root or ROOT,
    )
    relay = Child(
        f"trio-relay{'-' + name if name else ''}-w{workers}",
        python_module("trio_relay", "--port", "0", "--workers", str(workers)),
        log_dir,
        env=env,
        cwd=root,
    )
    match = relay.wait_for_line(r"(ws://[^:]+:(\d+)/realtime)", 60)
    port = int(match.group(2))
    deadline = time.monotonic() + 60
    while listeners(port) < workers:  # every worker listening, so connections spread over all
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {listeners(port)} of {workers} relay workers listen")
        time.sleep(0.1)
    return relay, match.group(1)

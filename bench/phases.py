"""Measured phases: the servers they run against, and a phase run again while disturbed.

A phase is one target (a fresh relay, or the fake directly), one mode, N sessions; the fake
upstream is started once and serves every phase of a run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .disturbance import wait_until_quiet
from .launch import TlsFiles, start_fake, start_relay, tls_files
from .loadgen import TURN_BYTES
from .orchestrate import log, run_phase
from .procs import Child, child_env, python_module

DIRECT_PATH = "/v1/realtime?model=gpt-realtime"


@attrs.frozen
class RelaySetup:
    """Which relay a phase starts: settings over the benchmark's own, and whose code.

    ``root`` None is this checkout; ``name`` (``A``, ``B``) names the phase and its logs.
    """

    name: str = ""
    env: Mapping[str, str] = attrs.field(factory=dict)
    root: Path | None = None

    def describe(self) -> str:
        settings = " ".join(f"{k}={v}" for k, v in self.env.items()) or "the default settings"
        return f"{settings}; code from {self.root or 'this checkout'}"


DEFAULT_RELAY = RelaySetup()


class Servers:
    """The fake upstream and the relay: started here, or given by URL (and optionally pid)."""

    def __init__(self, args: argparse.Namespace, log_dir: Path) -> None:
        self.args = args
        self.log_dir = log_dir
        self.fake: Child | None = None
        self.relay: Child | None = None
        self.upstream_url: str = args.upstream_url or ""
        self.upstream_pid: int | None = args.upstream_pid
        self.upstream_port = urlsplit(self.upstream_url).port or 0 if self.upstream_url else 0
        self.tls: TlsFiles | None = None

    def start_fake(self) -> None:
        if self.upstream_url:
            return
        self.tls = tls_files(self.log_dir) if getattr(self.args, "tls", False) else None
        self.fake, self.upstream_port = start_fake(
            self.log_dir,
            TURN_BYTES,
            self.args.reply_audio_ms,
            tls=self.tls,
            shell=self.args.fake_shell,
        )
        scheme = "wss" if self.tls else "ws"
        self.upstream_url = f"{scheme}://127.0.0.1:{self.upstream_port}"
        self.upstream_pid = self.fake.pid

    @property
    def direct_url(self) -> str:
        return self.upstream_url.rstrip("/") + DIRECT_PATH

    @contextmanager
    def relay_running(
        self, workers: int, setup: RelaySetup = DEFAULT_RELAY, tag: str = ""
    ) -> Iterator[tuple[str, int | None]]:
        """The relay's URL and pid (None when only a URL was given) for the block; ``tag``
        names its log (``A-round-2``)."""
        if self.args.relay_url:
            yield self.args.relay_url, self.args.relay_pid
            return
        if not self.upstream_port:
            raise SystemExit("--upstream-url needs a port (ws://HOST:PORT)")
        relay, url = start_relay(
            self.log_dir,
            self.upstream_port,
            workers,
            tls=self.tls,
            extra_env=setup.env,
            root=setup.root,
            name=tag or setup.name,
        )
        self.relay = relay
        try:
            time.sleep(0.5)  # let start-up settle before the idle RSS baseline
            yield url, relay.pid
        finally:
            relay.stop()
            self.relay = None

    @contextmanager
    def forwarder_running(self, tag: str = "") -> Iterator[tuple[str, int]]:
        """A fresh bench/forwarder.py in front of the fake: the direct URL through it, its pid."""
        forwarder = Child(
            f"forwarder{'-' + tag if tag else ''}",
            python_module("bench.forwarder", "--target", f"127.0.0.1:{self.upstream_port}"),
            self.log_dir,
            env=child_env(),
        )
        try:
            url = forwarder.wait_for_line(r"ws://\S+", 30).group(0)
            time.sleep(0.5)
            yield url + DIRECT_PATH, forwarder.pid
        finally:
            forwarder.stop()

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.fake is not None:
            self.fake.stop()


@contextmanager
def servers(args: argparse.Namespace) -> Iterator[Servers]:
    keep = args.log_dir is not None
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="trio-relay-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    running = Servers(args, log_dir)
    ok = False
    try:
        running.start_fake()
        yield running
        ok = True
    finally:
        running.stop()
        if ok and not keep:
            shutil.rmtree(log_dir, ignore_errors=True)
        elif not ok:
            log(f"logs kept in {log_dir}")


def phase(
    args: argparse.Namespace,
    running: Servers,
    *,
    target: str,
    mode: str,
    sessions: int,
    workers: int | None = None,
    text_interval_s: float = 0.0,
    profile_path: Path | None = None,
    relay: RelaySetup = DEFAULT_RELAY,
    name: str = "",
    through: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """One measured phase; against the relay, a fresh relay with ``workers`` workers.

    ``through`` (a direct phase only): the URL and pid of a process the direct clients pass
    through on their way to the fake (``bench forwarder``); its CPU is reported as the relay's.

    A phase disturbed by other programs (``--retries``) is run again, each time after waiting
    for a quiet machine (``--wait-quiet``); the least disturbed run is kept, and says
    (``disturbed``) whether even that one was above ``--disturbed-pct``.
    """
    named = f"{target} {name}" if name else target
    what = f"{named} {mode} x{sessions}" + (f" workers={workers}" if workers else "")
    if mode == "text":
        what += f" paced {text_interval_s:g} s" if text_interval_s else " closed loop"
    threshold = args.disturbed_pct
    best: dict[str, Any] | None = None
    for attempt in range(1 + args.retries):
        if args.wait_quiet:
            wait_until_quiet(args.wait_quiet, threshold)
        log(f"[bench] {what}: {args.warmup:g} s warm-up + {args.duration:g} s measured ...")
        with ExitStack() as stack:
            if target == "relay":
                url, relay_pid = stack.enter_context(
                    running.relay_running(workers or 1, relay, name.replace(" ", "-"))
                )
            elif through is not None:
                url, relay_pid = through
            else:
                url, relay_pid = running.direct_url, None
            result = run_phase(
                target=target,
                url=url,
                mode=mode,
                sessions=sessions,
                warmup_s=args.warmup,
                duration_s=args.duration,
                log_dir=running.log_dir,
                relay_pid=relay_pid,
                upstream_pid=running.upstream_pid,
                shards=args.shards,
                per_shard=args.per_shard,
                text_interval_s=text_interval_s,
                frame_ms=(
                    args.direct_append_ms
                    if target == "direct" and args.direct_append_ms
                    else args.frame_ms
                ),
                label=f"{named.replace(' ', '-')}-{mode}-{sessions}",
                profile_path=profile_path,
                grace_s=args.grace,
            )
        result["phase"] = what
        result["workers"] = workers
        result["attempt"] = attempt + 1
        result["disturbed"] = result["other_cpu_pct"] > threshold
        if result["failure_count"]:
            log(
                f"[bench]   {result['failure_count']} session failures, "
                f"e.g. {result['failures'][:2]}"
            )
        if best is None or result["other_cpu_pct"] < best["other_cpu_pct"]:
            best = result
        if not result["disturbed"]:
            break
        log(
            f"[bench]   warning: other processes used {result['other_cpu_pct']:.0f}% of a core "
            "during the window: the figures are disturbed"
        )
    assert best is not None
    return best

"""A ``trio-relay`` process as an operator runs it (the supervisor and its workers), with its
JSON log lines collected as they come, so tests can wait for what the relay says it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import trio
from harness import is_control, open_browser

CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(
        ("OPENAI_", "AZURE_", "BACKEND", "PORT", "HOST", "CLIENT_", "WORKERS", "PROMETHEUS_")
    )
}
START_TIMEOUT_S = 30.0
MAX_CONNECTIONS_TRIED = 64  # both of two workers seen long before: 2 * 2**-63 to miss one
STOP_TIMEOUT_S = 15.0

LogLine = dict[str, Any]


@attrs.define
class RelayLog:
    """The JSON lines the relay's processes wrote to stderr so far."""

    lines: list[LogLine] = attrs.Factory(list)
    _grew: trio.Event = attrs.Factory(trio.Event)

    def add(self, line: LogLine) -> None:
        self.lines.append(line)
        self._grew.set()
        self._grew = trio.Event()

    def matching(self, predicate: Callable[[LogLine], bool]) -> list[LogLine]:
        return [line for line in self.lines if predicate(line)]

    async def until(self, predicate: Callable[[LogLine], bool], count: int = 1) -> list[LogLine]:
        """The matching lines, once there are at least ``count`` of them."""
        while len(found := self.matching(predicate)) < count:
            await self._grew.wait()
        return found


def event(name: str, **fields: object) -> Callable[[LogLine], bool]:
    return lambda line: (
        line.get("event") == name and all(line.get(k) == v for k, v in fields.items())
    )


@attrs.define
class RelayProcess:
    process: trio.Process
    url: str  # ws://host:port/realtime
    log: RelayLog

    @property
    def http_base(self) -> str:
        return self.url.replace("ws://", "http://").removesuffix("/realtime")

    async def get(self, path: str) -> httpx.Response:
        """One request on a connection of its own (so the kernel picks a worker each time)."""
        async with httpx.AsyncClient(base_url=self.http_base) as http:
            return await http.get(path, headers={"connection": "close"})

    def worker_pids(self) -> dict[int, int]:
        """Worker index -> pid of its latest incarnation (from its 'listening' line)."""
        return {
            line["worker"]: line["pid"]
            for line in self.log.matching(event("trio-relay listening"))
            if "worker" in line
        }


async def _collect(stream: trio.abc.ReceiveStream, log: RelayLog | None) -> None:
    buffer = b""
    while chunk := await stream.receive_some(65536):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            if log is None:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"raw": raw.decode(errors="replace")}
            log.add(line if isinstance(line, dict) else {"raw": line})


@asynccontextmanager
async def running_workers(
    workers: int, env: dict[str, str] | None = None
) -> AsyncIterator[RelayProcess]:
    """``trio-relay --workers N`` on the bundled fake, every worker listening; stopped with
    SIGTERM at the end (killed if it does not stop in time)."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_relay", "--port", "0", "--workers", str(workers)],
        env={**CLEAN_ENV, "BACKEND": "fake", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    log = RelayLog()
    try:
        async with trio.open_nursery() as nursery:
            assert process.stdout is not None and process.stderr is not None
            nursery.start_soon(_collect, process.stderr, log)
            url = None
            with trio.fail_after(START_TIMEOUT_S):
                buffer = b""
                while b"supervisor:" not in buffer or not buffer.endswith(b"\n"):
                    chunk = await process.stdout.receive_some(4096)
                    assert chunk, "the relay exited before it was ready"
                    buffer += chunk
                url = (
                    "ws://"
                    + buffer.decode().split("supervisor:", 1)[1].split("ws://")[1].split()[0]
                )
                nursery.start_soon(_collect, process.stdout, None)
                for index in range(workers):
                    await log.until(event("trio-relay listening", worker=index))
            yield RelayProcess(process, url, log)
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            with trio.move_on_after(STOP_TIMEOUT_S):
                await process.wait()
        if process.returncode is None:
            process.kill()
        await process.wait()


async def one_text_turn(relay: RelayProcess) -> None:
    async with open_browser(relay.url) as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("hello")
        await browser.until(is_control("text_done"))


async def sessions_on_both_workers(relay: RelayProcess, at_least: int) -> dict[int, int]:
    """Run text turns, one session each, until ``at_least`` have ended and each worker ran some;
    return how many each worker ran."""
    ended = event("session ended")
    already = len(relay.log.matching(ended))
    for done in range(1, MAX_CONNECTIONS_TRIED + 1):
        await one_text_turn(relay)
        lines = await relay.log.until(ended, already + done)
        per_worker: dict[int, int] = {}
        for line in lines[already:]:
            per_worker[line["worker"]] = per_worker.get(line["worker"], 0) + 1
        if done >= at_least and len(per_worker) == 2:
            return per_worker
    raise AssertionError(f"{MAX_CONNECTIONS_TRIED} sessions all went to one worker")

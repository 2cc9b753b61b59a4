"""The fake upstream's WebSocket server: a thin Trio shell that moves frames to and from
:class:`~fake_upstream.engine.Engine`, applies scripted faults and records every connection.

Paths, dialects and auth are chosen as the real services choose them:
``/v1/realtime?model=M`` (OpenAI; GA, or beta with ``OpenAI-Beta: realtime=v1``),
``/openai/v1/realtime?model=D`` (Azure GA), ``/openai/realtime?api-version=V&deployment=D``
(Azure preview, beta dialect). Credentials: ``Authorization: Bearer K`` or ``api-key: K``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
    serve_websocket,
)

from .engine import Close, DialectName, Drop, Engine, Garbage, Output, Stall
from .faults import REFUSALS, fault_for, refusal_body
from .validation import client_models

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@attrs.frozen
class FakeUpstreamOptions:
    # The exact key required (as a Bearer token or api-key); None: any non-empty credential.
    api_key: str | None = attrs.field(default=None, repr=False)
    # Benchmark mode: every N bytes of appended audio is one complete turn; no VAD.
    turn_trigger_bytes: int | None = None
    validate_client_events: bool = True
    reply_audio_ms: int = 1000
    # Keep every event of every connection (tests); off for long-running demos and benchmarks.
    record_events: bool = True


@attrs.define
class ConnectionRecord:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    backend: Literal["openai", "azure"] | None = None
    dialect: DialectName | None = None
    received: list[dict[str, Any]] = attrs.Factory(list)
    sent: list[dict[str, Any]] = attrs.Factory(list)
    rejected_status: int | None = None
    closed: trio.Event = attrs.Factory(trio.Event)
    close_code: int | None = None


@attrs.frozen
class Route:
    backend: Literal["openai", "azure"]
    dialect: DialectName
    model: str


class Refused(Exception):
    def __init__(self, status: int, body: bytes | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body if body is not None else refusal_body(status)


def route(path: str, query: dict[str, str], headers: dict[str, str]) -> Route:
    if path == "/openai/v1/realtime":
        if not query.get("model"):
            raise Refused(400, b'{"error":{"code":"BadRequest","message":"Missing model."}}')
        return Route("azure", "ga", query["model"])
    if path == "/openai/realtime":
        if not query.get("api-version"):
            raise Refused(400, b'{"error":{"code":"BadRequest","message":"Missing api-version."}}')
        if not query.get("deployment"):
            raise Refused(
                404, b'{"error":{"code":"DeploymentNotFound","message":"No deployment."}}'
            )
        return Route("azure", "beta", query["deployment"])
    if path.endswith("/realtime"):
        if not query.get("model"):
            raise Refused(400)
        beta = headers.get("openai-beta", "").strip() == "realtime=v1"
        return Route("openai", "beta" if beta else "ga", query["model"])
    raise Refused(404, b'{"error":{"message":"Not found."}}')


def credential(headers: dict[str, str], backend: str) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if backend == "azure" and headers.get("api-key"):
        return headers["api-key"]
    return None


class FakeUpstream:
    def __init__(self, options: FakeUpstreamOptions) -> None:
        self.options = options
        self.connections: list[ConnectionRecord] = []
        self.port = 0
        self._new_connection = trio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def wait_for_connection(self, n: int = 1) -> ConnectionRecord:
        while len(self.connections) < n:
            await self._new_connection.wait()
        return self.connections[n - 1]

    def _record(self, record: ConnectionRecord) -> None:
        self.connections.append(record)
        self._new_connection.set()
        self._new_connection = trio.Event()

    async def handle(self, request: WebSocketRequest) -> None:
        target = urlsplit(request.path)
        query = dict(parse_qsl(target.query))
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        record = ConnectionRecord(target.path, query, headers)
        self._record(record)
        try:
            admitted = await self._admit(request, record)
            if admitted is not None:
                await self._serve(*admitted, record)
        except ConnectionClosed as exc:
            record.close_code = exc.reason.code if exc.reason else None
        finally:
            record.closed.set()

    async def _admit(
        self, request: WebSocketRequest, record: ConnectionRecord
    ) -> tuple[WebSocketConnection, Route] | None:
        try:
            found = route(record.path, record.query, record.headers)
            record.backend, record.dialect = found.backend, found.dialect
            given = credential(record.headers, found.backend)
            if given is None or (
                self.options.api_key is not None and given != self.options.api_key
            ):
                raise Refused(401)
            fault = fault_for(found.model)
            if fault in REFUSALS:
                raise Refused(REFUSALS[fault])  # type: ignore[index]
        except Refused as refused:
            record.rejected_status = refused.status
            extra = [(b"content-type", b"application/json")]
            if refused.status == 429:
                extra.append((b"retry-after", b"1"))
            await request.reject(refused.status, extra_headers=extra, body=refused.body)
            return None
        return await request.accept(), found

    async def _serve(
        self, connection: WebSocketConnection, found: Route, record: ConnectionRecord
    ) -> None:
        engine = Engine(
            found.dialect,
            found.model,
            fault=fault_for(found.model),
            turn_trigger_bytes=self.options.turn_trigger_bytes,
            reply_audio_ms=self.options.reply_audio_ms,
            validate=self.options.validate_client_events,
        )
        if not await self._emit(connection, record, engine.open()):
            return
        while True:
            frame = await connection.get_message()
            if isinstance(frame, bytes):
                outputs: list[Output] = engine.binary_frame()
            else:
                if self.options.record_events:
                    try:
                        record.received.append(json.loads(frame))
                    except ValueError:
                        record.received.append({"unparsed": frame})
                outputs = engine.receive(frame)
            if not await self._emit(connection, record, outputs):
                return

    async def _emit(
        self, connection: WebSocketConnection, record: ConnectionRecord, outputs: list[Output]
    ) -> bool:
        """Send ``outputs``; False once a directive has ended the conversation."""
        for output in outputs:
            if isinstance(output, dict):
                if self.options.record_events:
                    record.sent.append(output)
                await connection.send_message(json.dumps(output, separators=(",", ":")))
            elif isinstance(output, Garbage):
                await connection.send_message(output.text)
            elif isinstance(output, Close):
                record.close_code = output.code
                await connection.aclose(output.code, output.reason)
                return False
            elif isinstance(output, Drop):
                # No close frame: the TCP connection just goes away (private, but this is a fake).
                await trio.aclose_forcefully(connection._stream)
                return False
            elif isinstance(output, Stall):
                await trio.sleep_forever()
        return True


@asynccontextmanager
async def open_fake_upstream(
    host: str = "127.0.0.1", port: int = 0, options: FakeUpstreamOptions | None = None
) -> AsyncIterator[FakeUpstream]:
    """Run the fake upstream until the block exits; then every connection and the listener close."""
    fake = FakeUpstream(options or FakeUpstreamOptions())
    if fake.options.validate_client_events:
        # Importing the openai models takes about a second: pay it now, not in the first session.
        client_models("ga")
        client_models("beta")
    async with trio.open_nursery() as nursery:
        server: WebSocketServer = await nursery.start(
            partial(
                serve_websocket,
                fake.handle,
                host,
                port,
                ssl_context=None,
                max_message_size=MAX_MESSAGE_BYTES,
            )
        )
        fake.port = server.port
        try:
            yield fake
        finally:
            nursery.cancel_scope.cancel()

"""The fake upstream on websockets' asyncio server (uvloop when installed), for the benchmark
only: ``fake-upstream --shell asyncio``. Tests and demos use the Trio shell (:mod:`.server`).

Why a second shell: on the benchmark's direct runs (load generator -> fake, no relay) the Trio
shell, with a reader task and channel hops per message, costs 7.3 ms of CPU per session-second
(100 sessions: most of a core, and the ceiling of the run once the machine is busy), so the
run's latencies and relay/direct ratios say nothing about the relay. This shell moves the same
bytes for 2.9 ms (docs/benchmarks.md).

It decides nothing itself: admission and refusals (:func:`.routing.admit`,
:mod:`.handshake`), the engine a connection gets (:func:`.options.new_engine`), how outputs
are cut into writes (:func:`.batches.next_batch`) and the engine's pacing and directives are
the Trio shell's, so both answer alike (a test compares them). It runs from the command line
only and records nothing (``record_events`` does not apply; tests that read a connection's
record use the Trio shell). Where it differs from websockets' own server, in
:class:`_Connection`: the frames of a batch go out in one write, as in the Trio shell.
Shutting down (SIGTERM, SIGINT) closes every connection with 1001, each peer given
CLOSE_HANDSHAKE_TIMEOUT_S, a stalled one too (the Trio shell leaves a stalled peer to find out
by itself). It imports nothing from ``trio_relay``.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from collections.abc import Iterator
from itertools import chain
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .batches import MAX_BACKLOG, Ending, next_batch
from .engine import Engine
from .handshake import (
    CLOSE_HANDSHAKE_TIMEOUT_S,
    HANDSHAKE_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    PROTOCOL_LOG,
    READ_AHEAD_FRAMES,
    RequestParts,
    refusal_response,
)
from .options import FakeUpstreamOptions, new_engine
from .protocol import Close, Drop, Output, Stall
from .replay import Replayer
from .routing import Refused, Route, admit
from .validation import client_models


class _Connection(ServerConnection):
    """websockets' asyncio server connection, with the route its handshake was admitted on."""

    route: Route | None = None

    def send_data(self) -> None:
        """websockets hands the transport each frame on its own (a ``send`` syscall each, as the
        transport's buffer is empty); the fake writes what a batch framed at once. An empty
        chunk means the end of our side of the stream (the closing handshake is over)."""
        pending: list[bytes] = []
        for data in self.protocol.data_to_send():
            if data:
                pending.append(data)
                continue
            if pending:
                self.transport.write(b"".join(pending))
                pending.clear()
            self._end_of_stream()
        if pending:
            self.transport.write(b"".join(pending))

    def _end_of_stream(self) -> None:
        # As websockets does: half-close where TCP can (not over TLS), else close.
        if self.transport.can_write_eof():
            try:
                self.transport.write_eof()
            except Exception:  # uvloop can raise RuntimeError here, as websockets notes
                pass
        else:
            self.transport.close()


class AsyncioFakeUpstream:
    """websockets' ``process_request`` and connection handler for one set of options."""

    def __init__(self, options: FakeUpstreamOptions) -> None:
        self.options = options

    def admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse the request as the real service would, or let websockets accept it (None)."""
        assert isinstance(connection, _Connection)
        parts = RequestParts.of(request)
        try:
            connection.route = admit(parts.path, parts.query, parts.headers, self.options.api_key)
        except Refused as refused:
            return refusal_response(refused)
        return None

    async def converse(self, websocket: ServerConnection) -> None:
        """Serve one admitted connection, then end it as the conversation says (websockets
        closes it with 1000 when this returns, unless it is closed already)."""
        assert isinstance(websocket, _Connection) and websocket.route is not None
        engine = new_engine(websocket.route, self.options, asyncio.get_running_loop().time)
        ending = await _run_engine(engine, websocket)
        if isinstance(ending, Drop):
            websocket.transport.abort()  # no close frame: the TCP connection just goes
        elif isinstance(ending, Stall):
            await websocket.wait_closed()  # never read or answer again: websockets stops
            # reading once READ_AHEAD_FRAMES wait, and the peer's sends block
        elif isinstance(ending, Close):
            await websocket.close(ending.code, ending.reason)


async def _run_engine(engine: Engine | Replayer, websocket: _Connection) -> Ending:
    """Feed the engine and send what it says until the peer leaves (None) or a directive ends
    the conversation (that directive, for the caller to carry out)."""
    opening: Iterator[Output] = iter(engine.open())  # session.created
    try:
        while True:
            # Every message already received goes in before the next events go out, so that a
            # cancel or a barge-in lands between two writes, as on the real service.
            while engine.backlog < MAX_BACKLOG and _message_waiting(websocket):
                engine.receive_frame(await websocket.recv())  # there: it does not wait
            said: Iterator[Output] = iter(engine.next_output, None)  # until it has no more
            batch, ending = next_batch(chain(opening, said))
            if batch:
                await _send_texts(websocket, batch)
            if ending is not None:
                return ending
            if batch:
                # A write the socket takes at once does not yield: let the loop read (and
                # serve the other connections) between two batches.
                await asyncio.sleep(0)
            elif (wake_at := engine.wake_at) is None:
                engine.receive_frame(await websocket.recv())
            else:  # a paced response: its next event is due at wake_at, or a message first
                try:
                    async with asyncio.timeout_at(wake_at):
                        engine.receive_frame(await websocket.recv())
                except TimeoutError:
                    pass
    except ConnectionClosed:
        return None


def _message_waiting(websocket: ServerConnection) -> bool:
    """Whether ``recv()`` would return a message at once. websockets' asyncio connection
    queues the frames it has read in its assembler (``recv_messages``) and has no
    ``recv_nowait``; a final frame at the head is a whole message. (A fragmented message is
    left for the next blocking ``recv``.)"""
    frames = websocket.recv_messages.frames.queue
    return bool(frames) and frames[0].fin


async def _send_texts(websocket: ServerConnection, texts: list[str]) -> None:
    """Frame every text, then write once (:meth:`_Connection.send_data`)."""
    async with websocket.send_context():
        for text in texts:
            websocket.protocol.send_text(text.encode())


async def serve_until_signalled(
    options: FakeUpstreamOptions,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, printing ``fake upstream listening on ws://HOST:PORT``
    (wss:// with ``ssl_context``) once the port is bound; then close every connection with
    1001, each within CLOSE_HANDSHAKE_TIMEOUT_S."""
    if options.validate_client_events:
        # Importing the openai models takes about a second: pay it now, not in a session.
        client_models("ga")
        client_models("beta")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    fake = AsyncioFakeUpstream(options)
    tls: dict[str, Any] = {}
    if ssl_context is not None:
        tls = {"ssl": ssl_context, "ssl_handshake_timeout": HANDSHAKE_TIMEOUT_S}
    async with serve(
        fake.converse,
        host,
        port,
        process_request=fake.admit,
        create_connection=_Connection,
        server_header=None,
        compression=None,  # as the Trio shell: no permessage-deflate
        open_timeout=HANDSHAKE_TIMEOUT_S,
        ping_interval=None,  # the real services send no pings; the relay may
        close_timeout=CLOSE_HANDSHAKE_TIMEOUT_S,
        max_size=MAX_MESSAGE_BYTES,
        max_queue=READ_AHEAD_FRAMES,
        logger=PROTOCOL_LOG,
        **tls,
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        scheme = "ws" if ssl_context is None else "wss"
        print(f"fake upstream listening on {scheme}://{host}:{bound}", flush=True)
        await stop.wait()


def run(
    options: FakeUpstreamOptions,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """:func:`serve_until_signalled` on uvloop when it is installed (a dev dependency), else
    on asyncio's own loop."""
    main = serve_until_signalled(options, host, port, ssl_context)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)

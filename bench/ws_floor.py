"""A receive-only WebSocket server on Trio: what the WebSocket stack alone costs per frame.

It greets each client like the relay (``control/connected``) and then reads and discards every
frame: no upstream, no translation. Driven by ``python -m bench run --relay-url URL --relay-pid
PID --no-direct`` its CPU per session-second is the floor of a relay built on that stack (its
turns are never answered, so ignore the latency figures).

``--stack``: ``trio-websocket`` (what trio-relay uses), ``wsproto`` (trio-websocket's parser
driven directly from the socket, without trio-websocket's reader task and channel), or
``websockets`` (the ``websockets`` package's Sans-I/O protocol, with its C frame unmasking), or
``raw`` (the handshake, then bytes read from the socket and dropped: Trio's I/O floor).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import trio

CONNECTED = '{"type":"control","action":"connected","greeting":"floor"}'


async def trio_websocket_handler(request: object) -> None:
    from trio_websocket import ConnectionClosed, WebSocketRequest

    assert isinstance(request, WebSocketRequest)
    ws = await request.accept()
    await ws.send_message(CONNECTED)
    try:
        while True:
            await ws.get_message()
    except ConnectionClosed:
        pass


async def wsproto_handler(stream: trio.SocketStream, raw: bool = False) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import (
        AcceptConnection,
        CloseConnection,
        Message,
        Ping,
        Request,
        TextMessage,
    )

    conn = WSConnection(ConnectionType.SERVER)
    try:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, Request):
                    out = conn.send(AcceptConnection())
                    out += conn.send(TextMessage(CONNECTED))
                    await stream.send_all(out)
                    if raw:  # from here on, bytes are read and dropped unparsed
                        while await stream.receive_some(65536):
                            pass
                        return
                elif isinstance(event, Message):
                    pass
                elif isinstance(event, Ping):
                    await stream.send_all(conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await stream.send_all(conn.send(event.response()))
                    return
    except trio.BrokenResourceError:
        pass


async def websockets_handler(stream: trio.SocketStream) -> None:
    from websockets.frames import Frame
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    protocol = ServerProtocol()
    try:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Request):
                    protocol.send_response(protocol.accept(event))
                    protocol.send_text(CONNECTED.encode())
                elif isinstance(event, Frame):
                    pass
            out = protocol.data_to_send()
            if out:
                await stream.send_all(b"".join(out))
            if protocol.close_expected():
                return
    except trio.BrokenResourceError:
        pass


async def serve(stack: str, port: int) -> None:
    if stack == "trio-websocket":
        from trio_websocket import serve_websocket

        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(serve_websocket, trio_websocket_handler, "127.0.0.1", port, None)
            )
            print(f"ready: ws://127.0.0.1:{server.port}/realtime", flush=True)
        return
    handlers: dict[str, Callable[[trio.SocketStream], Awaitable[None]]] = {
        "wsproto": wsproto_handler,
        "raw": partial(wsproto_handler, raw=True),
        "websockets": websockets_handler,
    }
    handler = handlers[stack]
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, port, host="127.0.0.1"))
        bound = listeners[0].socket.getsockname()[1]
        print(f"ready: ws://127.0.0.1:{bound}/realtime", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_floor", description=__doc__)
    parser.add_argument("--stack", choices=("trio-websocket", "wsproto", "websockets", "raw"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        trio.run(serve, args.stack or "trio-websocket", args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

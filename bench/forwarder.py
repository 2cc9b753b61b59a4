"""A do-nothing TCP forwarder: what passing each frame through one more process costs at all.

Each accepted connection is joined to a new connection to ``--target`` and the bytes go both
ways as they come, one write per read: no parsing, no framing, no copies beyond the kernel's.
It runs on asyncio with uvloop (C where it can be: the event loop, the reads and writes), so
what it costs is close to the floor of any relay that forwards every frame as it arrives in
this language on this machine: the system calls, the wake-ups and one Python callback per read.

``python -m bench forwarder`` puts it between the direct clients and the fake upstream and
prints its CPU per session-second beside the fake's own (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from typing import cast


class _Side(asyncio.Protocol):
    """One end of a forwarded connection: what it reads goes to its peer's transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.pending: list[bytes] = []  # read before the peer was connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.pending.append(data)
        else:
            peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class _Client(_Side):
    """The accepted side: connects its peer to the target as soon as it is accepted."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__()
        self.target = target

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        upstream = _Side()
        upstream.peer, self.peer = self, upstream
        try:
            await asyncio.get_running_loop().create_connection(lambda: upstream, *self.target)
        except OSError:
            assert self.transport is not None
            self.transport.close()
            return
        assert upstream.transport is not None
        for data in self.pending:
            upstream.transport.write(data)
        self.pending.clear()


async def serve(port: int, target: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(target), "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    print(f"forwarding ws://127.0.0.1:{bound} to {target[0]}:{target[1]}", flush=True)
    await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.forwarder")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--target", required=True, metavar="HOST:PORT")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    try:
        import uvloop
    except ImportError:  # a slower floor, but still a floor
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(serve(args.port, (host, int(port))))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

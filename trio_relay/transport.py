"""Moving bytes under a WebSocket: any Trio stream, with a fast path for plain TCP sockets.

A Trio stream's ``receive_some`` and ``send_all`` are checkpoints: each yields to the scheduler
even when the socket was ready, and wraps the system call in error-translating context
managers. The relay's cost is per operation, not per byte, so on a plain TCP socket (the
browser side, and a ``ws://`` upstream) :class:`SocketTransport` calls the socket directly:

- :meth:`~Transport.receive_nowait` and :meth:`~Transport.send_nowait` never wait and never
  yield (a caller that has just slept reads what gathered meanwhile with no second wake-up);
- :meth:`~Transport.receive` is a checkpoint per read, as a Trio stream is;
- :meth:`~Transport.send_all` yields only when the socket cannot take everything at once, and
  gives up (``trio.TooSlowError``) on a peer that takes no byte for its ``timeout_s``.

Any other stream (TLS for a ``wss://`` upstream, Trio's in-memory streams in tests) goes through
its own methods: :class:`Transport` cannot read or write without waiting, so its ``*_nowait``
methods do nothing and the callers fall back to the waiting ones. So does a TCP stream where a
socket is not a file descriptor (Windows): ``os.read`` and ``os.write`` take one only on POSIX.
"""

from __future__ import annotations

import math
import os

import trio

RECEIVE_BYTES = 64 * 1024
# A socket is a file descriptor, which os.read and os.write take (not so on Windows).
SOCKETS_ARE_FILE_DESCRIPTORS = os.name == "posix"


class Transport:
    """A Trio stream's own methods (see the module doc)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    def receive_nowait(self) -> bytes | None:
        """What the peer sent that is ready now; ``b""`` when the connection is over; None when
        nothing is ready (always, for a stream that cannot be read without waiting)."""
        return None

    async def receive(self) -> bytes:
        """The next bytes from the peer; ``b""`` when the connection is over (closed, reset)."""
        try:
            return bytes(await self.stream.receive_some(RECEIVE_BYTES))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    def send_nowait(self, data: memoryview) -> int:
        """Write what the socket takes now; how many bytes that was. Raises
        ``trio.BrokenResourceError`` (peer gone) or ``trio.ClosedResourceError`` (we closed)."""
        return 0

    async def send_all(self, data: memoryview, *, timeout_s: float = math.inf) -> None:
        """Write all of ``data``, waiting (cancellably) for the socket as needed. Raises as
        :meth:`send_nowait`, and ``trio.TooSlowError`` when the peer stalls the write for
        ``timeout_s`` (here, where the stream is a black box: when the whole write takes
        longer; on a socket, when it takes no byte for that long)."""
        with trio.move_on_after(timeout_s) as waited:
            await self.stream.send_all(data)
        if waited.cancelled_caught:
            raise trio.TooSlowError(f"the peer took no data for {timeout_s:g} s")

    async def send_eof(self) -> None:
        if isinstance(self.stream, trio.abc.HalfCloseableStream):
            await self.stream.send_eof()


class SocketTransport(Transport):
    """A connected TCP socket, called directly (Linux: the socket is non-blocking)."""

    stream: trio.SocketStream

    def __init__(self, stream: trio.SocketStream) -> None:
        super().__init__(stream)
        self.socket = stream.socket
        self._drained = False  # the last read emptied the socket

    def _fileno(self) -> int:
        fd = self.socket.fileno()
        if fd == -1:  # closed: never touch the number, another socket may have it by now
            raise trio.ClosedResourceError("the socket is closed")
        return fd

    def receive_nowait(self) -> bytes | None:
        try:
            data = os.read(self._fileno(), RECEIVE_BYTES)
        except BlockingIOError:
            self._drained = True
            return None
        except (OSError, trio.ClosedResourceError):  # reset, or closed by us
            return b""
        # A short read took all the socket held: the next read waits first, rather than
        # spend a system call to learn that nothing came in the microseconds since.
        self._drained = len(data) < RECEIVE_BYTES
        return data

    async def receive(self) -> bytes:
        await trio.lowlevel.checkpoint_if_cancelled()
        data = None if self._drained else self.receive_nowait()
        if data is not None:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        while data is None:
            try:
                await trio.lowlevel.wait_readable(self.socket)
            except trio.ClosedResourceError:  # closed by another task meanwhile
                return b""
            data = self.receive_nowait()
        return data

    def send_nowait(self, data: memoryview) -> int:
        if self.socket.did_shutdown_SHUT_WR:
            raise trio.ClosedResourceError("cannot send after sending EOF")
        try:
            return os.write(self._fileno(), data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise trio.BrokenResourceError(f"the peer is gone: {exc.strerror}") from exc

    async def send_all(self, data: memoryview, *, timeout_s: float = math.inf) -> None:
        sent = self.send_nowait(data)
        while sent < len(data):
            # Bounded per wait, not per write: a slow reader that keeps taking bytes is not
            # stalled, one that takes none for timeout_s is.
            with trio.move_on_after(timeout_s) as waited:
                await trio.lowlevel.wait_writable(self.socket)
            if waited.cancelled_caught:
                raise trio.TooSlowError(f"the peer took no data for {timeout_s:g} s")
            sent += self.send_nowait(data[sent:])


def transport_for(stream: trio.abc.Stream) -> Transport:
    """The direct path for a Trio TCP stream on POSIX; the stream's own methods otherwise."""
    if SOCKETS_ARE_FILE_DESCRIPTORS and isinstance(stream, trio.SocketStream):
        return SocketTransport(stream)
    return Transport(stream)

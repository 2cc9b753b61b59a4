"""The caps on open connections that are not (yet) sessions, and whom to drop to honour them.

A connection counts from accept until it becomes a WebSocket session (then the session caps in
:mod:`trio_relay.limits` apply) or closes. A new connection is always admitted: at a cap, the
OLDEST open connection (of that address, for the per-address cap) is dropped instead, so a flood
of idle or half-sent connections can never lock out a health probe or a new session, and
sessions are never touched. Pure: no I/O here; the caller ends what :meth:`ConnectionTable.open`
returns (by the ``cancel`` it registered).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

GLOBAL_CAP = "max_connections"
PER_IP_CAP = "max_connections_per_ip"


@attrs.define(eq=False)
class OpenConnection:
    """One connection in the table; :attr:`cancel` ends its handler."""

    ip: str
    cancel: Callable[[], None]
    dropped_for: str | None = None  # the cap it was dropped for, once dropped


@attrs.define
class ConnectionTable:
    max_connections: int
    # None: no per-address cap (behind a proxy every connection comes from the proxy).
    max_per_ip: int | None
    # Insertion-ordered (oldest first); the values are unused.
    _all: dict[OpenConnection, None] = attrs.Factory(dict)
    _by_ip: dict[str, dict[OpenConnection, None]] = attrs.Factory(dict)

    def __len__(self) -> int:
        return len(self._all)

    def count(self, ip: str) -> int:
        return len(self._by_ip.get(ip, ()))

    def open(
        self, ip: str, cancel: Callable[[], None]
    ) -> tuple[OpenConnection, list[OpenConnection]]:
        """Admit a connection from ``ip`` (``cancel`` ends it): it, and the connections to drop to
        make room (already out of the table, each with :attr:`~OpenConnection.dropped_for` set;
        cancel them)."""
        dropped: list[OpenConnection] = []
        same_ip = self._by_ip.get(ip)
        if self.max_per_ip is not None and same_ip and len(same_ip) >= self.max_per_ip:
            dropped.append(self._drop(next(iter(same_ip)), PER_IP_CAP))
        if len(self._all) >= self.max_connections:
            dropped.append(self._drop(next(iter(self._all)), GLOBAL_CAP))
        connection = OpenConnection(ip, cancel)
        self._all[connection] = None
        self._by_ip.setdefault(ip, {})[connection] = None
        return connection, dropped

    def release(self, connection: OpenConnection) -> None:
        """It closed, or became a session. Idempotent."""
        if self._all.pop(connection, 0) is None:
            same_ip = self._by_ip[connection.ip]
            del same_ip[connection]
            if not same_ip:
                del self._by_ip[connection.ip]

    def _drop(self, connection: OpenConnection, cap: str) -> OpenConnection:
        self.release(connection)
        connection.dropped_for = cap
        return connection

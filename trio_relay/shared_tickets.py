"""One-time tickets remembered by every worker of one relay (``--workers N``): once, not N times.

With ``TICKET_ONE_TIME=1`` a ticket's ``jti`` may open one session. Each process remembering
the ids it saw (:class:`~trio_relay.client_auth.ReplayGuard`) is enough for one process; with
workers, the kernel spreads connections over them, so a ticket replayed to each worker in turn
would open up to N sessions. Here the workers share one record instead.

The supervisor creates a ticket file in the relay's shared directory; every worker maps it. The
file is a hash table of :data:`BUCKETS` buckets of :data:`ENTRIES_PER_BUCKET` entries, each
three uint64 cells: the ``jti``'s 128-bit BLAKE2b digest (two cells) and when the ticket expires
(whole seconds since the epoch, leeway included, rounded up; an entry whose time has passed is
free, and all-zero is free). A ticket's digest picks its bucket; a check-and-remember scans that
bucket under an exclusive ``flock`` of the file, so two workers can never both admit the same
ticket. A bucket full of tickets that have not expired refuses new ones (fail closed, as the
per-process guard does when full): with 262,144 entries that takes far more live one-time
tickets than the per-process limit of 100,000, unless their digests collide on purpose, which
needs the ticket secret.

Entries are never cleared when a worker restarts: a used ticket stays used until it expires.

:class:`TicketTable` is the pure part (cells in, decisions out); :class:`SharedReplayGuard` is
the shell (file, mmap, lock).
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
from pathlib import Path

import attrs

from .client_auth import AuthFailed
from .config import Access, WorkerPlace
from .shared_slots import FileLock

TICKET_FILE = "one-time-tickets.bin"
BUCKETS = 8192
ENTRIES_PER_BUCKET = 32
ENTRY_CELLS = 3  # the digest's two halves, the expiry
CELL_BYTES = 8
FILE_BYTES = BUCKETS * ENTRIES_PER_BUCKET * ENTRY_CELLS * CELL_BYTES

ALREADY_USED = "ticket was already used (one-time tickets)"
FULL = "too many one-time tickets in use; try again shortly"


@attrs.frozen
class TicketKey:
    """Where a ``jti`` lives in the table, and what identifies it there."""

    bucket: int
    high: int
    low: int

    @classmethod
    def of(cls, jti: str) -> TicketKey:
        digest = hashlib.blake2b(jti.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        high, low = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")
        return cls(high % BUCKETS, high, low)


class TicketTable:
    """The ticket file's cells: pure, so tests drive it without a file or a lock."""

    def __init__(self, cells: memoryview) -> None:
        if len(cells) != BUCKETS * ENTRIES_PER_BUCKET * ENTRY_CELLS:
            raise ValueError(f"a ticket table has {len(cells)} cells: not a ticket file")
        self.cells = cells

    def first_use(self, key: TicketKey, expires_at: float, now: float) -> str | None:
        """Remember the ticket until ``expires_at``; or why not: it is remembered already (a
        replay), or its bucket is full of tickets still valid."""
        cells = self.cells
        start = key.bucket * ENTRIES_PER_BUCKET * ENTRY_CELLS
        free = None
        for at in range(start, start + ENTRIES_PER_BUCKET * ENTRY_CELLS, ENTRY_CELLS):
            if cells[at + 2] <= now:  # never used, or expired: may be taken
                if free is None:
                    free = at
            elif cells[at] == key.high and cells[at + 1] == key.low:
                return ALREADY_USED
        if free is None:
            return FULL
        cells[free], cells[free + 1], cells[free + 2] = key.high, key.low, math.ceil(expires_at)
        return None


def create_ticket_file(shared_dir: str) -> None:
    """Called by the supervisor before it starts the workers: all zeros (a sparse file)."""
    with open(Path(shared_dir) / TICKET_FILE, "wb") as file:
        file.truncate(FILE_BYTES)


class SharedReplayGuard:
    """:class:`~trio_relay.client_auth.ReplayGuard`'s method over the relay's ticket file."""

    def __init__(self, shared_dir: str) -> None:
        self._fd = os.open(Path(shared_dir) / TICKET_FILE, os.O_RDWR | os.O_CLOEXEC)
        try:
            self._map = mmap.mmap(self._fd, 0)
            if len(self._map) != FILE_BYTES:  # before any view of it: a view holds the map
                self._map.close()
                raise ValueError(f"{TICKET_FILE} in {shared_dir} is not a ticket file")
        except BaseException:
            os.close(self._fd)
            raise
        self._table = TicketTable(memoryview(self._map).cast("Q"))

    def first_use(self, jti: str, expires_at: float, now: float) -> None:
        """Remember ``jti`` for the whole relay, or :class:`AuthFailed` if it was used before
        on any worker."""
        key = TicketKey.of(jti)
        with FileLock(self._fd):
            refusal = self._table.first_use(key, expires_at, now)
        if refusal is not None:
            raise AuthFailed(refusal)

    def close(self) -> None:
        self._table.cells.release()  # the map cannot close while a view of it exists
        self._map.close()
        os.close(self._fd)


def relay_access(access: Access, worker: WorkerPlace | None) -> Access:
    """The access rules a process applies: as configured, except that a worker's one-time
    tickets are remembered in the file all the workers share."""
    auth = access.client_auth
    if worker is None or not auth.tickets.one_time:
        return access
    shared = attrs.evolve(auth, replays=SharedReplayGuard(worker.shared_dir))
    return attrs.evolve(access, client_auth=shared)

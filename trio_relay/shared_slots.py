"""Session slots shared by the workers of one relay (``--workers N``): one count, not N.

The supervisor creates a slot file in the relay's shared directory; every worker maps it. The
file is a table of int64 cells with one column per worker index: the sessions that worker runs,
then its sessions per client-IP hash bucket. A worker writes only its own column and reads all
of them; a check-and-take happens under an exclusive ``flock`` of the file, so two workers can
never both take the last slot. A worker that (re)starts zeroes its own column (the supervisor
also does when it sees a worker die), so a killed worker's sessions do not hold slots forever.

The global cap is exact. The per-IP cap counts by bucket: two addresses that share a bucket
(1 in :data:`IP_BUCKETS`) count together, which can only make the cap stricter, never looser.

:class:`SlotTable` is the pure part (cells in, decisions out); :class:`SharedSessionSlots` is
the shell (file, mmap, lock). The lock is held for a few memory reads and one write, so taking
it with a blocking call on the event loop costs microseconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
from pathlib import Path

import attrs

from .config import Limits, WorkerPlace
from .limits import SessionSlots, Slots, capacity_refusal

IP_BUCKETS = 4096
COLUMN_CELLS = 1 + IP_BUCKETS  # the worker's active sessions, then one cell per IP bucket
CELL_BYTES = 8
SLOT_FILE = "session-slots.bin"


def ip_bucket(ip: str) -> int:
    """The same bucket in every process (``hash()`` is salted per process; this is not)."""
    digest = hashlib.blake2b(ip.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % IP_BUCKETS


@attrs.define
class SlotTable:
    """The shared counts, over ``cells`` (``workers`` columns of :data:`COLUMN_CELLS` int64s).
    Pure: the caller holds the lock around each call."""

    cells: memoryview
    column: int
    max_sessions: int
    max_per_ip: int

    @property
    def workers(self) -> int:
        return len(self.cells) // COLUMN_CELLS

    def active(self) -> int:
        return sum(self.cells[c * COLUMN_CELLS] for c in range(self.workers))

    def from_ip(self, bucket: int) -> int:
        return sum(self.cells[c * COLUMN_CELLS + 1 + bucket] for c in range(self.workers))

    def refusal(self, bucket: int) -> str | None:
        return capacity_refusal(
            self.active(),
            self.from_ip(bucket),
            max_sessions=self.max_sessions,
            max_per_ip=self.max_per_ip,
        )

    def try_take(self, bucket: int) -> str | None:
        refusal = self.refusal(bucket)
        if refusal is None:
            self._add(bucket, 1)
        return refusal

    def give_back(self, bucket: int) -> None:
        own = self.column * COLUMN_CELLS
        if self.cells[own] > 0 and self.cells[own + 1 + bucket] > 0:
            self._add(bucket, -1)

    def clear_column(self) -> None:
        own = self.column * COLUMN_CELLS
        self.cells[own : own + COLUMN_CELLS] = memoryview(bytes(COLUMN_CELLS * CELL_BYTES)).cast(
            "q"
        )

    def _add(self, bucket: int, delta: int) -> None:
        own = self.column * COLUMN_CELLS
        self.cells[own] += delta
        self.cells[own + 1 + bucket] += delta


def create_slot_file(shared_dir: str, workers: int) -> None:
    """Called by the supervisor before it starts the workers: all zeros, sized for ``workers``."""
    with open(Path(shared_dir) / SLOT_FILE, "wb") as file:
        file.truncate(workers * COLUMN_CELLS * CELL_BYTES)


class SharedSessionSlots:
    """:class:`~trio_relay.limits.SessionSlots`' methods over the relay's slot file."""

    def __init__(self, shared_dir: str, column: int, max_sessions: int, max_per_ip: int) -> None:
        self._fd = os.open(Path(shared_dir) / SLOT_FILE, os.O_RDWR | os.O_CLOEXEC)
        try:
            self._map = mmap.mmap(self._fd, 0)
        except BaseException:
            os.close(self._fd)
            raise
        self._table = SlotTable(memoryview(self._map).cast("q"), column, max_sessions, max_per_ip)
        if not 0 <= column < self._table.workers:
            self.close()
            raise ValueError(f"worker index {column} is outside the slot file ({shared_dir})")

    def clear_own_column(self) -> None:
        with self._locked():
            self._table.clear_column()

    def refusal(self, ip: str) -> str | None:
        with self._locked():
            return self._table.refusal(ip_bucket(ip))

    def try_take(self, ip: str) -> str | None:
        with self._locked():
            return self._table.try_take(ip_bucket(ip))

    def give_back(self, ip: str) -> None:
        with self._locked():
            self._table.give_back(ip_bucket(ip))

    @property
    def active(self) -> int:
        """Sessions running in the whole relay."""
        with self._locked():
            return self._table.active()

    def close(self) -> None:
        self._table.cells.release()  # the map cannot close while a view of it exists
        self._map.close()
        os.close(self._fd)

    def _locked(self) -> FileLock:
        return FileLock(self._fd)


class FileLock:
    """An exclusive ``flock`` of a shared file, held for the ``with`` block."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


def clear_worker_column(shared_dir: str, worker: int) -> None:
    """The supervisor's part when a worker died: its sessions are gone, and so are their slots."""
    slots = SharedSessionSlots(shared_dir, worker, 1, 1)
    try:
        slots.clear_own_column()
    finally:
        slots.close()


def session_slots(limits: Limits, worker: WorkerPlace | None) -> Slots:
    """The relay's slots: this process's own count, or (a worker) the count shared by all."""
    if worker is None:
        return SessionSlots(limits.max_sessions, limits.max_sessions_per_ip)
    slots = SharedSessionSlots(
        worker.shared_dir, worker.index, limits.max_sessions, limits.max_sessions_per_ip
    )
    slots.clear_own_column()
    return slots

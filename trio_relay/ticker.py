"""One timer for every session's periodic wake-up.

While a microphone streams, each session's client-reader sleeps until its next chunk is due:
ten sleeps a second per session. ``trio.sleep_until`` builds a cancel scope with a deadline and
wakes the task by cancelling it, which costs more than everything else the wake-up does
(about 40 us against 15 us on the benchmark machine). A :class:`Ticker` instead parks sleepers
in one :class:`trio.lowlevel.ParkingLot` per tick and runs a single task that unparks each lot
when its tick comes: one timer for the whole process, and the sessions due in the same tick
wake in the same scheduler batch (one poll of the sockets for all of them).

A tick only pays off when several sleepers share it: with fewer than ``batch_from`` tasks
asleep (a lightly loaded relay), :meth:`Ticker.sleep_until` is ``trio.sleep_until``, exact and
one timer per sleeper, which is then cheaper than waking the ticker as well.

A sleeper wakes at the first tick at or after its deadline, never before it. The ticker task
runs in the server's nursery; before it starts and after it stops, :meth:`Ticker.sleep_until`
is ``trio.sleep_until`` (and sleepers still parked when it stops are woken, a little early,
rather than left behind).
"""

from __future__ import annotations

import math

import trio
from trio.lowlevel import ParkingLot

TICK_S = 0.01
BATCH_FROM = 16


class Ticker:
    def __init__(self, tick_s: float = TICK_S, *, batch_from: int = BATCH_FROM) -> None:
        self.tick_s = tick_s
        self.batch_from = batch_from
        self._sleeping = 0  # tasks in sleep_until, on a tick or not
        self._lots: dict[int, ParkingLot] = {}  # tick number -> the tasks waiting for it
        self._timer: trio.CancelScope | None = None  # the running ticker's sleep

    @property
    def running(self) -> bool:
        return self._timer is not None

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline`` (Trio clock), woken on the first tick at or after it (at
        once if it has passed)."""
        self._sleeping += 1
        try:
            timer = self._timer
            if timer is None or self._sleeping < self.batch_from:
                await trio.sleep_until(deadline)
                return
            tick = math.ceil(deadline / self.tick_s)
            if tick * self.tick_s < deadline:  # floating point: never wake before the deadline
                tick += 1
            lot = self._lots.get(tick)
            if lot is None:
                lot = self._lots[tick] = ParkingLot()
                if tick * self.tick_s < timer.deadline:
                    timer.deadline = tick * self.tick_s  # earlier than the ticker would wake
            await lot.park()
        finally:
            self._sleeping -= 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The ticker task: runs until cancelled."""
        try:
            while True:
                with trio.CancelScope() as self._timer:
                    if self._lots:
                        self._timer.deadline = min(self._lots) * self.tick_s
                    task_status.started()
                    task_status = trio.TASK_STATUS_IGNORED
                    await trio.sleep_forever()
                now = trio.current_time()
                for tick in [tick for tick in self._lots if tick * self.tick_s <= now]:
                    self._lots.pop(tick).unpark_all()
        finally:
            self._timer = None
            for lot in self._lots.values():
                lot.unpark_all()
            self._lots.clear()

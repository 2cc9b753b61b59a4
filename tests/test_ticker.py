"""trio_relay.ticker: one timer for every session's periodic wake-up (on Trio's MockClock)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_relay.ticker import Ticker


async def started(nursery: trio.Nursery, tick_s: float = 0.01, batch_from: int = 1) -> Ticker:
    ticker = Ticker(tick_s, batch_from=batch_from)
    await nursery.start(ticker.run)
    assert ticker.running
    return ticker


async def test_a_sleeper_wakes_on_the_first_tick_at_or_after_its_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ticker = await started(nursery)
    await ticker.sleep_until(0.123)
    assert trio.current_time() == pytest.approx(0.13)
    await ticker.sleep_until(0.2)  # on a tick: exactly then
    assert trio.current_time() == pytest.approx(0.2)
    await ticker.sleep_until(0.0)  # already past: at once, as trio.sleep_until
    assert trio.current_time() == pytest.approx(0.2)


async def test_no_sleeper_ever_wakes_before_its_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ticker = await started(nursery, tick_s=0.1)
    for step in range(1, 200):
        deadline = step * 0.0137
        await ticker.sleep_until(deadline)
        assert deadline <= trio.current_time() < deadline + 0.1 + 1e-9


async def test_sleepers_due_in_the_same_tick_wake_together(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ticker = await started(nursery)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, deadline: float) -> None:
        await ticker.sleep_until(deadline)
        woke.append((name, trio.current_time()))

    async with trio.open_nursery() as sleepers:
        sleepers.start_soon(sleeper, "a", 0.101)
        sleepers.start_soon(sleeper, "b", 0.109)
        sleepers.start_soon(sleeper, "c", 0.111)
    assert sorted(woke) == [
        ("a", pytest.approx(0.11)),
        ("b", pytest.approx(0.11)),
        ("c", pytest.approx(0.12)),
    ]


async def test_a_sleeper_earlier_than_the_ticker_planned_for_is_woken_in_time(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ticker = await started(nursery)
    nursery.start_soon(ticker.sleep_until, 5.0)
    await trio.testing.wait_all_tasks_blocked()
    await ticker.sleep_until(0.05)
    assert trio.current_time() == pytest.approx(0.05)


async def test_a_cancelled_sleeper_leaves_and_the_others_still_wake(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ticker = await started(nursery)
    woke: list[float] = []

    async def sleeper() -> None:
        await ticker.sleep_until(1.0)
        woke.append(trio.current_time())

    nursery.start_soon(sleeper)
    with trio.move_on_after(0.5):
        await ticker.sleep_until(1.0)
    assert trio.current_time() == pytest.approx(0.5)
    await trio.sleep(1)
    assert woke == [pytest.approx(1.0)]


async def test_without_a_running_ticker_it_is_trios_own_sleep(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ticker = Ticker(0.01)
    assert not ticker.running
    await ticker.sleep_until(0.123)
    assert trio.current_time() == pytest.approx(0.123)


async def test_stopping_the_ticker_wakes_its_sleepers_rather_than_leave_them_behind(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    woke: list[float] = []
    async with trio.open_nursery() as ticking:
        ticker = await started(ticking)

        async def sleeper() -> None:
            await ticker.sleep_until(10.0)
            woke.append(trio.current_time())

        nursery.start_soon(sleeper)  # outlives the ticker
        await trio.sleep(1)
        ticking.cancel_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert woke == [pytest.approx(1.0)]
    assert not ticker.running
    await ticker.sleep_until(2.5)  # from now on: trio.sleep_until
    assert trio.current_time() == pytest.approx(2.5)


async def test_with_few_sleepers_each_sleeps_on_its_own_exact_timer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ticker = await started(nursery, batch_from=3)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, deadline: float) -> None:
        await ticker.sleep_until(deadline)
        woke.append((name, trio.current_time()))

    async with trio.open_nursery() as sleepers:
        sleepers.start_soon(sleeper, "first", 0.101)  # one asleep: its own timer
        await trio.testing.wait_all_tasks_blocked()
        sleepers.start_soon(sleeper, "second", 0.102)  # two: still its own
        await trio.testing.wait_all_tasks_blocked()
        sleepers.start_soon(sleeper, "third", 0.103)  # three: the shared tick
    assert sorted(woke) == [
        ("first", pytest.approx(0.101)),
        ("second", pytest.approx(0.102)),
        ("third", pytest.approx(0.11)),
    ]

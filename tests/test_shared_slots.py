"""Session slots shared by worker processes: the table's arithmetic, then real processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_relay.shared_slots import (
    COLUMN_CELLS,
    SharedSessionSlots,
    SlotTable,
    clear_worker_column,
    create_slot_file,
    ip_bucket,
)


def table(workers: int, column: int, *, max_sessions: int = 3, max_per_ip: int = 2) -> SlotTable:
    cells = memoryview(bytearray(workers * COLUMN_CELLS * 8)).cast("q")
    return SlotTable(cells, column, max_sessions, max_per_ip)


def other_column(of: SlotTable, column: int) -> SlotTable:
    return SlotTable(of.cells, column, of.max_sessions, of.max_per_ip)


def test_the_global_cap_counts_every_workers_column() -> None:
    first = table(2, 0)
    second = other_column(first, 1)
    assert first.try_take(ip_bucket("1.1.1.1")) is None
    assert second.try_take(ip_bucket("2.2.2.2")) is None
    assert second.try_take(ip_bucket("3.3.3.3")) is None
    refusal = first.try_take(ip_bucket("4.4.4.4"))
    assert refusal is not None and "limit of 3 sessions" in refusal
    assert first.active() == second.active() == 3
    second.give_back(ip_bucket("3.3.3.3"))
    assert first.try_take(ip_bucket("4.4.4.4")) is None


def test_the_per_ip_cap_counts_that_address_on_every_worker() -> None:
    first = table(2, 0, max_sessions=10)
    second = other_column(first, 1)
    ip = ip_bucket("10.0.0.7")
    assert first.try_take(ip) is None
    assert second.try_take(ip) is None
    refusal = first.try_take(ip)
    assert refusal is not None and "this client address" in refusal
    other = ip_bucket("10.0.0.8")
    assert other != ip and first.try_take(other) is None


def test_a_restarted_worker_frees_what_its_predecessor_held() -> None:
    first = table(2, 0)
    second = other_column(first, 1)
    for ip in ("a", "b", "c"):
        assert second.try_take(ip_bucket(ip)) is None
    assert first.try_take(ip_bucket("d")) is not None
    second.clear_column()
    assert first.try_take(ip_bucket("d")) is None and first.active() == 1


def test_giving_back_more_than_was_taken_never_goes_negative() -> None:
    first = table(1, 0)
    first.give_back(ip_bucket("x"))
    assert first.active() == 0 and first.from_ip(ip_bucket("x")) == 0


def test_the_bucket_of_an_address_is_the_same_in_every_process() -> None:
    # A value pinned once: a salted hash() would give another in (almost) every process.
    assert ip_bucket("192.0.2.1") == 1224
    assert len({ip_bucket(f"10.0.{i // 256}.{i % 256}") for i in range(1000)}) > 850


@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from("abcde"), st.booleans()), max_size=80))
def test_taken_slots_never_exceed_either_cap(steps: list[tuple[int, str, bool]]) -> None:
    workers = [table(3, 0, max_sessions=4, max_per_ip=2)]
    workers += [other_column(workers[0], c) for c in (1, 2)]
    held: list[tuple[int, str]] = []
    for column, ip, take in steps:
        if take:
            if workers[column].try_take(ip_bucket(ip)) is None:
                held.append((column, ip))
        elif (column, ip) in held:
            workers[column].give_back(ip_bucket(ip))
            held.remove((column, ip))
        assert workers[0].active() == len(held) <= 4
        for address in "abcde":
            assert [ip for _, ip in held].count(address) <= 2


def test_a_worker_index_beyond_the_slot_file_is_refused(tmp_path: Path) -> None:
    create_slot_file(str(tmp_path), 2)
    with pytest.raises(ValueError, match="worker index 2"):
        SharedSessionSlots(str(tmp_path), 2, max_sessions=1, max_per_ip=1)


def _take_all_you_can(shared_dir: str, column: int, start: object, taken: object) -> None:
    slots = SharedSessionSlots(shared_dir, column, max_sessions=25, max_per_ip=1000)
    start.wait()  # type: ignore[attr-defined]
    count = 0
    for _ in range(200):
        if slots.try_take(f"10.1.{column}.{count}") is None:
            count += 1
    taken.put(count)  # type: ignore[attr-defined]
    slots.close()


def test_workers_racing_for_the_last_slots_never_take_more_than_the_cap(tmp_path: Path) -> None:
    workers = 4
    create_slot_file(str(tmp_path), workers)
    context = multiprocessing.get_context("spawn")
    start, taken = context.Event(), context.Queue()
    processes = [
        context.Process(target=_take_all_you_can, args=(str(tmp_path), column, start, taken))
        for column in range(workers)
    ]
    for process in processes:
        process.start()
    start.set()
    counts = [taken.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert sum(counts) == 25
    observer = SharedSessionSlots(str(tmp_path), 0, max_sessions=25, max_per_ip=1000)
    try:
        assert observer.active == 25
        for column in range(workers):
            clear_worker_column(str(tmp_path), column)
        assert observer.active == 0
    finally:
        observer.close()

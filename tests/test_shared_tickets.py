"""One-time tickets across a relay's workers: the table decides, the file is shared.

The table is driven directly on plain memory; two guards over one file stand for two worker
processes (each maps the file and locks it for its check-and-remember).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_relay.client_auth import AuthFailed, ClientAuth, ClientAuthMode, TicketRules
from trio_relay.config import Access, WorkerPlace
from trio_relay.shared_tickets import (
    ALREADY_USED,
    BUCKETS,
    ENTRIES_PER_BUCKET,
    ENTRY_CELLS,
    FULL,
    SharedReplayGuard,
    TicketKey,
    TicketTable,
    create_ticket_file,
    relay_access,
)

NOW = 1_800_000_000.0
IN_AN_HOUR = NOW + 3600


def empty_table() -> TicketTable:
    return TicketTable(
        memoryview(bytearray(BUCKETS * ENTRIES_PER_BUCKET * ENTRY_CELLS * 8)).cast("Q")
    )


def keys_in_one_bucket(count: int, bucket: int = 7) -> list[TicketKey]:
    return [TicketKey(bucket, bucket + n * BUCKETS, n) for n in range(count)]


def test_a_ticket_is_remembered_once_and_its_replay_refused() -> None:
    table = empty_table()
    key = TicketKey.of("jti-1")
    assert table.first_use(key, IN_AN_HOUR, NOW) is None
    assert table.first_use(key, IN_AN_HOUR, NOW + 1) == ALREADY_USED
    assert table.first_use(TicketKey.of("jti-2"), IN_AN_HOUR, NOW) is None


def test_an_expired_ticket_frees_its_entry() -> None:
    table = empty_table()
    key = TicketKey.of("jti-1")
    assert table.first_use(key, NOW + 10, NOW) is None
    # The verifier refuses an expired ticket before it gets here; its entry is free again.
    assert table.first_use(key, NOW + 100, NOW + 11) is None


def test_a_bucket_full_of_live_tickets_refuses_new_ones_until_one_expires() -> None:
    table = empty_table()
    first, *rest, extra = keys_in_one_bucket(ENTRIES_PER_BUCKET + 1)
    assert table.first_use(first, NOW + 5, NOW) is None
    for key in rest:
        assert table.first_use(key, IN_AN_HOUR, NOW) is None
    assert table.first_use(extra, IN_AN_HOUR, NOW) == FULL
    assert table.first_use(extra, IN_AN_HOUR, NOW + 6) is None  # the first one expired
    for key in rest:  # none of the others was forgotten to make room
        assert table.first_use(key, IN_AN_HOUR, NOW + 6) == ALREADY_USED


def test_a_replay_is_found_behind_a_freed_entry() -> None:
    table = empty_table()
    early, later = keys_in_one_bucket(2)
    assert table.first_use(early, NOW + 5, NOW) is None
    assert table.first_use(later, IN_AN_HOUR, NOW) is None
    # `early` expired: its entry is free, but `later` behind it is still remembered.
    assert table.first_use(later, IN_AN_HOUR, NOW + 6) == ALREADY_USED


def test_digests_spread_over_the_buckets() -> None:
    buckets = {TicketKey.of(f"ticket-{n}").bucket for n in range(2000)}
    assert len(buckets) > 1500  # 2000 ids in 8192 buckets: about 1780 distinct


def test_a_ticket_used_on_one_worker_is_refused_on_another(tmp_path: Path) -> None:
    create_ticket_file(str(tmp_path))
    worker_0, worker_1 = SharedReplayGuard(str(tmp_path)), SharedReplayGuard(str(tmp_path))
    try:
        worker_0.first_use("jti-1", IN_AN_HOUR, NOW)
        with pytest.raises(AuthFailed, match="already used"):
            worker_1.first_use("jti-1", IN_AN_HOUR, NOW)
        worker_1.first_use("jti-2", IN_AN_HOUR, NOW)
        with pytest.raises(AuthFailed, match="already used"):
            worker_0.first_use("jti-2", IN_AN_HOUR, NOW)
    finally:
        worker_0.close()
        worker_1.close()


def test_a_file_that_is_not_a_ticket_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one-time-tickets.bin").write_bytes(b"\0" * 4096)
    with pytest.raises(ValueError, match="not a ticket file"):
        SharedReplayGuard(str(tmp_path))


def one_time_access(one_time: bool = True) -> Access:
    auth = ClientAuth(
        mode=ClientAuthMode.TICKET,
        ticket_secret=b"s" * 32,
        tickets=TicketRules(one_time=one_time),
    )
    return Access(client_auth=auth, ticket_one_time=one_time)


def test_only_a_worker_with_one_time_tickets_shares_their_record(tmp_path: Path) -> None:
    create_ticket_file(str(tmp_path))
    worker = WorkerPlace(0, str(tmp_path))
    assert relay_access(one_time_access(), None) == one_time_access()
    assert relay_access(one_time_access(False), worker) == one_time_access(False)
    shared = relay_access(one_time_access(), worker).client_auth.replays
    assert isinstance(shared, SharedReplayGuard)
    shared.close()

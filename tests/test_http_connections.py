"""The connection caps: a new connection is always admitted, the oldest one gives way."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trio_relay.connections import GLOBAL_CAP, PER_IP_CAP, ConnectionTable


def nothing() -> None:
    """What cancelling a connection does here: the table only says whom to cancel."""


def test_under_the_caps_nothing_is_dropped() -> None:
    table = ConnectionTable(max_connections=3, max_per_ip=2)
    assert [table.open(ip, nothing)[1] for ip in ("a", "a", "b")] == [[], [], []]
    assert len(table) == 3 and table.count("a") == 2


def test_at_the_global_cap_the_oldest_connection_is_dropped() -> None:
    table = ConnectionTable(max_connections=2, max_per_ip=None)
    first, _ = table.open("a", nothing)
    second, _ = table.open("b", nothing)
    third, dropped = table.open("c", nothing)
    assert dropped == [first] and first.dropped_for == GLOBAL_CAP
    _, dropped = table.open("d", nothing)
    assert dropped == [second] and len(table) == 2 and third.dropped_for is None


def test_at_the_per_ip_cap_that_ips_oldest_connection_is_dropped() -> None:
    table = ConnectionTable(max_connections=10, max_per_ip=2)
    other, _ = table.open("b", nothing)
    first, _ = table.open("a", nothing)
    table.open("a", nothing)
    _, dropped = table.open("a", nothing)
    assert dropped == [first] and first.dropped_for == PER_IP_CAP
    assert other.dropped_for is None and table.count("a") == 2


def test_released_connections_free_their_place_and_release_is_idempotent() -> None:
    table = ConnectionTable(max_connections=1, max_per_ip=1)
    first, _ = table.open("a", nothing)
    table.release(first)
    table.release(first)
    _, dropped = table.open("a", nothing)
    assert dropped == [] and len(table) == 1


@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), max_size=60))
def test_the_table_never_exceeds_its_caps_and_drops_oldest_first(
    steps: list[tuple[str, bool]],
) -> None:
    table = ConnectionTable(max_connections=4, max_per_ip=2)
    live: list = []
    for ip, release_oldest in steps:
        if release_oldest and live:
            table.release(live.pop(0))
            continue
        connection, dropped = table.open(ip, nothing)
        for victim in dropped:
            same_ip = [c for c in live if c.ip == ip]
            expected = same_ip[0] if victim.dropped_for == PER_IP_CAP else live[0]
            assert victim is expected
            live.remove(victim)
        live.append(connection)
        assert len(table) == len(live) <= 4
        assert all(table.count(x) <= 2 for x in "abc")

"""Admission slots and audio pacing, with time passed in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trio_relay.limits import AudioPacer, SessionSlots


def test_global_and_per_ip_caps() -> None:
    slots = SessionSlots(max_sessions=3, max_per_ip=2)
    assert slots.try_take("1.1.1.1") is None
    assert slots.try_take("1.1.1.1") is None
    assert "this client address" in (slots.refusal("1.1.1.1") or "")
    assert slots.refusal("2.2.2.2") is None
    assert slots.try_take("2.2.2.2") is None
    assert "limit of 3 sessions" in (slots.refusal("3.3.3.3") or "")
    slots.give_back("1.1.1.1")
    assert slots.refusal("1.1.1.1") is None and slots.active == 2


def test_try_take_takes_a_slot_only_when_it_does_not_refuse() -> None:
    slots = SessionSlots(max_sessions=1, max_per_ip=1)
    assert slots.try_take("1.1.1.1") is None and slots.active == 1
    assert "limit of 1 sessions" in (slots.try_take("2.2.2.2") or "")
    assert slots.active == 1 and "2.2.2.2" not in slots.per_ip


def test_real_time_audio_is_never_delayed() -> None:
    pacer = AudioPacer(burst_ms=500, now=0.0)
    for i in range(500):  # 10 s of 20 ms frames, on time
        assert pacer.delay(960, now=i * 0.02) == 0.0


def test_audio_beyond_the_burst_waits_for_real_time() -> None:
    pacer = AudioPacer(burst_ms=1000, now=0.0)
    assert pacer.delay(48_000, now=0.0) == 0.0  # 1 s at once: within the burst
    assert pacer.delay(48_000, now=0.0) == 1.0  # another second: wait one second


@given(st.lists(st.tuples(st.integers(0, 20_000), st.floats(0, 0.2)), max_size=200))
def test_admitted_audio_never_runs_ahead_of_real_time_by_more_than_the_burst(
    frames: list[tuple[int, float]],
) -> None:
    pacer = AudioPacer(burst_ms=2000, now=0.0)
    now, admitted_s = 0.0, 0.0
    for nbytes, gap in frames:
        now += gap
        now += pacer.delay(nbytes, now)  # the reader waits this long before forwarding
        admitted_s += nbytes / 48_000
        assert admitted_s <= now + 2.0 + 1e-9

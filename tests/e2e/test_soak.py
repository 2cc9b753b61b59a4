"""Soak: 500 sessions in waves, mixing normal turns, bad input and upstream faults. Afterwards
file descriptors and tasks are back to their baseline and every session ended as expected."""

from __future__ import annotations

from collections import Counter

import trio
import trio.testing
from harness import count_tasks, is_control, open_browser, open_sockets, serve

from fake_upstream import FakeUpstreamOptions, open_fake_upstream
from trio_relay.config import Limits, RelayConfig, openai_target

SESSIONS = 500
WAVE = 50

# kind -> (upstream model, the relay's session outcome)
KINDS = {
    "turn": ("gpt-realtime", "ClientGone"),
    "bad_input": ("gpt-realtime", "ClientGone"),
    "refused": ("fault-401", "UpstreamUnavailable"),
    "dropped": ("fault-drop-mid-response", "UpstreamFailed"),
    "fatal": ("fault-error-fatal", "UpstreamFailed"),
}


async def test_soak_500_sessions_leave_nothing_behind(nursery: trio.Nursery) -> None:
    async with open_fake_upstream(options=FakeUpstreamOptions(record_events=False)) as fake:
        limits = Limits(max_sessions=1000, max_sessions_per_ip=1000)
        relays = {
            kind: await serve(
                nursery,
                RelayConfig(upstream=openai_target(f"{fake.url}/v1", model, "k"), limits=limits),
            )
            for kind, (model, _) in KINDS.items()
        }
        await trio.testing.wait_all_tasks_blocked()
        relay_ports = {relay.port for relay in relays.values()}

        def relay_and_fake_sockets() -> list[tuple[int, int]]:
            # Not the test's own browser sockets (connected *to* a relay port).
            return [s for s in open_sockets({fake.port, *relay_ports}) if s[1] not in relay_ports]

        sockets_before = relay_and_fake_sockets()
        tasks_before = {kind: count_tasks(relay.task) for kind, relay in relays.items()}
        seen: Counter[str] = Counter()

        async def one_session(kind: str) -> None:
            url = f"ws://127.0.0.1:{relays[kind].port}/realtime"
            async with open_browser(url) as browser:
                if kind == "refused":
                    assert (await browser.next_message())["code"] == "upstream_unavailable"
                    assert await browser.closed() == 1011
                    return
                await browser.until(is_control("connected"))
                if kind == "bad_input":
                    await browser.ws.send_message(b"\x00")
                    assert (await browser.next_message())["code"] == "audio_frame_odd_length"
                await browser.send_text("soak")
                if kind in ("dropped", "fatal"):
                    assert (await browser.until(lambda m: m["type"] == "error"))["code"] == (
                        "upstream_error"
                    )
                    assert await browser.closed() == 1011
                else:
                    await browser.until(is_control("text_done"))
            seen[kind] += 1

        kinds = list(KINDS)
        with trio.fail_after(240):
            for wave in range(SESSIONS // WAVE):
                async with trio.open_nursery() as clients:
                    for i in range(WAVE):
                        clients.start_soon(one_session, kinds[(wave * WAVE + i) % len(kinds)])
            for relay in relays.values():
                await relay.sessions_ended()
        await trio.testing.wait_all_tasks_blocked()

        for kind, relay in relays.items():
            outcomes = {
                outcome: relay.metrics.registry.get_sample_value(
                    "trio_relay_sessions_total", {"outcome": outcome}
                )
                for outcome in {o for _, o in KINDS.values()}
            }
            expected = KINDS[kind][1]
            assert outcomes[expected] == SESSIONS // len(KINDS), (kind, outcomes)
            assert sum(v or 0 for v in outcomes.values()) == SESSIONS // len(KINDS)
            assert count_tasks(relay.task) == tasks_before[kind]
        # The relays' and the fake's sockets: only the listeners are left, as before.
        assert relay_and_fake_sockets() == sockets_before

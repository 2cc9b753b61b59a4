"""What the audio pump writes upstream for what was queued: events in order, audio queued back
to back (it gathered while the write before it was under way) as one append."""

from __future__ import annotations

import base64
import json

from trio_relay.upstream_writer import MERGED_AUDIO_BYTES, upstream_frames


def decoded(frames: list[str]) -> list[tuple[str, bytes | None]]:
    events = [json.loads(frame) for frame in frames]
    return [(e["type"], base64.b64decode(e["audio"]) if "audio" in e else None) for e in events]


def test_audio_queued_back_to_back_goes_as_one_append_between_events() -> None:
    create = '{"type":"response.create"}'
    frames = upstream_frames([b"\x01\x00", b"\x02\x00", create, b"\x03\x00", b"", b"\x04\x00"])
    assert decoded(frames) == [
        ("input_audio_buffer.append", b"\x01\x00\x02\x00"),
        ("response.create", None),
        ("input_audio_buffer.append", b"\x03\x00\x04\x00"),
    ]


def test_a_flush_alone_writes_no_frame() -> None:
    assert upstream_frames([b""]) == []


def test_gathered_audio_is_cut_into_appends_of_at_most_100_ms() -> None:
    frame = bytes(20 * 48)  # 20 ms
    appends = decoded(upstream_frames([frame] * 12 + [bytes(MERGED_AUDIO_BYTES * 3)]))
    assert [len(audio or b"") // 48 for _, audio in appends] == [100, 100, 40, 300]

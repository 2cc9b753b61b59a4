"""A deterministic fake of the OpenAI / Azure OpenAI Realtime API, for offline tests and demos."""

from .server import ConnectionRecord, FakeUpstream, FakeUpstreamOptions, open_fake_upstream

__all__ = ["ConnectionRecord", "FakeUpstream", "FakeUpstreamOptions", "open_fake_upstream"]

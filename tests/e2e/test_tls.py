"""TLS on the upstream hop, end to end: browser -> relay -> fake upstream over ``wss://`` with a
test CA (trustme). A good certificate carries text and audio turns; a certificate for another
host and one from a CA the relay does not trust both give the browser ``upstream_unavailable``,
and the operator's log names the TLS problem."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trustme
from harness import frames, is_control, open_browser, speech_like_pcm, start_relay

from fake_upstream import FakeUpstream, open_fake_upstream
from trio_relay.config import RelayConfig, UpstreamTarget, load_config, openai_target
from trio_relay.errors import UNAVAILABLE_MESSAGE, ConfigError

API_KEY = "sk-test-key"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "upstream-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


@pytest.fixture
async def tls_fake(ca: trustme.CA) -> AsyncIterator[FakeUpstream]:
    async with open_fake_upstream(ssl_context=server_context(ca, "127.0.0.1", "localhost")) as fake:
        yield fake


def target(fake: FakeUpstream, ca_file: str | None) -> UpstreamTarget:
    assert fake.url.startswith("wss://")
    return attrs.evolve(openai_target(f"{fake.url}/v1", "gpt-realtime", API_KEY), ca_file=ca_file)


def session_end_detail(caplog: pytest.LogCaptureFixture) -> str:
    ended = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    details = [e.get("detail") for e in ended if e.get("event") == "session ended"]
    assert len(details) == 1, details
    return str(details[0])


async def refused_at_tls(nursery: trio.Nursery, upstream: UpstreamTarget) -> dict[str, Any]:
    port = await start_relay(nursery, RelayConfig(upstream=upstream))
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        error = await browser.next_message()
        assert await browser.closed() == 1011
    return error


async def test_text_and_audio_turns_over_wss_with_a_trusted_certificate(
    nursery: trio.Nursery, tls_fake: FakeUpstream, ca_file: str
) -> None:
    port = await start_relay(nursery, RelayConfig(upstream=target(tls_fake, ca_file)))
    pcm = speech_like_pcm()
    async with open_browser(f"ws://127.0.0.1:{port}/realtime") as browser:
        await browser.until(is_control("connected"))
        await browser.send_text("What is Trio?")
        done = await browser.until(is_control("text_done"))
        assert any(m["type"] == "text_delta" and m["id"] == done["id"] for m in browser.texts)
        answered = len(browser.audio)
        assert answered > 0
        for frame in frames(pcm, 20 * 48):
            await browser.ws.send_message(frame)
        await browser.until(is_control("speech_started"))
        assert (await browser.until(lambda m: m["type"] == "transcription"))["text"]
        await browser.until(is_control("text_done"))
    record = tls_fake.connections[0]
    appended = [e for e in record.received if e["type"] == "input_audio_buffer.append"]
    assert appended and len(browser.audio) > answered  # the spoken turn was answered in audio


async def test_a_certificate_for_another_host_is_upstream_unavailable_naming_the_mismatch(
    nursery: trio.Nursery, ca: trustme.CA, ca_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with open_fake_upstream(ssl_context=server_context(ca, "upstream.example")) as fake:
        error = await refused_at_tls(nursery, target(fake, ca_file))
        assert fake.connections == []  # the relay sent no request, let alone the key
    assert error["code"] == "upstream_unavailable" and error["message"] == UNAVAILABLE_MESSAGE
    detail = session_end_detail(caplog)
    assert "certificate verify failed" in detail and "mismatch" in detail, detail
    assert "127.0.0.1" in detail and API_KEY not in detail


async def test_a_certificate_from_an_untrusted_ca_is_upstream_unavailable_naming_the_issuer(
    nursery: trio.Nursery, tls_fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    error = await refused_at_tls(nursery, target(tls_fake, None))  # the system store only
    assert error["code"] == "upstream_unavailable" and error["message"] == UNAVAILABLE_MESSAGE
    detail = session_end_detail(caplog)
    assert "certificate verify failed: unable to get local issuer certificate" in detail, detail
    assert "UPSTREAM_CA_FILE" in detail
    assert tls_fake.connections == []


async def test_a_plain_port_behind_a_wss_url_is_named_a_tls_handshake_failure(
    nursery: trio.Nursery, ca_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with open_fake_upstream() as plain:
        url = f"wss://127.0.0.1:{plain.port}/v1"
        wss = attrs.evolve(openai_target(url, "gpt-realtime", API_KEY), ca_file=ca_file)
        error = await refused_at_tls(nursery, wss)
    assert error["code"] == "upstream_unavailable"
    assert "TLS handshake" in session_end_detail(caplog)


def test_upstream_ca_file_is_read_at_start_up(ca_file: str, tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "k", "UPSTREAM_CA_FILE": ca_file}
    config = load_config(env)
    assert config.upstream is not None and config.upstream.ca_file == ca_file
    assert load_config({"OPENAI_API_KEY": "k"}).upstream.ca_file is None  # type: ignore[union-attr]
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("hello")
    for bad in (str(tmp_path / "missing.pem"), str(not_pem)):
        with pytest.raises(ConfigError, match="UPSTREAM_CA_FILE"):
            load_config({**env, "UPSTREAM_CA_FILE": bad})

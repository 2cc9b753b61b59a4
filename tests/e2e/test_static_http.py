"""The frontend over real HTTP: precompressed by the build's own script, chosen by
Accept-Encoding, cached by the rules, revalidated with ETags; and a build too big to hold stops
start-up.

The brotli bodies are decoded by Node's zlib (the standard library has no brotli), as the build
that made them needs Node anyway; a missing Node fails with what to install, as the browser
tests do.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import h11
import pytest
import trio
from harness import start_relay

from trio_relay.config import RelayConfig, openai_target

# These tests never open a session, so the upstream is never contacted.
CONFIG = RelayConfig(upstream=openai_target("http://127.0.0.1:9/v1", "m", "k"))
FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
REQUEST_TIMEOUT_S = 10.0

INDEX = b"<!doctype html><html><head><title>relay</title></head><body>" + b"<p>hi</p>" * 300
SCRIPT = b"export function hello() { return 'the relay'; }\n" * 200
ICON = os.urandom(4096)  # incompressible, and not a compressible type


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("these tests need Node 20+ (the frontend build's own precompression script)")
    return found


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build as Vite leaves it, then precompressed by frontend/scripts/precompress.mjs."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "index-BsB4sRM_.js").write_bytes(SCRIPT)
    (root / "assets" / "icon-Xy12Ab34.png").write_bytes(ICON)
    (root / "robots.txt").write_bytes(b"User-agent: *\n")
    subprocess.run(
        [node(), str(FRONTEND / "scripts" / "precompress.mjs"), str(root)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return root


@attrs.frozen
class Fetched:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        found = [value for key, value in self.headers if key == name]
        assert len(found) <= 1, f"{name} said twice"
        return found[0] if found else None


async def fetch(
    port: int, path: str, headers: tuple[tuple[str, str], ...] = (), method: str = "GET"
) -> Fetched:
    """One request on a connection of its own, parsed by an HTTP client that is not ours."""
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method=method, target=path, headers=[("host", "relay"), ("connection", "close"), *headers]
    )
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(client.send(request) + client.send(h11.EndOfMessage()))
        response: h11.Response | None = None
        body = b""
        with trio.fail_after(REQUEST_TIMEOUT_S):
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
    assert response is not None
    decoded = [(name.decode(), value.decode()) for name, value in response.headers]
    return Fetched(response.status_code, decoded, body)


async def unbrotli(body: bytes) -> bytes:
    script = (
        "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync(0)))"
    )
    done = await trio.run_process([node(), "-e", script], stdin=body, capture_stdout=True)
    return done.stdout


BROWSER = (("accept-encoding", "gzip, deflate, br, zstd"),)


async def test_a_browser_gets_brotli_and_a_gzip_client_gzip_both_the_same_file(
    nursery: trio.Nursery, build: Path
) -> None:
    port = await start_relay(nursery, attrs.evolve(CONFIG, static_dir=str(build)))
    for path, identity in (("/", INDEX), ("/assets/index-BsB4sRM_.js", SCRIPT)):
        br = await fetch(port, path, BROWSER)
        gz = await fetch(port, path, (("accept-encoding", "gzip"),))
        plain = await fetch(port, path)
        assert (br.status, gz.status, plain.status) == (200, 200, 200)
        assert br.header("content-encoding") == "br" and await unbrotli(br.body) == identity
        assert gz.header("content-encoding") == "gzip" and gzip.decompress(gz.body) == identity
        assert plain.header("content-encoding") is None and plain.body == identity
        assert len(br.body) < len(gz.body) < len(identity)
        for response in (br, gz, plain):
            assert response.header("content-length") == str(len(response.body))
            assert response.header("vary") == "accept-encoding"
            assert response.header("x-content-type-options") == "nosniff"


async def test_hashed_assets_are_immutable_and_index_html_revalidates(
    nursery: trio.Nursery, build: Path
) -> None:
    port = await start_relay(nursery, attrs.evolve(CONFIG, static_dir=str(build)))
    script = await fetch(port, "/assets/index-BsB4sRM_.js", BROWSER)
    icon = await fetch(port, "/assets/icon-Xy12Ab34.png", BROWSER)
    index = await fetch(port, "/", BROWSER)
    robots = await fetch(port, "/robots.txt", BROWSER)  # under 1 KB: left as it is
    assert script.header("cache-control") == "public, max-age=31536000, immutable"
    assert icon.header("cache-control") == "public, max-age=31536000, immutable"
    assert icon.header("content-encoding") is None and icon.header("vary") is None
    assert icon.body == ICON and icon.header("content-type") == "image/png"
    assert index.header("cache-control") == robots.header("cache-control") == "no-cache"
    assert index.header("content-type") == "text/html; charset=utf-8"
    assert robots.header("content-encoding") is None and robots.header("vary") == "accept-encoding"


async def test_revalidating_index_html_is_a_304_without_a_body_per_encoding(
    nursery: trio.Nursery, build: Path
) -> None:
    port = await start_relay(nursery, attrs.evolve(CONFIG, static_dir=str(build)))
    first = await fetch(port, "/", BROWSER)
    etag = first.header("etag")
    assert etag is not None and etag.startswith('"')
    again = await fetch(port, "/", (*BROWSER, ("if-none-match", etag)))
    assert again.status == 304 and again.body == b""
    assert again.header("etag") == etag and again.header("cache-control") == "no-cache"
    assert again.header("vary") == "accept-encoding"
    assert again.header("content-length") is None
    # The gzip body is another representation, with a tag of its own: this one is not it.
    other = await fetch(port, "/", (("accept-encoding", "gzip"), ("if-none-match", etag)))
    assert other.status == 200 and other.header("etag") not in (None, etag)


async def test_head_says_what_get_would_without_a_body(nursery: trio.Nursery, build: Path) -> None:
    port = await start_relay(nursery, attrs.evolve(CONFIG, static_dir=str(build)))
    got = await fetch(port, "/assets/index-BsB4sRM_.js", BROWSER)
    head = await fetch(port, "/assets/index-BsB4sRM_.js", BROWSER, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers == got.headers
    assert head.header("content-length") == str(len(got.body))


async def test_unknown_paths_variants_by_name_and_traversal_are_404(
    nursery: trio.Nursery, build: Path
) -> None:
    (build.parent / "secret.txt").write_text("nope")
    port = await start_relay(nursery, attrs.evolve(CONFIG, static_dir=str(build)))
    for path in ("/nope", "/assets/index-BsB4sRM_.js.br", "/../secret.txt", "/%2e%2e/secret.txt"):
        assert (await fetch(port, path, BROWSER)).status == 404, path
    refused = await fetch(port, "/", (("accept-encoding", "identity;q=0, zstd"),))
    assert refused.status == 406


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_build_over_static_max_bytes_stops_start_up_in_one_line(
    build: Path, tmp_path: Path, workers: str
) -> None:
    """Before anything serves: with workers, the supervisor refuses (rather than restarting
    workers that would each refuse)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "BACKEND"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "trio_relay", "--port", "0"],
        env={**env, "STATIC_DIR": str(build), "STATIC_MAX_BYTES": "1000", "WORKERS": workers},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "STATIC_MAX_BYTES" in line and str(build) in line

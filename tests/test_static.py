"""trio_relay.static: the frontend loaded once into memory, and answered from there by
Accept-Encoding, ETag and the cache rules. Pure: plain synchronous tests on a temporary build."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_relay import static as static_module
from trio_relay.errors import ConfigError
from trio_relay.http import Response
from trio_relay.static import (
    IMMUTABLE,
    REVALIDATE,
    StaticFiles,
    check_static_dir,
    load_static_files,
)

PLENTY = 1 << 20

# --- a build, loaded --------------------------------------------------------------------------

INDEX = b"<!doctype html><title>relay</title>" + b"<p>hello</p>" * 200
SCRIPT = b"console.log('the relay');\n" * 400
ICON = bytes(range(256)) * 8  # not a compressible type


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A frontend build as `npm run build` leaves it: files, and .gz/.br next to the big ones."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    for relative, body in {
        "index.html": INDEX,
        "assets/index-BsB4sRM_.js": SCRIPT,
        "assets/icon-Xy12Ab34.png": ICON,
        "robots.txt": b"User-agent: *\n",  # small: no variants
        "release.tar.gz": b"\x1f\x8b not a variant of anything",
    }.items():
        (root / relative).write_bytes(body)
    for relative, body in (("index.html", INDEX), ("assets/index-BsB4sRM_.js", SCRIPT)):
        (root / f"{relative}.gz").write_bytes(gzip.compress(body, 9))
        (root / f"{relative}.br").write_bytes(b"br:" + body[: len(body) // 10])  # smaller
    return root


def load(root: Path, max_bytes: int = PLENTY) -> StaticFiles:
    static = load_static_files(str(root), max_bytes=max_bytes)
    assert static is not None
    return static


def get(static: StaticFiles, path: str, **headers: str) -> Response:
    encoded = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return static.response(path, encoded)


def header(response: Response, name: str) -> str | None:
    found = [value for key, value in response.head(keep_alive=True) if key == name]
    assert len(found) <= 1, f"{name} said twice"
    return found[0] if found else None


def test_a_browser_gets_brotli_with_its_length_and_vary(build: Path) -> None:
    response = get(load(build), "/assets/index-BsB4sRM_.js", accept_encoding="gzip, deflate, br")
    assert response.status == 200
    assert response.body == (build / "assets/index-BsB4sRM_.js.br").read_bytes()
    assert header(response, "content-encoding") == "br"
    assert header(response, "content-length") == str(len(response.body))
    assert header(response, "content-type") == "text/javascript; charset=utf-8"
    assert header(response, "vary") == "accept-encoding"
    assert header(response, "x-content-type-options") == "nosniff"


def test_gzip_when_that_is_what_the_client_takes(build: Path) -> None:
    response = get(load(build), "/", accept_encoding="gzip")
    assert header(response, "content-encoding") == "gzip"
    assert gzip.decompress(response.body) == INDEX
    assert header(response, "content-length") == str(len(response.body))


def test_a_client_without_accept_encoding_gets_the_file_itself(build: Path) -> None:
    response = get(load(build), "/index.html")
    assert response.body == INDEX and header(response, "content-encoding") is None
    assert header(response, "content-length") == str(len(INDEX))
    assert header(response, "vary") == "accept-encoding"  # a cache must not give it the gzip


def test_hashed_assets_are_immutable_and_everything_else_revalidates(build: Path) -> None:
    static = load(build)
    assert header(get(static, "/assets/index-BsB4sRM_.js"), "cache-control") == IMMUTABLE
    assert header(get(static, "/assets/icon-Xy12Ab34.png"), "cache-control") == IMMUTABLE
    assert header(get(static, "/"), "cache-control") == REVALIDATE == "no-cache"
    assert header(get(static, "/robots.txt"), "cache-control") == "no-cache"
    assert IMMUTABLE == "public, max-age=31536000, immutable"


def test_each_encoding_has_its_own_strong_etag(build: Path) -> None:
    static = load(build)
    tags = [header(get(static, "/", accept_encoding=c), "etag") for c in ("br", "gzip", "x")]
    assert len(set(tags)) == 3
    assert all(tag is not None and tag.startswith('"') and tag.endswith('"') for tag in tags)
    assert tags == [header(get(static, "/", accept_encoding=c), "etag") for c in ("br", "gzip", "")]


def test_revalidating_with_the_etag_of_the_encoding_served_is_a_304_without_a_body(
    build: Path,
) -> None:
    static = load(build)
    etag = header(get(static, "/", accept_encoding="br"), "etag")
    assert etag is not None
    revalidated = get(static, "/", accept_encoding="br", if_none_match=etag)
    assert revalidated.status == 304 and revalidated.body == b""
    assert header(revalidated, "etag") == etag
    assert header(revalidated, "cache-control") == "no-cache"
    assert header(revalidated, "vary") == "accept-encoding"
    # It describes the representation the client holds: no length or type of its own.
    assert header(revalidated, "content-length") is None
    assert header(revalidated, "content-type") is None
    assert get(static, "/", accept_encoding="br", if_none_match=f'"x", W/{etag}').status == 304


def test_the_etag_of_another_encoding_is_not_a_match(build: Path) -> None:
    static = load(build)
    br_etag = header(get(static, "/", accept_encoding="br"), "etag")
    assert br_etag is not None
    response = get(static, "/", accept_encoding="gzip", if_none_match=br_etag)
    assert response.status == 200 and header(response, "content-encoding") == "gzip"


def test_refusing_every_encoding_the_file_has_is_406(build: Path) -> None:
    response = get(load(build), "/", accept_encoding="identity;q=0, deflate")
    assert response.status == 406 and b"br, gzip, identity" in response.body
    assert header(response, "vary") == "accept-encoding"


def test_vary_is_said_for_every_compressible_type_and_only_those(build: Path) -> None:
    static = load(build)
    assert header(get(static, "/robots.txt"), "vary") == "accept-encoding"  # no variants yet
    icon = get(static, "/assets/icon-Xy12Ab34.png", accept_encoding="br, gzip")
    assert header(icon, "vary") is None and header(icon, "content-encoding") is None
    assert icon.body == ICON and icon.content_type == "image/png"


def test_a_variant_is_served_only_as_its_files_encoding(build: Path) -> None:
    static = load(build)
    assert get(static, "/assets/index-BsB4sRM_.js.gz").status == 404
    assert get(static, "/index.html.br").status == 404
    orphan = get(static, "/release.tar.gz", accept_encoding="gzip")  # a file of its own
    assert orphan.status == 200 and header(orphan, "content-encoding") is None
    assert orphan.content_type == "application/octet-stream"


def test_a_variant_no_smaller_than_its_file_is_not_used(build: Path) -> None:
    (build / "robots.txt.gz").write_bytes(gzip.compress(b"User-agent: *\n"))  # bigger
    response = get(load(build), "/robots.txt", accept_encoding="gzip")
    assert header(response, "content-encoding") is None and response.body == b"User-agent: *\n"


def test_serving_never_reads_the_disk(build: Path) -> None:
    static = load(build)
    shutil.rmtree(build)
    assert get(static, "/", accept_encoding="br").status == 200
    assert get(static, "/assets/index-BsB4sRM_.js").body == SCRIPT


def test_what_is_held_is_every_file_and_every_variant_used(build: Path) -> None:
    static = load(build)
    on_disk = sum(path.stat().st_size for path in build.rglob("*") if path.is_file())
    assert static.bytes_held == on_disk
    assert set(static.files) == {
        "index.html",
        "assets/index-BsB4sRM_.js",
        "assets/icon-Xy12Ab34.png",
        "robots.txt",
        "release.tar.gz",
    }


# --- only the directory, only regular files ---------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/../../secret.txt",
        "/..%2fsecret.txt",
        "/%00",
        "/index.html%00.js",
        "/" + "a" * 5000,
        "/%ff%fe",
        "/assets",
        "/assets/",
        "/nope.js",
    ],
)
def test_paths_that_name_no_file_of_the_build_are_404(build: Path, path: str) -> None:
    (build.parent / "secret.txt").write_text("nope")
    assert get(load(build), path).status == 404


def test_dot_segments_and_doubled_slashes_are_resolved_inside_the_build(build: Path) -> None:
    static = load(build)
    for path in (
        "/assets/../index.html",
        "//index.html",
        "/./index.html",
        "/assets//..//index.html",
    ):
        assert get(static, path).body == INDEX, path


def test_links_out_of_the_directory_are_not_served_and_links_inside_are(build: Path) -> None:
    outside = build.parent / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("nope")
    (build / "secret.txt").symlink_to(outside / "secret.txt")
    (build / "linked-dir").symlink_to(outside, target_is_directory=True)
    (build / "assets" / "inside-loop").symlink_to(build, target_is_directory=True)
    (build / "home.html").symlink_to(build / "index.html")
    (build / "dangling.js").symlink_to(build / "gone.js")
    static = load(build)
    assert get(static, "/secret.txt").status == 404
    assert get(static, "/linked-dir/secret.txt").status == 404
    assert get(static, "/assets/inside-loop/index.html").status == 404  # not entered
    assert get(static, "/dangling.js").status == 404
    assert get(static, "/home.html").body == INDEX


def test_a_fifo_in_the_directory_is_not_read(build: Path) -> None:
    os.mkfifo(build / "pipe.js")  # reading it would block start-up forever
    assert get(load(build), "/pipe.js").status == 404


def test_no_directory_or_no_index_html_serves_nothing(tmp_path: Path) -> None:
    assert load_static_files(None, max_bytes=PLENTY) is None
    (tmp_path / "app.js").write_text("x")
    assert load_static_files(str(tmp_path), max_bytes=PLENTY) is None
    assert load_static_files(str(tmp_path / "missing"), max_bytes=PLENTY) is None


def test_any_request_is_answered_without_raising(build: Path) -> None:
    static = load(build)

    @given(
        st.text(max_size=60).map(lambda s: "/" + s),
        st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=4),
    )
    def answered(path: str, headers: list[tuple[bytes, bytes]]) -> None:
        assert static.response(path, headers).status in (200, 304, 404, 406)

    answered()


# --- the size cap -----------------------------------------------------------------------------


def test_a_build_over_static_max_bytes_stops_start_up_with_one_line_naming_it(
    build: Path,
) -> None:
    held = load(build).bytes_held
    assert load(build, max_bytes=held).bytes_held == held  # at the cap: fine
    for refuse in (check_static_dir, load_static_files):
        with pytest.raises(ConfigError) as caught:
            refuse(str(build), max_bytes=held - 1)
        assert caught.value.variable == "STATIC_MAX_BYTES"
        assert str(held) in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_that_grew_since_it_was_measured_is_still_capped(
    build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = load(build).bytes_held
    listed = static_module._regular_files

    def listed_then_grown(root: Path) -> dict[str, tuple[Path, int]]:
        found = listed(root)
        (build / "robots.txt").write_bytes(b"x" * 100)
        return found

    monkeypatch.setattr(static_module, "_regular_files", listed_then_grown)
    with pytest.raises(ConfigError, match="STATIC_MAX_BYTES"):
        load_static_files(str(build), max_bytes=held)

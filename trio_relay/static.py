"""The built frontend, held in memory: read once at start-up, then served by dictionary lookups.

:func:`load_static_files` reads every regular file under ``STATIC_DIR`` (with the ``NAME.br`` and
``NAME.gz`` the frontend build writes next to each compressible file) before the relay serves:
plain blocking file I/O, which the server runs once, in a thread. :meth:`StaticFiles.response`
then answers from memory and never touches the disk: a request costs no thread, and a disk that
stalls cannot stall the event loop. What it holds is bounded by ``STATIC_MAX_BYTES``: over it,
start-up stops with one line (:class:`~trio_relay.errors.ConfigError`). :func:`check_static_dir`
makes that check without reading, for the command line to refuse before anything starts.

Only what is inside the directory is served: links out of it are left out when loading, and a
request can only name a key of the table, so no path a client sends reaches the file system.
Variants are trusted to be their file's compressed bytes (the build writes them together); one
that is not smaller than its file is not used. Caching: Vite's ``assets/`` holds only files with
a content hash in their names, so they are cached for a year as immutable; anything else
(``index.html`` above all) is revalidated with a strong ETag per encoding.
No sockets, no trio here.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote

import attrs

from .errors import ConfigError
from .http import NOT_FOUND, Response, text
from .negotiation import IDENTITY, choose_encoding, etag_matches, header_value

# Suffix of a precompressed variant -> its content coding.
VARIANT_SUFFIXES = {".br": "br", ".gz": "gzip"}
# The server's preference when the client's q-values tie: the smallest first.
PREFERENCE = ("br", "gzip", IDENTITY)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASHED_ASSETS = "assets/"
# Besides text/*: the types worth compressing (the build's list, frontend/scripts/precompress.mjs).
COMPRESSIBLE_TYPES = {
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "application/wasm",
    "application/xml",
    "image/svg+xml",
    "image/vnd.microsoft.icon",
    "image/x-icon",
    "font/ttf",
    "font/otf",
}

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("application/json", ".map")  # source maps


@attrs.frozen
class Representation:
    """A file in one content coding, with the strong ETag of exactly these bytes."""

    encoding: str
    body: bytes = attrs.field(repr=False)
    etag: str


@attrs.frozen
class StaticFile:
    content_type: str
    cache_control: str
    # By content coding, in PREFERENCE order; identity is always there.
    representations: Mapping[str, Representation]
    # Whether its response depends on Accept-Encoding (said with Vary): any file of a type the
    # build compresses says so, whether or not it was big enough to get variants this time.
    varies: bool


@attrs.frozen
class StaticFiles:
    """Everything under ``root`` that is served, keyed by the path relative to it (``a/b.js``)."""

    root: Path
    files: Mapping[str, StaticFile] = attrs.field(repr=False)
    bytes_held: int

    def response(self, path: str, headers: Iterable[tuple[bytes, bytes]]) -> Response:
        """The answer to a GET (or HEAD) of ``path`` (the URL path as requested, still
        percent-encoded) from a client that sent ``headers``. Never raises on what it is sent."""
        file = self.files.get(file_key(path))
        if file is None:
            return NOT_FOUND
        headers = list(headers)
        vary = (("vary", "accept-encoding"),) if file.varies else ()
        encoding = choose_encoding(header_value(headers, b"accept-encoding"), file.representations)
        if encoding is None:
            offered = ", ".join(file.representations)
            return text(406, f"this file is available as {offered} only", headers=vary)
        chosen = file.representations[encoding]
        caching = (("cache-control", file.cache_control), ("etag", chosen.etag), *vary)
        if etag_matches(header_value(headers, b"if-none-match"), chosen.etag):
            return Response(304, headers=caching)
        coding = () if encoding == IDENTITY else (("content-encoding", encoding),)
        return Response(200, chosen.body, file.content_type, headers=(*coding, *caching))


def file_key(path: str) -> str:
    """The table key a request path names: decoded, dot segments resolved, ``/`` the index."""
    relative = unquote(path).lstrip("/")
    return posixpath.normpath(relative) if relative else "index.html"


# --- loading, once --------------------------------------------------------------------------


@attrs.frozen
class _Planned:
    """A file to load: where it is, its size, and its variants worth having (coding -> path)."""

    path: Path
    size: int
    variants: Mapping[str, tuple[Path, int]]


def check_static_dir(directory: str | None, *, max_bytes: int) -> None:
    """Raise :class:`ConfigError` when what :func:`load_static_files` would hold is over
    ``max_bytes``, judged by the files' sizes (nothing is read)."""
    _plan(directory, max_bytes)


def load_static_files(directory: str | None, *, max_bytes: int) -> StaticFiles | None:
    """Everything under ``directory`` that is served, read into memory; None when there is no
    directory or it holds no build (no ``index.html``). Blocking: run it once, before serving.
    Raises :class:`ConfigError` over ``max_bytes`` or for a file that cannot be read."""
    planned = _plan(directory, max_bytes)
    if planned is None:
        return None
    root, plan = planned
    held = 0

    def read(path: Path, relative: str) -> bytes:
        nonlocal held
        try:
            with path.open("rb") as file:
                body = file.read(max_bytes - held + 1)  # a file that grew since: no more
        except OSError as exc:
            raise ConfigError("STATIC_DIR", f"cannot read {relative}: {exc.strerror}") from None
        held += len(body)
        if held > max_bytes:
            raise _too_big(root, held, max_bytes)
        return body

    files: dict[str, StaticFile] = {}
    for relative, planned_file in plan.items():
        identity = read(planned_file.path, relative)
        representations: dict[str, Representation] = {}
        for coding in PREFERENCE:
            if coding == IDENTITY:
                representations[coding] = _representation(coding, identity)
            elif coding in planned_file.variants:
                variant_path, _ = planned_file.variants[coding]
                body = read(variant_path, relative + variant_path.suffix)
                if len(body) < len(identity):
                    representations[coding] = _representation(coding, body)
        content_type = _content_type(relative)
        files[relative] = StaticFile(
            content_type=content_type,
            cache_control=IMMUTABLE if relative.startswith(HASHED_ASSETS) else REVALIDATE,
            representations=representations,
            varies=len(representations) > 1 or _compressible(content_type),
        )
    return StaticFiles(root, files, held)


def _plan(directory: str | None, max_bytes: int) -> tuple[Path, dict[str, _Planned]] | None:
    if directory is None:
        return None
    root = Path(directory).resolve()
    if not (root / "index.html").is_file():
        return None
    found = _regular_files(root)
    plan: dict[str, _Planned] = {}
    for relative, (path, size) in found.items():
        stem, suffix = posixpath.splitext(relative)
        if suffix in VARIANT_SUFFIXES and stem in found:
            continue  # a variant of its file, not a file of its own
        variants = {
            coding: found[relative + suffix]
            for suffix, coding in VARIANT_SUFFIXES.items()
            if relative + suffix in found and found[relative + suffix][1] < size
        }
        plan[relative] = _Planned(path, size, variants)
    total = sum(p.size + sum(size for _, size in p.variants.values()) for p in plan.values())
    if total > max_bytes:
        raise _too_big(root, total, max_bytes)
    return root, plan


def _regular_files(root: Path) -> dict[str, tuple[Path, int]]:
    """Relative path -> (path, size) of every regular file under ``root``, links included when
    they lead to one inside it. Linked directories are not entered (a link there is a loop or
    the way out)."""

    def unreadable(exc: OSError) -> None:
        raise ConfigError("STATIC_DIR", f"cannot list {exc.filename}: {exc.strerror}")

    found: dict[str, tuple[Path, int]] = {}
    for directory, _, names in os.walk(root, onerror=unreadable):
        for name in names:
            path = Path(directory, name)
            try:
                target = path.resolve(strict=True)
                status = target.stat()
            except (OSError, RuntimeError):  # a dangling or looping link: nothing to serve
                continue
            if target.is_relative_to(root) and stat.S_ISREG(status.st_mode):
                found[path.relative_to(root).as_posix()] = (target, status.st_size)
    return found


def _representation(coding: str, body: bytes) -> Representation:
    return Representation(coding, body, f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"')


def _content_type(relative: str) -> str:
    guessed, wrapped = mimetypes.guess_type(relative, strict=False)
    if guessed is None or wrapped is not None:  # unknown, or an archive (x.tar.gz): bytes
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "application/json"):
        return guessed + "; charset=utf-8"
    return guessed


def _compressible(content_type: str) -> bool:
    media_type = content_type.partition(";")[0]
    return media_type.startswith("text/") or media_type in COMPRESSIBLE_TYPES


def _too_big(root: Path, size: int, max_bytes: int) -> ConfigError:
    return ConfigError(
        "STATIC_MAX_BYTES",
        f"the frontend in {root} is {size} bytes with its .br/.gz files, over the {max_bytes} "
        "the relay may hold in memory: raise STATIC_MAX_BYTES or serve fewer files",
    )

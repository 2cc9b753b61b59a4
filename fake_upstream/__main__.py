"""``fake-upstream``: run the fake Realtime server standalone, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
from collections.abc import Sequence

import trio

from . import asyncio_shell
from .options import FakeUpstreamOptions
from .replay import Replay, ReplayError, load_replay
from .server import open_fake_upstream
from .timing import TimingOptions, Variant


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fake-upstream",
        description="A deterministic fake of the OpenAI / Azure OpenAI Realtime API "
        "(GA and beta dialects; scripted faults by model name, see fake_upstream/faults.py).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (8765)")
    parser.add_argument("--api-key", help="require exactly this key (default: any non-empty)")
    parser.add_argument(
        "--turn-trigger-bytes",
        type=int,
        help="benchmark mode: every N bytes of input audio is one turn (no VAD)",
    )
    parser.add_argument(
        "--reply-audio-ms", type=int, default=1000, help="benchmark mode: reply length (1000)"
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="answer every connection from a recording (trio-relay --record) instead of the "
        "scripted engine",
    )
    parser.add_argument(
        "--variant",
        type=Variant,
        choices=list(Variant),
        help="orders and timings for every connection whose model names none "
        "(see fake_upstream/timing.py)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the variant's seed (0)")
    parser.add_argument(
        "--spoken-text",
        action="append",
        default=[],
        metavar="TEXT",
        help="what the user says in the next spoken turn of each connection (repeat for later "
        "turns): its transcript, and read for tool triggers like a typed text "
        "(see fake_upstream/triggers.py)",
    )
    parser.add_argument(
        "--certfile", help="serve wss:// with this certificate chain (PEM; needs --keyfile)"
    )
    parser.add_argument("--keyfile", help="the private key of --certfile (PEM)")
    parser.add_argument(
        "--shell",
        choices=("trio", "asyncio"),
        default="trio",
        help="the server the engine runs on: websockets' Trio server (trio), or its asyncio "
        "server on uvloop (asyncio: lighter, for the benchmark; the same answers)",
    )
    args = parser.parse_args(argv)
    if (args.certfile is None) != (args.keyfile is None):
        parser.error("--certfile and --keyfile go together")
    return args


def read_replay(path: str) -> Replay:
    try:
        with open(path, encoding="utf-8") as file:
            return load_replay(file.read())
    except OSError as exc:
        raise SystemExit(f"fake-upstream: cannot read --replay {path!r}: {exc.strerror}") from None
    except ReplayError as exc:
        raise SystemExit(f"fake-upstream: --replay {path!r}: {exc}") from None


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def options_from(args: argparse.Namespace) -> FakeUpstreamOptions:
    return FakeUpstreamOptions(
        api_key=args.api_key,
        turn_trigger_bytes=args.turn_trigger_bytes,
        reply_audio_ms=args.reply_audio_ms,
        timing=TimingOptions(args.variant, args.seed),
        record_events=False,  # a long-running process keeps no log of events
        replay=read_replay(args.replay) if args.replay else None,
        spoken_texts=tuple(args.spoken_text),
    )


async def serve(
    args: argparse.Namespace, options: FakeUpstreamOptions, context: ssl.SSLContext | None
) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_fake_upstream(args.host, args.port, options, ssl_context=context) as fake:
            print(f"fake upstream listening on {fake.url}", flush=True)
            async for _ in signals:
                return


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        context = None if args.certfile is None else server_context(args.certfile, args.keyfile)
    except (OSError, ssl.SSLError) as exc:
        print(f"fake-upstream: cannot load --certfile / --keyfile: {exc}", file=sys.stderr)
        return 2
    options = options_from(args)
    if args.shell == "asyncio":
        asyncio_shell.run(options, args.host, args.port, context)
    else:
        trio.run(serve, args, options, context)
    return 0


if __name__ == "__main__":
    sys.exit(main())

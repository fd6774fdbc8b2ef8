"""``python -m workers --client=ID``: one client's isolated worker process."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import re
import sys
import time
from pathlib import Path

from loguru import logger

from wamc.config import load_settings
from wamc.log import setup_worker_logging
from wamc.wire.launch import LaunchOptions, decode_launch
from wamc.wire.process import EXIT_ROOT_REFUSED, ROOT_REFUSED, UMASK, is_root
from workers import fence, stdio

# The first character a letter or digit: an id is never mistaken for an option.
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--client", required=True)
    parser.add_argument(
        "--grace", type=float, default=float(os.environ.get("WAMC_WORKER_GRACE", 20))
    )
    args = parser.parse_args(argv)
    if not CLIENT_ID.fullmatch(args.client):
        print(f"invalid client id {args.client!r}", file=sys.stderr)
        return 2
    settings = load_settings()
    os.umask(UMASK)
    stdio.init(settings.logs_dir / "clients" / f"{args.client}.stderr")
    if is_root() and not settings.allow_root:
        print(f"wamc worker {args.client}: {ROOT_REFUSED}", file=sys.stderr, flush=True)
        return EXIT_ROOT_REFUSED
    setup_worker_logging(settings, args.client)
    if is_root():
        logger.bind(client=args.client).warning(
            "running as root (WAMC_ALLOW_ROOT=1): Chromium runs without its sandbox"
        )
    from workers.runtime import Worker  # after logging is set up

    lock = profile_lock(settings.client_dir(args.client) / "worker.lock", timeout=30.0)
    if lock is None:
        logger.bind(client=args.client).error("another worker holds this client's profile: exiting")
        return 4
    try:
        secret, launch = read_secret()
        return asyncio.run(Worker(settings, args.client, args.grace, secret, launch).run())
    except Exception:
        logger.bind(client=args.client).exception("worker crashed")
        return 1


def read_secret() -> tuple[str, LaunchOptions]:
    """The secret the daemon wrote on our stdin at spawn (proven to it when connecting), then the
    browser's launch options (they may hold a proxy password: never on a command line); stdin
    is then closed, so nothing we start inherits the pipe."""
    secret, launch = "", b""
    if sys.stdin is not None and not sys.stdin.isatty():
        stdin = sys.stdin.buffer  # bytes, one buffer for both lines
        secret = stdin.readline(4096).decode(errors="replace").strip()
        launch = stdin.readline(1 << 16)
    fence.keep_stdin()  # a host agent's pipe (Ray backend): its close stops this worker
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return secret, decode_launch(launch)


def profile_lock(path: Path, timeout: float) -> int | None:
    """Never two browsers on one profile: an flock held for the worker's lifetime."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd  # released by the kernel when this process dies, however it dies
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.2)  # a previous worker is still closing its browser


if __name__ == "__main__":
    sys.exit(main())

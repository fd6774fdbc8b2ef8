"""``python -m workers --client ID``: one client's isolated worker process."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys

from loguru import logger

from wamc.config import load_settings
from wamc.log import setup_worker_logging

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--client", required=True)
    parser.add_argument(
        "--grace", type=float, default=float(os.environ.get("WAMC_WORKER_GRACE", 20))
    )
    args = parser.parse_args(argv)
    if not CLIENT_ID.match(args.client):
        print(f"invalid client id {args.client!r}", file=sys.stderr)
        return 2
    settings = load_settings()
    setup_worker_logging(settings, args.client)
    from workers.runtime import Worker  # after logging is set up

    try:
        return asyncio.run(Worker(settings, args.client, args.grace).run())
    except Exception:
        logger.bind(client=args.client).exception("worker crashed")
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Analytics endpoints over 100 clients × 30 days of hourly counters (72 000 rows).

A real daemon (no worker runs: the clients are stopped) answers GET /api/stats and
GET /api/clients/{id}/stats per day and per hour; each is timed end to end over HTTP on
loopback (p50 / p95 of --requests calls after a warm-up).

.venv/bin/python -m bench.bench_stats [--clients 100 --days 30 --requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.analytics_data import seed  # noqa: E402
from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import Daemon, running_simulator  # noqa: E402

TITLE = "Analytics: /api/stats over 100 clients × 30 days (bench/bench_stats.py)"


async def timed(d: Daemon, path: str, requests: int) -> tuple[float, float, int]:
    """p50 and p95 in ms, and the answer's size in bytes."""
    assert d.http is not None
    for _ in range(5):  # warm-up
        async with d.http.get(d.base + path) as r:
            assert r.status == 200, await r.text()
            size = len(await r.read())
    took = []
    for _ in range(requests):
        t0 = time.perf_counter()
        async with d.http.get(d.base + path) as r:
            await r.read()
        took.append((time.perf_counter() - t0) * 1000)
    return percentile(took, 50), percentile(took, 95), size


async def main(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="wamc-bench-stats-")) / "home"
    try:
        ids = await seed(home, args.clients, args.days)
        async with running_simulator() as sim:
            d = Daemon(home, sim)
            await d.start()
            try:
                one = ids[len(ids) // 2]
                paths = [
                    f"/api/stats?days={args.days}&bucket=day",
                    f"/api/stats?days={args.days}&bucket=hour",
                    f"/api/clients/{one}/stats?days={args.days}&bucket=day",
                    f"/api/clients/{one}/stats?days={args.days}&bucket=hour",
                ]
                rows = []
                for path in paths:
                    p50, p95, size = await timed(d, path, args.requests)
                    rows.append((f"`GET {path}`", f"{p50:.1f}", f"{p95:.1f}", f"{size / 1024:.0f}"))
                    print(f"{path}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, {size} bytes")
            finally:
                await d.close()
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)
    body = (
        f"{args.clients} clients × {args.days} days of hourly rows "
        f"({args.clients * args.days * 24:,} rows), {args.requests} calls each over HTTP on "
        "loopback, one at a time:\n\n" + table(("call", "p50 ms", "p95 ms", "answer KiB"), rows)
    )
    if args.write:
        write_section(TITLE, body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-write", dest="write", action="store_false")
    asyncio.run(main(parser.parse_args()))

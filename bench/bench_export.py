"""Export throughput and history page latency over a large stored history (issue 11).

A real daemon; its store is seeded while it is stopped (a bulk insert of N messages over C chats
into its SQLite file), then started again:
1. Export throughput: GET /api/clients/{id}/export read to the end (JSON Lines, and the tar
   form), messages per second; best of 3.
2. History page: GET /api/clients/{id}/chats/{chat}/messages?limit=50 at random depths (the
   cursor of a random stored message), p50/p99 over 300 requests; target p50 < 20 ms.

    .venv/bin/python -m bench.bench_export --messages 100000 --chats 50
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import Daemon, running_simulator  # noqa: E402
from wamc.validation import encode_cursor  # noqa: E402

CLIENT = "bench"


def seed(db: Path, messages: int, chats: int) -> list[tuple[str, int, int]]:
    """Insert the client and its messages; (chat, timestamp, rowid) of every 100th message."""
    start = int(time.time()) - messages
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO clients (id, created_at, desired) VALUES (?, ?, 'stopped')",
            (CLIENT, "2026-01-01T00:00:00.000Z"),
        )
        rows = []
        for i in range(messages):
            chat = f"55119{i % chats:08d}@c.us"
            rows.append(
                (
                    CLIENT,
                    f"false_{chat}_B{i:09d}",
                    chat,
                    0,
                    chat,
                    "5511900000001@c.us",
                    f"message number {i} " + "x" * (i % 80),
                    "chat",
                    start + i,
                    2,
                    f"B{i:09d}",
                )
            )
        conn.executemany(
            "INSERT INTO messages (client, id, chat_id, from_me, sender, recipient, body, type,"
            " timestamp, ack, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return [
            (r[0], int(r[1]), int(r[2]))
            for r in conn.execute(
                "SELECT chat_id, timestamp, rowid FROM messages WHERE client=? AND rowid % 100 = 0",
                (CLIENT,),
            )
        ]


async def export_rate(d: Daemon, query: str) -> tuple[float, int, int]:
    """(messages per second, messages, bytes) of one export read to the end."""
    url = f"{d.base}/api/clients/{CLIENT}/export{query}"
    started = time.perf_counter()
    size = 0
    async with d.http.get(url) as r:  # type: ignore[union-attr]
        assert r.status == 200, await r.text()
        count = int(r.headers["X-Wamc-Export-Count"])
        newlines = 0
        async for chunk in r.content.iter_any():
            size += len(chunk)
            newlines += chunk.count(b"\n")
    took = time.perf_counter() - started
    if not query:
        assert newlines == count, (newlines, count)
    return count / took, count, size


async def history_page(d: Daemon, points: list[tuple[str, int, int]], n: int) -> list[float]:
    rng = random.Random(7)
    samples = []
    for _ in range(n):
        chat, ts, rowid = rng.choice(points)
        path = f"/api/clients/{CLIENT}/chats/{chat}/messages?limit=50"
        if rng.random() < 0.8:  # most pages somewhere deep in the history
            path += f"&before={encode_cursor((ts, rowid))}"
        started = time.perf_counter()
        code, body = await d.call("GET", path)
        samples.append((time.perf_counter() - started) * 1000)
        assert code == 200 and body["messages"], body
    return samples


async def main(messages: int, chats: int, pages: int) -> None:
    with tempfile.TemporaryDirectory(prefix="wamc-bench-export-") as tmp:
        async with running_simulator() as sim:
            d = Daemon(Path(tmp) / "home", sim)
            d.home.mkdir()
            try:
                await d.start()  # creates the store
                await d.stop()
                t = time.perf_counter()
                points = seed(d.home / "sessions" / ".wamc" / "wamc.db", messages, chats)
                print(f"seeded {messages} messages in {time.perf_counter() - t:.1f} s")
                await d.start()
                jsonl = [await export_rate(d, "") for _ in range(3)]
                tar = [await export_rate(d, "?media=1") for _ in range(3)]
                await history_page(d, points, 20)  # warm-up
                samples = await history_page(d, points, pages)
            finally:
                await d.close()
    best, best_tar = max(jsonl), max(tar)
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    rows = [
        ["export, JSON Lines", f"{best[1]:,}", f"{best[2] / 2**20:.1f} MiB", f"{best[0]:,.0f}"],
        [
            "export, tar (`media=1`)",
            f"{best_tar[1]:,}",
            f"{best_tar[2] / 2**20:.1f} MiB",
            f"{best_tar[0]:,.0f}",
        ],
    ]
    body = (
        f"A real daemon over {messages:,} stored messages in {chats} chats (seeded into its "
        "store while stopped). Export read to the end over loopback, best of 3:\n\n"
        + table(["form", "messages", "size", "messages/s"], rows)
        + f"\n\nHistory page (`GET …/chats/{{chatId}}/messages?limit=50`, 80 % at a random depth "
        f"through `before`), {pages} requests: **p50 {p50:.1f} ms**, p99 {p99:.1f} ms "
        f"(target p50 < 20 ms: {'met' if p50 < 20 else 'NOT met'})."
    )
    print(body)
    write_section("Export and history (bench/bench_export.py)", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.chats, args.pages))

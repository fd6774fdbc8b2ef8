"""Media: send and download latency through real processes (issue 11).

Two clients on one daemon, linked to two simulated phones. Client ``acme`` sends documents of
1 MB and 10 MB (multipart) to ``shop``: we time POST send-media → 201 (the file streamed to the
daemon's disk, then over ZeroMQ to the worker in 1 MiB chunk frames, served to the page by a
Playwright route, uploaded to the simulator's media server, acknowledged). ``shop`` then
downloads each through the API: the first request goes through its worker and the page
(``downloadMedia``, handed out in 1 MiB slices, each sent on to the daemon as a chunk frame), the
second is a cache hit. The worker tree's peak PSS (worker + Chromium, from status) is sampled
during the sends, with one 50 MB document at the end. Send pacing is off (WAMC_SEND_INTERVAL=0).

    .venv/bin/python -m bench.bench_media --runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import Daemon, SimControl, running_simulator, wait_for  # noqa: E402
from wamc.simulator.media import pdf  # noqa: E402

PHONE_A, PHONE_B = "5511900008001", "5511900008002"
MB = 1024 * 1024


async def connect(d: Daemon, sim: SimControl, client: str, phone: str) -> None:
    code, body = await d.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body
    await sim.scan(await d.qr(client), phone)
    await d.wait_state(client, "connected")


async def tree_pss(d: Daemon, client: str) -> int:
    """The client's whole tree (worker + Chromium), PSS bytes, as status reports it."""
    return int((await d.status(client)).get("memory_bytes") or 0)


async def send(d: Daemon, path: Path) -> tuple[float, str]:
    with path.open("rb") as fh:
        form = aiohttp.FormData()
        form.add_field("to", PHONE_B)
        form.add_field("file", fh, filename=path.name, content_type="application/pdf")
        start = time.perf_counter()
        code, body = await d.call(
            "POST", "/api/clients/acme/send-media", data=form, timeout=aiohttp.ClientTimeout(300)
        )
    assert code == 201, body
    return (time.perf_counter() - start) * 1000, body["id"]


async def download(d: Daemon, sent_id: str) -> tuple[float, float]:
    """(first fetch ms, cached ms) of the message ``sent_id`` as ``shop`` received it."""
    key = sent_id.rsplit("_", 1)[-1]

    async def url() -> str | None:
        code, body = await d.call("GET", f"/api/clients/shop/chats/{PHONE_A}@c.us/messages")
        found = [m for m in body.get("messages", []) if m["id"].endswith(key)]
        return found[0]["media_url"] if code == 200 and found else None

    path = await wait_for(url, 60, what="the received document")
    times = []
    for _ in range(2):
        start = time.perf_counter()
        code, data = await d.call("GET", path, timeout=aiohttp.ClientTimeout(300))
        assert code == 200 and len(data) > 0
        times.append((time.perf_counter() - start) * 1000)
    return times[0], times[1]


async def run(runs: int) -> str:
    env = {"WAMC_SEND_INTERVAL": "0", "WAMC_SEND_JITTER": "0", "WAMC_MEDIA_TIMEOUT": "300"}
    with tempfile.TemporaryDirectory(prefix="wamc-bench-media-") as tmp:
        async with running_simulator() as simulator, aiohttp.ClientSession() as http:
            sim = SimControl(simulator, http)
            home = Path(tmp) / "home"
            home.mkdir()
            d = Daemon(home, simulator, env)
            await d.start()
            try:
                return await measure(d, sim, Path(tmp), runs)
            finally:
                await d.close()


async def measure(d: Daemon, sim: SimControl, tmp: Path, runs: int) -> str:
    await connect(d, sim, "acme", PHONE_A)
    await connect(d, sim, "shop", PHONE_B)
    load_before = os.getloadavg()[0]
    peak = await tree_pss(d, "acme")
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, await tree_pss(d, "acme"))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    rows = []
    for size in (1, 10):
        path = tmp / f"doc-{size}mb.pdf"
        path.write_bytes(pdf(f"{size} MB", pad_to=size * MB))
        sends, firsts, hits = [], [], []
        for _ in range(runs):
            ms, sent_id = await send(d, path)
            sends.append(ms)
            first, hit = await download(d, sent_id)
            firsts.append(first)
            hits.append(hit)
        rows.append(
            (
                f"{size} MB",
                runs,
                f"{percentile(sends, 50):.0f}",
                f"{percentile(sends, 95):.0f}",
                f"{percentile(firsts, 50):.0f}",
                f"{percentile(hits, 50):.1f}",
            )
        )
        print(rows[-1], flush=True)
    big = tmp / "doc-50mb.pdf"
    big.write_bytes(pdf("50 MB", pad_to=50 * MB))
    big_ms, _ = await send(d, big)
    stop.set()
    await sampler
    headers = (
        "document",
        "runs",
        "send p50 (ms)",
        "send p95 (ms)",
        "download, first (ms)",
        "download, cached (ms)",
    )
    return (
        "Send: POST send-media (multipart) → 201, the file streamed to the daemon's disk, then "
        "over ZeroMQ to the worker in 1 MiB chunk frames (a window of 4), fetched by the page "
        "through a Playwright route, uploaded to the simulator's media server and acknowledged. "
        "Download: GET …/messages/{id}/media on the receiving client (first: through its worker "
        "and page in 1 MiB slices, each a chunk frame to the daemon; then from the cache).\n\n"
        + table(headers, rows)
        + f"\n\nOne 50 MB document: sent in {big_ms / 1000:.1f} s; the sending worker tree "
        f"(worker + Chromium) peaked at {peak / MB:.0f} MiB PSS over the whole run "
        f"(sampled every 0.2 s). Load average (1 min) {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores shared with other "
        "test runs.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    body = asyncio.run(run(args.runs))
    print(body)
    write_section("Media: send and download (bench/bench_media.py)", body)


if __name__ == "__main__":
    main()

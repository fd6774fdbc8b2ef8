"""What the HTTP metrics cost per request: a bare aiohttp handler, the same behind an empty
middleware, and behind wamc's gate (wamc/api/middleware.py: problems, and every answer counted
and timed by its route template), for a public route (no key: the gate's checks without
authentication); over loopback HTTP in one process, and the bookkeeping alone (no HTTP).

    .venv/bin/python -m bench.bench_metrics --requests 5000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import table, write_section  # noqa: E402
from tests.support import free_port  # noqa: E402
from wamc.api.keys import METRICS  # noqa: E402
from wamc.api.metrics import Metrics  # noqa: E402
from wamc.api.middleware import Gate  # noqa: E402
from wamc.api.spec import Route  # noqa: E402

PATH = "/api/clients/{id}/status"


async def handler(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info["id"], "state": "connected"})


@web.middleware
async def noop(request: web.Request, handler: Any) -> web.StreamResponse:
    return await handler(request)


async def serve(kind: str) -> tuple[web.AppRunner, str, Metrics]:
    metrics = Metrics()
    app = web.Application(middlewares=[noop] if kind == "noop" else [])
    app[METRICS] = metrics
    app.router.add_get(PATH, gate(app, handler).handle if kind == "metrics" else handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", metrics


def gate(app: web.Application, answer: Any) -> Gate:
    entry = Route("GET", PATH, answer, "public", "status")
    return Gate(app, answer, entry, app[METRICS].http.series(PATH, "GET"))


async def rate(base: str, n: int) -> float:
    """Requests per second, sequential on one keep-alive connection."""
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        for i in range(n):
            async with http.get(f"{base}/api/clients/c{i % 50}/status") as r:
                await r.read()
        return n / (time.perf_counter() - started)


async def direct_us(kind: str, app: web.Application, n: int = 50_000) -> float:
    """µs per call of the gate (or an empty middleware) around a handler that answers at once
    (no HTTP)."""
    request: Any = make_mocked_request("GET", "/api/clients/a/status", app=app)
    answer = web.Response(status=200)

    async def at_once(_: web.Request) -> web.Response:
        return answer

    gated = gate(app, at_once)
    started = time.perf_counter()
    for _ in range(n):
        if kind == "metrics":
            await gated.handle(request)
        else:
            await noop(request, at_once)
    return (time.perf_counter() - started) / n * 1e6


def bookkeeping_us(metrics: Metrics, n: int = 100_000) -> float:
    series = metrics.http.series(PATH, "GET")
    started = time.perf_counter()
    for _ in range(n):
        series.record(200, 0.0004)
    return (time.perf_counter() - started) / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    n = parser.parse_args().requests
    apps = {kind: await serve(kind) for kind in ("bare", "noop", "metrics")}
    metered = apps["metrics"]
    results: dict[str, list[float]] = {kind: [] for kind in apps}
    try:
        for _ in range(parser.parse_args().rounds):  # interleaved: the machine's noise hits all
            for kind, (_, base, _) in apps.items():
                results[kind].append(await rate(base, n))
        cost = bookkeeping_us(metered[2])
        direct: dict[str, list[float]] = {"noop": [], "metrics": []}
        for _ in range(parser.parse_args().rounds):
            for kind in direct:
                direct[kind].append(await direct_us(kind, metered[0].app))
    finally:
        for runner, _, _ in apps.values():
            await runner.cleanup()
    b = statistics.median(results["bare"])
    rows: list[list[object]] = [["bare aiohttp handler", f"{b:,.0f}", "", ""]]
    for kind, label in (("noop", "an empty middleware"), ("metrics", "wamc's gate")):
        r = statistics.median(results[kind])
        rows.append(
            [label, f"{r:,.0f}", f"{(r / b - 1) * 100:+.1f} %", f"{1e6 / r - 1e6 / b:+.1f}"]
        )
    d0, d1 = statistics.median(direct["noop"]), statistics.median(direct["metrics"])
    body = (
        f"GET `{PATH}` over loopback HTTP, {n} sequential requests on one keep-alive connection "
        f"per round, median of {len(results['bare'])} interleaved rounds (client and server in "
        "one process, so a shared machine's noise shows here).\n\n"
        + table(["server", "req/s", "vs bare", "µs per request"], rows)
        + "\n\nWithout HTTP (the middleware called directly around a handler that answers at "
        f"once, median of rounds): an empty middleware {d0:.2f} µs, wamc's gate with the metrics "
        f"{d1:.2f} µs; the metrics' bookkeeping alone (`HttpSeries.record`: a count by status, "
        f"a latency bucket, plain integers read when scraped) {cost:.2f} µs."
    )
    print(body)
    write_section("HTTP metrics: cost per request (bench/bench_metrics.py)", body)


if __name__ == "__main__":
    asyncio.run(main())

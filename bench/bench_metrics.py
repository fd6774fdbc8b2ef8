"""What the HTTP metrics cost per request: a bare aiohttp handler, the same behind an empty
middleware, and behind wamc's problem middleware, which counts and times every answer by its
route template (counter, histogram); over loopback HTTP in one process, and the bookkeeping alone
(no HTTP).

    .venv/bin/python -m bench.bench_metrics --requests 5000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import free_port  # noqa: E402
from wamc.api.keys import METRICS  # noqa: E402
from wamc.api.metrics import Metrics  # noqa: E402
from wamc.api.middleware import errors_middleware  # noqa: E402
from wamc.api.spec import Route  # noqa: E402

PATH = "/api/clients/{id}/status"


async def handler(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info["id"], "state": "connected"})


@web.middleware
async def noop(request: web.Request, handler: Any) -> web.StreamResponse:
    return await handler(request)


async def serve(kind: str) -> tuple[web.AppRunner, str, Metrics]:
    metrics = Metrics()
    middlewares = {"bare": [], "noop": [noop], "metrics": [errors_middleware]}[kind]
    app = web.Application(middlewares=middlewares)
    app[METRICS] = metrics
    route = app.router.add_get(PATH, handler)
    metrics.http.route_of = {route: Route("GET", PATH, handler, "read")}
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", metrics


async def rate(base: str, n: int) -> float:
    """Requests per second, sequential on one keep-alive connection."""
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        for i in range(n):
            async with http.get(f"{base}/api/clients/c{i % 50}/status") as r:
                await r.read()
        return n / (time.perf_counter() - started)


async def direct_us(kind: str, app: web.Application, n: int = 50_000) -> float:
    """µs per call of the middleware around a handler that answers at once (no HTTP)."""
    route = next(iter(app[METRICS].http.route_of))
    request: Any = make_mocked_request("GET", "/api/clients/a/status", app=app)
    request._match_info = SimpleNamespace(route=route, current_app=app)  # noqa: SLF001
    answer = web.Response(status=200)

    async def at_once(_: web.Request) -> web.Response:
        return answer

    wrap = errors_middleware if kind == "metrics" else noop
    started = time.perf_counter()
    for _ in range(n):
        await wrap(request, at_once)
    return (time.perf_counter() - started) / n * 1e6


def bookkeeping_us(metrics: Metrics, request: Any, n: int = 100_000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        metrics.http.observe(request, 200, 0.0004, None)
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
        route = next(iter(metered[2].http.route_of))
        request = SimpleNamespace(method="GET", match_info=SimpleNamespace(route=route))
        cost = bookkeeping_us(metered[2], request)
        direct: dict[str, list[float]] = {"noop": [], "metrics": []}
        for _ in range(parser.parse_args().rounds):
            for kind in direct:
                direct[kind].append(await direct_us(kind, metered[0].app))
    finally:
        for runner, _, _ in apps.values():
            await runner.cleanup()
    b = statistics.median(results["bare"])
    print(f"bare aiohttp handler:     {b:,.0f} req/s (median of {len(results['bare'])} rounds)")
    for kind, label in (("noop", "an empty middleware:"), ("metrics", "wamc errors_middleware:")):
        r = statistics.median(results[kind])
        print(
            f"{label:25} {r:,.0f} req/s ({(r / b - 1) * 100:+.1f} %, {1e6 / r - 1e6 / b:+.1f} µs)"
        )
    print(f"metrics bookkeeping:      {cost:.2f} µs per request (observe, no HTTP)")
    d0, d1 = statistics.median(direct["noop"]), statistics.median(direct["metrics"])
    print(f"middleware call, no HTTP: empty {d0:.2f} µs, errors_middleware {d1:.2f} µs")


if __name__ == "__main__":
    asyncio.run(main())

"""Events: latency to WebSocket consumers and webhook throughput, through real processes.

1. Latency: the simulator delivers a message to a connected client (real worker + Chromium);
   we time until each connected WebSocket consumer has the ``message`` event. p50/p99 with 1 and
   with 20 consumers (every consumer's arrival is a sample).
2. Webhook throughput: a backlog of N ``message`` events waits in the outbox of webhooks whose
   local receiver answers 503; the receiver recovers and we time how fast the outbox drains
   (one lane per webhook: in order per (webhook, client)); with 1 and with 4 webhooks.

Loopback only, bounded.   .venv/bin/python -m bench.bench_events --messages 200 --backlog 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import API_KEY, Daemon, SimControl, free_port, wait_for  # noqa: E402
from wamc.simulator import Simulator  # noqa: E402

PHONE = "5511900007001"
CONTACT = "5511900007999"


class Sim(SimControl):
    async def deliver(self, text: str) -> str:
        res = await self.post(
            "/control/messages", {"to": PHONE, "from": CONTACT, "body": text, "type": "chat"}
        )
        return res["id"]


async def connect(d: Daemon, sim: Sim, client: str) -> None:
    code, body = await d.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body

    async def qr() -> str | None:
        c, b = await d.call("GET", f"/api/clients/{client}/qr?format=json")
        return b["qr"] if c == 200 else None

    await sim.post("/control/scan", {"qr": await wait_for(qr, 60, what="QR"), "phone": PHONE})
    await d.wait_state(client, "connected")


class Consumer:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self, url: str, ready: asyncio.Event) -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(url, headers={"X-Api-Key": API_KEY}) as ws,
        ):
            ready.set()
            async for msg in ws:
                ev = json.loads(msg.data)
                self.arrived[ev["data"]["id"]] = time.perf_counter()


async def latency(d: Daemon, sim: Sim, n_consumers: int, n_messages: int) -> list[float]:
    consumers = [Consumer() for _ in range(n_consumers)]
    for c in consumers:
        ready = asyncio.Event()
        c.task = asyncio.create_task(c.run(f"{d.base}/ws?events=message", ready))
        await asyncio.wait_for(ready.wait(), 10)
    samples: list[float] = []
    try:
        for i in range(3):  # warm-up
            mid = await sim.deliver(f"warm-up {i}")
            await wait_for(lambda m=mid: all(m in c.arrived for c in consumers), 30, 0.001)
        for i in range(n_messages):
            started = time.perf_counter()
            mid = await sim.deliver(f"latency {i}")
            await wait_for(lambda m=mid: all(m in c.arrived for c in consumers), 30, 0.001)
            samples += [c.arrived[mid] - started for c in consumers]
    finally:
        for c in consumers:
            assert c.task is not None
            c.task.cancel()
        await asyncio.gather(*(c.task for c in consumers if c.task), return_exceptions=True)
    return samples


class Receiver:
    def __init__(self) -> None:
        self.status = 503
        self.ok: list[float] = []
        self.ids: set[str] = set()
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        if self.status == 200:
            self.ok.append(time.perf_counter())
            self.ids.add(request.headers["X-Wamc-Event-Id"] + request.path)
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()


async def webhook_drain(d: Daemon, sim: Sim, n_hooks: int, backlog: int) -> dict[str, float]:
    rec = Receiver()
    await rec.start()
    hooks = []
    try:
        for h in range(n_hooks):
            code, body = await d.call(
                "POST",
                "/api/webhooks",
                json={
                    "url": f"http://127.0.0.1:{rec.port}/h{h}",
                    "events": ["message"],
                    "retry": {"max_attempts": 50, "backoff_base": 0.05, "backoff_max": 0.2},
                },
            )
            assert code == 201, body
            hooks.append(body["id"])
        # Fill the outbox: deliveries are ~4/s per message in parallel batches from the simulator.
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with sem:
                await sim.deliver(f"backlog {i}")

        await asyncio.gather(*(one(i) for i in range(backlog)))

        async def queued() -> bool:
            for wid in hooks:
                _, view = await d.call("GET", f"/api/webhooks/{wid}")
                if view["stats"]["pending"] < backlog:
                    return False
            return True

        await wait_for(queued, 120, 0.2, what="the backlog in the outbox")
        flipped = time.perf_counter()
        rec.status = 200
        total = backlog * n_hooks
        await wait_for(lambda: len(rec.ok) >= total, 300, 0.01, what="the outbox drained")
        first, last = rec.ok[0], rec.ok[total - 1]
        assert len(rec.ids) == total, "a duplicate or a missing delivery"
        # The rate counts from the receiver's recovery, not from the first success: the wait
        # for the next retry after the recovery is part of draining a backlog.
        return {
            "deliveries": total,
            "first_s": first - flipped,
            "drain_s": last - flipped,
            "rate": total / (last - flipped),
        }
    finally:
        for wid in hooks:
            await d.call("DELETE", f"/api/webhooks/{wid}")
        if rec.runner is not None:
            await rec.runner.cleanup()


async def main(n_messages: int, backlog: int) -> str:
    home = Path(tempfile.mkdtemp(prefix="wamc-bench-events-"))
    simulator = Simulator(host="127.0.0.1", port=0)
    await simulator.start()
    d = Daemon(home, simulator, extra_env={"WAMC_WEBHOOK_ALLOW_PRIVATE": "1"})
    lat_rows, hook_rows = [], []
    try:
        await d.start()
        async with aiohttp.ClientSession() as http:
            sim = Sim(simulator, http)
            await connect(d, sim, "bench")
            for n in (1, 20):
                s = await latency(d, sim, n, n_messages)
                lat_rows.append(
                    [
                        n,
                        n_messages,
                        f"{percentile(s, 50) * 1000:.1f}",
                        f"{percentile(s, 99) * 1000:.1f}",
                        f"{max(s) * 1000:.1f}",
                    ]
                )
                print(f"latency with {n} consumers: {lat_rows[-1]}", flush=True)
            for hooks in (1, 4):
                r = await webhook_drain(d, sim, hooks, backlog)
                hook_rows.append(
                    [
                        hooks,
                        r["deliveries"],
                        f"{r['first_s']:.2f}",
                        f"{r['drain_s']:.2f}",
                        f"{r['rate']:.0f}",
                    ]
                )
                print(f"webhooks x{hooks}: {hook_rows[-1]}", flush=True)
    finally:
        await d.close()
        await simulator.stop()
    return (
        "Event latency: simulator delivers a message → every WebSocket consumer has the "
        "`message` event (real worker + Chromium; each consumer's arrival is a sample).\n\n"
        + table(
            ["WS consumers", "messages", "p50 (ms)", "p99 (ms)", "max (ms)"],
            lat_rows,
        )
        + "\n\nWebhook throughput: a backlog of "
        f"{backlog} `message` events per webhook waits in the durable outbox while the local "
        "receiver answers 503; it recovers and the outbox drains (one in-order lane per "
        "webhook and client; every delivery signed, logged and committed to SQLite). The clock "
        "starts when the receiver recovers (starts answering 200) and stops at the last "
        "delivery: deliveries/s = deliveries / drain, the retry wait before the first success "
        "included.\n\n"
        + table(
            [
                "webhooks",
                "deliveries",
                "recovery → first delivery (s)",
                "recovery → last delivery = drain (s)",
                "deliveries/s",
            ],
            hook_rows,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    body = asyncio.run(main(args.messages, args.backlog))
    print(body)
    if not args.no_write:
        write_section(
            "Events: WebSocket latency and webhook throughput (bench/bench_events.py)", body
        )

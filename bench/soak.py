"""Soak: N clients under incoming traffic while workers, browsers and the daemon are killed.

Bounded and loopback-only. Prints messages delivered vs stored (must be equal, no duplicates),
restarts observed, recovery times, and processes left behind after a full stop (must be zero).

    .venv/bin/python -m bench.soak --clients 4 --duration 90
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import Daemon, SimControl, processes_under, wait_for  # noqa: E402
from wamc.simulator import Simulator  # noqa: E402

CONTACT = "5511900009999"
STOP_WAIT_S = 60.0  # how long a full stop may take to leave nothing behind
ENV = {
    "WAMC_HEARTBEAT_INTERVAL": "0.5",
    "WAMC_HEARTBEAT_TIMEOUT": "5",
    "WAMC_WORKER_GRACE": "10",
    "WAMC_RESTART_BACKOFF_BASE": "0.5",
    "WAMC_MAX_FAST_FAILURES": "50",
}


async def all_connected(d: Daemon, clients: list[str], pids: dict[str, int] | None = None) -> bool:
    for c in clients:
        try:
            st = await d.status(c)
        except (aiohttp.ClientError, AssertionError):
            return False
        if st["state"] != "connected" or (pids is not None and st["pid"] in (None, pids.get(c))):
            return False
    return True


async def stored_ids(d: Daemon, client: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        q = f"?limit=500&before={cursor}" if cursor else "?limit=500"
        _, body = await d.call("GET", f"/api/clients/{client}/chats/{CONTACT}@c.us/messages{q}")
        ids += [m["id"] for m in body["messages"]]
        cursor = body["next_before"]
        if not cursor:
            return ids


async def left_after_stop(home: Path, within: float) -> tuple[int, float | None]:
    """Processes still under ``home`` once none are left or ``within`` s passed (never raises).

    Returns how many are left and how long until none were (None: some still ran at the end).
    """
    t0 = time.monotonic()
    while True:
        left = len(processes_under(home))
        if left == 0:
            return 0, time.monotonic() - t0
        if time.monotonic() - t0 >= within:
            return left, None
        await asyncio.sleep(0.1)


async def soak(n_clients: int, duration: float, fault_every: float, rate: float) -> str:
    home = Path(tempfile.mkdtemp(prefix="wamc-soak-"))
    sim = Simulator(host="127.0.0.1", port=0)
    await sim.start()
    d = Daemon(home, sim, extra_env=ENV)
    http = aiohttp.ClientSession()
    ctl = SimControl(sim, http)
    clients = [f"soak{i}" for i in range(n_clients)]
    phones = {c: f"55119100{i:05d}" for i, c in enumerate(clients)}
    delivered: dict[str, list[str]] = {c: [] for c in clients}
    recoveries: dict[str, list[float]] = {
        "worker": [],
        "browser": [],
        "daemon -9": [],
        "daemon TERM": [],
    }
    try:
        await d.start()
        for c in clients:
            await d.call("POST", f"/api/clients/{c}/connect")
        for c in clients:

            async def qr(c: str = c) -> str | None:
                code, body = await d.call("GET", f"/api/clients/{c}/qr?format=json")
                return body["qr"] if code == 200 else None

            await ctl.post("/control/scan", {"qr": await wait_for(qr, 120), "phone": phones[c]})
        await wait_for(lambda: all_connected(d, clients), 120, what="all connected")
        stop = asyncio.Event()

        async def traffic() -> None:
            i = 0
            while not stop.is_set() and i < rate * (duration + 60):
                c = random.choice(clients)
                data = await ctl.post(
                    "/control/messages", {"to": phones[c], "from": CONTACT, "body": f"soak {i}"}
                )
                delivered[c].append(data["id"])
                i += 1
                await asyncio.sleep(1 / rate)

        sender = asyncio.create_task(traffic())
        deadline = time.monotonic() + duration
        faults = ["worker", "browser", "daemon -9", "daemon TERM"]
        k = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(fault_every)
            kind = faults[k % len(faults)]
            k += 1
            victim = random.choice(clients)
            st = await d.status(victim)
            pids = {c: (await d.status(c))["pid"] for c in clients}
            t0 = time.monotonic()
            if kind == "worker":
                os.kill(st["pid"], signal.SIGKILL)
                await wait_for(
                    lambda v=victim, p=pids: all_connected(d, [v], p), 90, what="recovery"
                )
            elif kind == "browser":
                os.killpg(st["browser_pid"], signal.SIGKILL)
                await wait_for(
                    lambda v=victim, p=pids: all_connected(d, [v], p), 90, what="recovery"
                )
            else:
                await d.stop(signal.SIGKILL if kind == "daemon -9" else signal.SIGTERM)
                await d.start()
                await wait_for(lambda: all_connected(d, clients), 90, what="daemon recovery")
            recoveries[kind].append(time.monotonic() - t0)
            print(f"{kind:<12} on {victim}: recovered in {recoveries[kind][-1]:.2f}s", flush=True)
        stop.set()
        await sender
        total = sum(map(len, delivered.values()))

        async def complete() -> bool:
            for c in clients:
                if not set(delivered[c]) <= set(await stored_ids(d, c)):
                    return False
            return True

        with_timeout_ok = True
        try:
            await wait_for(complete, 90, what="every message stored")
        except AssertionError:
            with_timeout_ok = False
        stored = dups = missing = 0
        restarts = 0
        for c in clients:
            ids = await stored_ids(d, c)
            stored += len(ids)
            dups += len(ids) - len(set(ids))
            missing += len(set(delivered[c]) - set(ids))
            restarts += (await d.status(c))["restarts"]
        await d.call("POST", "/api/shutdown")
        await d.stop()
        leftover, cleanup = await left_after_stop(home, STOP_WAIT_S)
        all_rec = [x for v in recoveries.values() for x in v]
        rows = [
            ["clients", n_clients],
            ["duration (s)", f"{duration:.0f}"],
            ["faults injected", sum(map(len, recoveries.values()))],
            ["messages delivered by the simulator", total],
            ["messages stored", stored],
            ["missing", missing],
            ["duplicates", dups],
            ["worker restarts observed", restarts],
            [
                "recovery p50 / p95 (s)",
                f"{percentile(all_rec, 50):.2f} / {percentile(all_rec, 95):.2f}",
            ],
        ]
        for kind, vals in recoveries.items():
            if vals:
                rows.append(
                    [
                        f"recovery after {kind} (n={len(vals)}) p50 / max (s)",
                        f"{percentile(vals, 50):.2f} / {max(vals):.2f}",
                    ]
                )
        rows += [
            [f"processes left {STOP_WAIT_S:.0f} s after full stop", leftover],
            [
                "full stop to nothing left (s)",
                f"{cleanup:.1f}" if cleanup is not None else f"not within {STOP_WAIT_S:.0f}",
            ],
        ]
        md = table(["measure", "value"], rows)
        ok = with_timeout_ok and missing == 0 and dups == 0 and leftover == 0 and stored == total
        md += f"\n\nResult: **{'PASS' if ok else 'FAIL'}** (delivered == stored, no duplicates, nothing left)."
        return md
    finally:
        await http.close()
        await d.close()
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of faults")
    parser.add_argument("--fault-every", type=float, default=6.0)
    parser.add_argument("--rate", type=float, default=10.0, help="incoming messages per second")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    md = asyncio.run(soak(args.clients, args.duration, args.fault_every, args.rate))
    print(md)
    if not args.no_write:
        write_section("Soak: faults under traffic (bench/soak.py)", md)


if __name__ == "__main__":
    main()

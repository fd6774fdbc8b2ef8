"""Restore after a power loss: N linked clients back to ``connected`` after the machine
"rebooted", timed from the start command.

1. A daemon (``wamc serve``, the command scripts/start.sh has supervisord run) links client 0,
   waits until Chromium has its login on disk, and the power goes: every process of the run
   (daemon, workers, Chromium) frozen then SIGKILLed, ``sessions/`` kept. The daemon
   is started again and client 0 timed back to ``connected``: the baseline, one client alone.
2. The other clients are linked (``--batch`` at a time) and every login is on disk; the power
   goes again; the daemon is started again and every client timed back to ``connected``.

The clock starts when the daemon's process is spawned (supervisord's spawn of ``wamc serve``;
scripts/start.sh's own set-up check and supervisord's start come before it and are not
counted). The simulator plays WhatsApp's servers and stays up. Loopback only, bounded.

    .venv/bin/python -m bench.bench_restore --clients 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import (  # noqa: E402
    MEMORY_FLOOR,
    START_MARKS,
    EventTap,
    SimProcess,
    all_gone,
    fleet,
    link,
    load_average,
    log_marks,
    phases,
    power_loss,
    product_env,
    statuses,
    tree_cpu,
)
from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import Daemon, SimControl, session_on_disk, wait_for  # noqa: E402
from wamc.config import Settings  # noqa: E402

TITLE = "Restore: linked clients back after a power loss (bench/bench_restore.py)"
TARGET_S = 45.0


async def reboot_and_time(d: Daemon, clients: list[str], timeout: float) -> dict[str, Any]:
    """Power loss, then the daemon started again: each client's time back to ``connected``."""
    for c in clients:  # a login killed before Chromium flushed it would be lost (as for real)
        await wait_for(partial(session_on_disk, d.home / "sessions" / c / "profile"), 60)
    killed = power_loss(d)
    await wait_for(lambda: all_gone(d.home, killed), 30, 0.1, what="every process gone")
    wall0, t0 = time.time(), time.monotonic()
    await d.start()  # spawn → /health
    health = time.monotonic() - t0
    back: dict[str, float] = {}
    deadline = t0 + timeout
    while len(back) < len(clients) and time.monotonic() < deadline:
        st = await statuses(d)
        now = time.monotonic() - t0
        for c in clients:
            if c not in back and st.get(c, {}).get("state") == "connected":
                back[c] = now
        await asyncio.sleep(0.2)
    st = await statuses(d)  # the CPU the starts cost (a client idles at ~0 once connected)
    cpu = [tree_cpu(st[c]["pid"], st[c]["browser_pid"]) for c in clients if st[c]["pid"]]
    daemon_cpu = tree_cpu(d.proc.pid) - sum(cpu)  # type: ignore[union-attr]  # started
    marks = {**START_MARKS, "connected": ("daemon", "state starting -> connected")}
    found = log_marks(d.home, wall0, marks)
    spawned = [f["worker spawned"] - wall0 for f in found.values() if "worker spawned" in f]
    return {
        "killed": len(killed),
        "health": health,
        "back": back,
        "n": len(clients),
        "phases": phases(found, list(marks)),
        "spawned": sorted(spawned),
        "cpu": statistics.mean(cpu) if cpu else float("nan"),
        "daemon_cpu": daemon_cpu,
        "elapsed": time.monotonic() - t0,
    }


async def measure(n: int, batch: int, timeout: float) -> str:
    sim = SimProcess()
    await sim.start()
    home = Path(tempfile.mkdtemp(prefix="wamc-restore-"))
    d = Daemon(home, sim, extra_env=product_env(n, WAMC_ADMIN_RATE_PER_MINUTE="1000000"))
    d.START_TIMEOUT = 120.0  # /health on a loaded machine
    phones = fleet(n)
    clients = list(phones)
    tap = EventTap()
    try:
        async with aiohttp.ClientSession() as http:
            ctl = SimControl(sim, http)  # type: ignore[arg-type]  # url is all it reads
            await d.start()
            await tap.start(d)
            await link(d, ctl, tap, dict(list(phones.items())[:1]), 1)
            await tap.stop()
            one = await reboot_and_time(d, clients[:1], timeout)
            print(f"1 client back in {one['back']}", flush=True)
            tap = EventTap()
            await tap.start(d)
            linked = 1 + len(await link(d, ctl, tap, dict(list(phones.items())[1:]), batch))
            await tap.stop()
            load = load_average()
            every = await reboot_and_time(d, clients[:linked], timeout)
            print(f"{len(every['back'])}/{n} back", flush=True)
    finally:
        await tap.stop()
        await d.call("POST", "/api/shutdown")
        await d.close()
        await sim.stop()
        shutil.rmtree(home, ignore_errors=True)
    return report(n, batch, one, every, load, timeout)


def report(
    n: int, batch: int, one: dict[str, Any], every: dict[str, Any], load: str, timeout: float
) -> str:
    requested, n = n, every["n"]  # fewer linked when memory ran short (fleet.MEMORY_FLOOR)
    times = sorted(every["back"].values())
    done = len(times) == n
    last = times[-1] if done else float("nan")
    base = one["back"].get("c000", float("nan"))
    cores = os.cpu_count() or 1
    concurrency = os.environ.get("WAMC_START_CONCURRENCY", str(Settings().start_concurrency))
    rows = [
        ["start → /health", f"{every['health']:.1f} s", f"{one['health']:.1f} s", "", ""],
        [
            "start → first client connected",
            f"{times[0]:.1f} s" if times else "—",
            f"{base:.1f} s",
            "",
            "",
        ],
        [
            "start → half connected (p50)",
            f"{percentile(times, 50):.1f} s" if times else "—",
            "",
            "",
            "",
        ],
        [
            f"start → all {n} connected",
            f"**{last:.1f} s**" if done else f"**{len(times)}/{n} within {timeout:.0f} s**",
            f"{base:.1f} s (1 client)",
            f"≤ {TARGET_S:.0f} s",
            "**met**" if done and last <= TARGET_S else "**missed**",
        ],
        [
            "start → last worker spawned (waiting for a start slot)",
            f"{every['spawned'][-1]:.1f} s" if every["spawned"] else "—",
            f"{one['spawned'][-1]:.1f} s" if one["spawned"] else "—",
            "",
            "",
        ],
        [
            "clients back per second",
            f"{n / last:.2f}" if done else "—",
            "",
            "",
            "",
        ],
        [
            "CPU per client start (worker + Chromium, user + system)",
            f"{every['cpu']:.2f} s",
            f"{one['cpu']:.2f} s",
            "",
            "",
        ],
        [
            f"CPU bound: {n} starts × CPU each / {cores} cores",
            f"{n * every['cpu'] / cores:.1f} s (+ the daemon's {every['daemon_cpu']:.1f} s)",
            "",
            "",
            "",
        ],
    ]
    md = table(
        ["measure", f"{n} clients", "baseline: 1 client alone (same run)", "target", "result"], rows
    )
    md += (
        f"\n\nPower loss: every process of the run ({every['killed']} with {n} clients: daemon, "
        "workers, Chromium) frozen with SIGSTOP, then SIGKILLed, the "
        "profiles and the store in `sessions/` kept (each client's login on disk first). The "
        "clock starts at the spawn of the daemon's command (`wamc serve`, what scripts/start.sh "
        "has supervisord run; start.sh's set-up check and supervisord's own start are not "
        "counted) and each client counts once `GET /api/clients` shows it `connected` (polled "
        f"every 0.2 s). `WAMC_START_CONCURRENCY` = {concurrency} (browsers booting at once: a "
        "start slot is held from the worker's spawn until the client leaves `starting`); other "
        f"settings at the product's defaults. Clients linked {batch} at a time before the power "
        f"loss. Run as root (`WAMC_ALLOW_ROOT=1`). Load average (1/5/15 min) before it: {load}."
        " CPU per client start: its processes' user + system time when the last client was "
        "connected (a connected client idles at nearly none).\n\nWhere a client's restore goes, from the product's own log lines (all "
        f"{n}): {every['phases']}; one client alone: {one['phases']}."
    )
    if n < requested:
        md += (
            f"\n\n**{requested} clients did not fit:** linking stopped at {n}, when the "
            f"machine's available memory fell below {MEMORY_FLOOR / 2**30:.0f} GiB."
        )
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2, help="clients linked at once (set-up)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for all")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--start-concurrency",
        type=int,
        default=None,
        help="WAMC_START_CONCURRENCY for the daemon (default: the product's, or the environment's)",
    )
    a = parser.parse_args()
    if a.start_concurrency is not None:  # on the command line, so the stamp reproduces it
        os.environ["WAMC_START_CONCURRENCY"] = str(a.start_concurrency)
    if a.clients < 2:
        parser.error("--clients must be at least 2")
    md = asyncio.run(measure(a.clients, a.batch, a.timeout))
    print(md)
    if not a.no_write:
        write_section(TITLE, md)


if __name__ == "__main__":
    main()

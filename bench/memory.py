"""Memory per client: worker (Python), Playwright driver (node) and Chromium, by PSS.

.venv/bin/python -m bench.memory --clients 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import table, write_section  # noqa: E402
from tests.support import Daemon, wait_for  # noqa: E402
from wamc.simulator import Simulator  # noqa: E402

MB = 1024 * 1024


def pss(proc: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error):
        return proc.memory_full_info().pss
    return 0


def breakdown(worker_pid: int, browser_pid: int) -> dict[str, float]:
    worker = psutil.Process(worker_pid)
    driver = sum(pss(p) for p in worker.children(recursive=True) if "node" in p.name())
    browser = psutil.Process(browser_pid)
    chromium = pss(browser) + sum(pss(p) for p in browser.children(recursive=True))
    return {"worker": pss(worker) / MB, "driver": driver / MB, "chromium": chromium / MB}


async def measure(n_clients: int) -> str:
    home = Path(tempfile.mkdtemp(prefix="wamc-mem-"))
    sim = Simulator(host="127.0.0.1", port=0)
    await sim.start()
    d = Daemon(home, sim)
    rows = []
    try:
        t0 = time.monotonic()
        await d.start()
        async with aiohttp.ClientSession() as http:
            for i in range(n_clients):
                await d.call("POST", f"/api/clients/m{i}/connect")
            for i in range(n_clients):

                async def qr(i: int = i) -> str | None:
                    code, body = await d.call("GET", f"/api/clients/m{i}/qr?format=json")
                    return body["qr"] if code == 200 else None

                payload = await wait_for(qr, 120)
                async with http.post(
                    sim.url + "control/scan", json={"qr": payload, "phone": f"55119200{i:05d}"}
                ) as r:
                    assert r.status == 200
            for i in range(n_clients):
                await d.wait_state(f"m{i}", "connected", timeout=120)
        ready = time.monotonic() - t0
        totals = {"worker": 0.0, "driver": 0.0, "chromium": 0.0}
        for i in range(n_clients):
            # The API samples the trees in the background: wait for its first figure.
            st = await wait_for(lambda c=f"m{i}": sampled(d, c), 30)
            parts = breakdown(st["pid"], st["browser_pid"])
            for k, v in parts.items():
                totals[k] += v
            rows.append(
                [
                    f"m{i}",
                    f"{parts['worker']:.0f}",
                    f"{parts['driver']:.0f}",
                    f"{parts['chromium']:.0f}",
                    f"{sum(parts.values()):.0f}",
                    f"{(st['memory_bytes'] or 0) / MB:.0f}",
                ]
            )
        n = n_clients
        rows.append(
            [
                "mean",
                f"{totals['worker'] / n:.0f}",
                f"{totals['driver'] / n:.0f}",
                f"{totals['chromium'] / n:.0f}",
                f"{sum(totals.values()) / n:.0f}",
                "",
            ]
        )
        daemon_pss = pss(psutil.Process(d.proc.pid)) / MB  # type: ignore[union-attr]
        md = table(
            ["client", "worker MB", "driver MB", "Chromium MB", "tree MB", "API memory_bytes MB"],
            rows,
        )
        md += (
            f"\n\n{n_clients} clients connected (simulator page) in {ready:.1f}s from a cold start; "
            f"daemon {daemon_pss:.0f} MB PSS. Memory is PSS (shared pages split between sharers)."
        )
        return md
    finally:
        await d.call("POST", "/api/shutdown")
        await d.close()
        await sim.stop()


async def sampled(d: Any, client: str) -> dict[str, Any] | None:
    st = await d.status(client)
    return st if st["memory_bytes"] is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5)
    args = parser.parse_args()
    md = asyncio.run(measure(args.clients))
    print(md)
    write_section("Memory per client (bench/memory.py)", md)


if __name__ == "__main__":
    main()

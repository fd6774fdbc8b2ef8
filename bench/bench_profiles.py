"""Profile store (issue 14, item 4): snapshot size and time of a linked client, restore time.

A real daemon with ``WAMC_PROFILE_STORE`` on a local folder, one client linked on the simulator
(light and heavy pages). Each round: a clean stop (the daemon snapshots the profile), the profile
folder deleted, a connect (the daemon restores the newest snapshot, the client comes back
connected without a QR); then, as the reference, a stop and a connect with the profile kept.
Figures are the daemon's own (``profile`` in the client's status) and the wall time of the API
calls; medians over the rounds.

    .venv/bin/python -m bench.bench_profiles --rounds 3 --weights light,heavy
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
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import heavy_report  # noqa: E402
from bench.report import table, write_section  # noqa: E402
from tests.support import Daemon, SimControl  # noqa: E402
from wamc.simulator import Simulator  # noqa: E402

CLIENT = "bench"
PHONE = "5511900007070"
MB = 1024 * 1024


def tree_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


async def timed_stop(d: Daemon) -> float:
    began = time.monotonic()
    code, body = await d.call("POST", f"/api/clients/{CLIENT}/disconnect")
    assert code in (200, 202), body
    await d.wait_state(CLIENT, "stopped", timeout=120)
    return time.monotonic() - began


async def timed_connect(d: Daemon) -> tuple[float, dict[str, Any]]:
    began = time.monotonic()
    code, body = await d.call("POST", f"/api/clients/{CLIENT}/connect")
    assert code == 202, body
    st = await d.wait_state(CLIENT, "connected", timeout=300)
    return time.monotonic() - began, st


async def one_weight(weight: str, rounds: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="wamc-bench-profiles-"))
    sim = Simulator(host="127.0.0.1", port=0, weight=weight)
    await sim.start()
    d = Daemon(root / "home", sim, {"WAMC_PROFILE_STORE": str(root / "store")})
    d.home.mkdir()
    rows: list[dict[str, float]] = []
    try:
        async with aiohttp.ClientSession() as http:
            ctl = SimControl(sim, http)
            await d.start()
            await d.connect_scanned(ctl, CLIENT, PHONE)
            if weight == "heavy":
                await heavy_report(ctl, PHONE)
            profile = d.home / "sessions" / CLIENT / "profile"
            for _ in range(rounds):
                on_disk = tree_bytes(profile)  # before the stop: what the browser keeps
                stop_s = await timed_stop(d)
                snap = (await d.status(CLIENT))["profile"]["last_snapshot"]
                shutil.rmtree(profile)
                restored_s, st = await timed_connect(d)
                assert st["profile"]["restore"] == "restored", st["profile"]
                await timed_stop(d)
                kept_s, _ = await timed_connect(d)
                rows.append(
                    {
                        "disk": on_disk / MB,
                        "raw": snap["bytes"] / MB,
                        "size": snap["size"] / MB,
                        "files": snap["files"],
                        "snap_s": snap["seconds"],
                        "stop_s": stop_s,
                        "restore_s": st["profile"]["seconds"],
                        "restored_s": restored_s,
                        "kept_s": kept_s,
                    }
                )
    finally:
        await d.close()
        await sim.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


async def main(weights: list[str], rounds: int) -> None:
    results = {w: await one_weight(w, rounds) for w in weights}
    body_rows = [
        [
            w,
            f"{r['disk']:.1f}",
            f"{r['raw']:.2f} ({r['files']:.0f} files)",
            f"{r['size']:.2f}",
            f"{r['snap_s']:.2f}",
            f"{r['stop_s']:.2f}",
            f"{r['restore_s']:.2f}",
            f"{r['restored_s']:.1f}",
            f"{r['kept_s']:.1f}",
        ]
        for w, r in results.items()
    ]
    rates = [f"{r['raw'] / r['snap_s']:.0f} MB/s ({w})" for w, r in results.items() if r["snap_s"]]
    body = (
        "One linked client, a local folder as the store (tar + gzip level 6, SHA-256). Medians "
        f"over {rounds} rounds of: clean stop (snapshot) → profile folder deleted → connect "
        "(restore, back connected without a QR) → stop → connect with the profile kept.\n\n"
        + table(
            [
                "page",
                "profile on disk MB",
                "snapshotted MB (caches left out)",
                "archive MB",
                "snapshot s",
                "stop incl. snapshot s",
                "restore s",
                "connect with restore s",
                "connect, profile kept s",
            ],
            body_rows,
        )
        + "\n\n`snapshot s` and `restore s` are the daemon's own timings (the client's status, "
        "`profile`); the connect times run from the API call to `connected`. On 2 cores shared "
        "with other test runs. Snapshot rate, profile data packed per second: "
        + ", ".join(rates)
        + ". The heavy page's profile (an account of 20,000 messages in IndexedDB) is the closer "
        "one to WhatsApp Web's; a busy real account's profile can be several times larger, and "
        "its snapshot and restore grow with it at about these rates."
    )
    print(body)
    write_section("Profile store: snapshot and restore (bench/bench_profiles.py)", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weights", default="light,heavy")
    args = parser.parse_args()
    asyncio.run(main(args.weights.split(","), args.rounds))

"""Memory per client, by PSS: wamc's clients against a plain-Playwright baseline, same page.

wamc: worker (Python) + its Playwright driver (node) + Chromium (the headless shell, our flags),
each client connected (QR scanned). Baseline, in the same invocation and on the same simulator
page: plain Playwright (one driver per client) + Debian's full ``chromium`` with Playwright's
default flags and a persistent profile, the page linked the same way (install it with
``bash bench/setup-baseline.sh``). ``--weight heavy`` uses the simulator's WhatsApp-weight page
(docs/simulator.md). Both sides settle the same time before they are measured, one after the
other (never side by side), so they do not squeeze each other.

.venv/bin/python -m bench.memory --clients 5 [--weight heavy] [--baseline 5] [--settle 20]
    [--profile]

``--profile`` adds where the memory sits, per process kind (bench/memprofile.py). Bench-only,
hidden: ``--ab '{"args_remove": [...], "env": {...}, "label": "..."}'`` also runs wamc's side with that change
(bench/ab/sitecustomize.py) and ``--rounds N`` alternates the two N times, in one invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memprofile import client_profile, mean_profile, profile_table  # noqa: E402
from bench.report import table, write_section  # noqa: E402
from tests.support import Daemon, SimControl, wait_for  # noqa: E402
from wamc.config import load_settings  # noqa: E402
from wamc.simulator import Simulator  # noqa: E402

MB = 1024 * 1024
BASELINE_CHROMIUM = "/usr/lib/chromium/chromium"  # Debian's `chromium`, without its wrapper
TITLE = "Memory per client (bench/memory.py)"
AB_PATH = Path(__file__).resolve().parent / "ab"  # the bench-only sitecustomize


def pss(proc: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error):
        return proc.memory_full_info().pss
    return 0


def tree_pss(pid: int) -> int:
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        return pss(root) + sum(pss(p) for p in root.children(recursive=True))
    return 0


def tree_uss(*roots: int) -> float:
    """Memory only these processes and their descendants hold (USS, MB): unlike PSS, it does
    not depend on how many clients share the rest, so sides of different sizes compare."""
    procs: dict[int, psutil.Process] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            procs |= {p.pid: p for p in [root, *root.children(recursive=True)]}
    total = 0
    for p in procs.values():
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().uss
    return total / MB


def breakdown(worker_pid: int, browser_pid: int) -> dict[str, float]:
    worker = psutil.Process(worker_pid)
    driver = sum(pss(p) for p in worker.children(recursive=True) if "node" in p.name())
    return {
        "worker": pss(worker) / MB,
        "driver": driver / MB,
        "chromium": tree_pss(browser_pid) / MB,
    }


def browser_pid(profile: Path) -> int:
    """The browser process started on ``profile`` (its children are the renderers etc.)."""
    flag = f"--user-data-dir={profile}"
    found = [p for p in psutil.process_iter(["cmdline"]) if flag in (p.info["cmdline"] or [])]
    pids = {p.pid for p in found}
    roots = [p for p in found if p.ppid() not in pids]
    if len(roots) != 1:
        raise RuntimeError(f"expected one browser on {profile}, found {len(roots)}")
    return roots[0].pid


def version(executable: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "?"
    return "?"


async def heavy_report(ctl: SimControl, phone: str, since: float = 0.0) -> dict[str, Any]:
    """Wait until the heavy page linked as ``phone`` has loaded its account and reported (a
    report received after ``since``, wall clock: an earlier round's page had the same phone)."""

    async def probe() -> dict[str, Any] | None:
        _, body = await ctl.call("GET", "/control/heavy")
        pages = [
            p
            for p in body["pages"]
            if p["phone"] == phone and p["model_messages"] and p["received_at"] >= since
        ]
        return pages[0] if pages else None

    return await wait_for(probe, 300, 0.5, what=f"the heavy page of {phone}")


async def heavy_load(sim: Simulator, ctl: SimControl, phone: str, since: float) -> float | None:
    """On the heavy page: wait for its account, and say how long its load took (ms)."""
    if sim.weight != "heavy":
        return None
    return float((await heavy_report(ctl, phone, since))["load_ms"])


async def wamc_side(
    sim: Simulator, ctl: SimControl, n: int, settle: float, tweak: str | None = None
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="wamc-mem-"))
    env = {"PYTHONPATH": str(AB_PATH), "WAMC_BENCH_TWEAK": tweak} if tweak else None
    d = Daemon(home, sim, extra_env=env)
    since = time.time()
    try:
        t0 = time.monotonic()
        await d.start()
        for i in range(n):
            await d.call("POST", f"/api/clients/m{i}/connect")
        for i in range(n):
            await ctl.scan(await d.qr(f"m{i}", timeout=300), f"55119200{i:05d}")
        for i in range(n):
            await d.wait_state(f"m{i}", "connected", timeout=300)
        loads = [await heavy_load(sim, ctl, f"55119200{i:05d}", since) for i in range(n)]
        ready = time.monotonic() - t0
        await asyncio.sleep(settle)  # the same idle time as the baseline's, before measuring
        clients, profiles = [], []
        for i in range(n):
            # The API samples the trees in the background: wait for its first figure.
            st = await wait_for(lambda c=f"m{i}": sampled(d, c), 30)
            clients.append(breakdown(st["pid"], st["browser_pid"]))
            profiles.append(client_profile(st["pid"]))
        daemon_pss = pss(psutil.Process(d.proc.pid)) / MB  # type: ignore[union-attr]  # started
        return {
            "clients": clients,
            "profiles": profiles,
            "loads": loads,
            "ready_s": ready,
            "daemon": daemon_pss,
        }
    finally:
        await d.call("POST", "/api/shutdown")
        await d.close()
        shutil.rmtree(home, ignore_errors=True)


async def baseline_side(sim: Simulator, ctl: SimControl, n: int, settle: float) -> dict[str, Any]:
    """Plain Playwright: one driver and one full Chromium per client, default flags."""
    from playwright.async_api import async_playwright

    root = Path(tempfile.mkdtemp(prefix="wamc-mem-baseline-"))
    me = psutil.Process()
    sessions: list[tuple[Any, Any, int, int]] = []  # playwright, context, driver pid, browser pid
    loads: list[float | None] = []
    since = time.time()
    try:
        t0 = time.monotonic()
        for i in range(n):
            before = {p.pid for p in me.children() if "node" in p.name()}
            pw = await async_playwright().start()
            (driver,) = [p.pid for p in me.children() if "node" in p.name() and p.pid not in before]
            profile = root / f"b{i}"
            ctx = await pw.chromium.launch_persistent_context(
                str(profile), executable_path=BASELINE_CHROMIUM, headless=True
            )
            sessions.append((pw, ctx, driver, browser_pid(profile)))
            page = ctx.pages[0] if ctx.pages else await ctx.new_page()
            await page.goto(sim.url)
            qr = await page.wait_for_selector("#qr", timeout=300_000)
            await ctl.scan(await qr.get_attribute("data-ref") or "", f"55119400{i:05d}")
            await page.wait_for_function(
                "window.__simWA && window.__simWA.Stream.mode === 'MAIN'", timeout=300_000
            )
            loads.append(await heavy_load(sim, ctl, f"55119400{i:05d}", since))
        ready = time.monotonic() - t0
        await asyncio.sleep(settle)
        clients = [
            {
                "worker": 0.0,
                "driver": pss(psutil.Process(drv)) / MB,
                "chromium": tree_pss(b) / MB,
                "private": tree_uss(drv, b),
            }
            for _pw, _ctx, drv, b in sessions
        ]
        profiles = [client_profile(drv, b) for _pw, _ctx, drv, b in sessions]
        return {"clients": clients, "profiles": profiles, "loads": loads, "ready_s": ready}
    finally:
        for pw, ctx, _drv, _b in sessions:
            with contextlib.suppress(Exception):
                await ctx.close()
            with contextlib.suppress(Exception):
                await pw.stop()
        shutil.rmtree(root, ignore_errors=True)


async def sampled(d: Any, client: str) -> dict[str, Any] | None:
    st = await d.status(client)
    return st if st["memory_bytes"] is not None else None


def mean(clients: list[dict[str, float]], key: str) -> float:
    return sum(c[key] for c in clients) / len(clients)


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one side as one: their clients together, times and the daemon averaged."""
    out: dict[str, Any] = {
        k: [x for r in runs for x in r[k]] for k in ("clients", "profiles", "loads")
    }
    for k in ("ready_s", "daemon"):
        if all(k in r for r in runs):
            out[k] = sum(r[k] for r in runs) / len(runs)
    return out


async def measure(
    n: int, n_base: int, weight: str, settle: float, ab: str | None, rounds: int
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    sim = Simulator(host="127.0.0.1", port=0, weight=weight)
    await sim.start()
    mine: dict[str | None, list[dict[str, Any]]] = {None: [], ab: []}
    try:
        async with aiohttp.ClientSession() as http:
            ctl = SimControl(sim, http)
            for _ in range(rounds):  # alternating, so a drift of the machine hits both alike
                for tweak in [None, ab] if ab else [None]:
                    mine[tweak].append(await wamc_side(sim, ctl, n, settle, tweak))
            base = await baseline_side(sim, ctl, n_base, settle) if n_base else None
            _, heavy = await ctl.call("GET", "/control/heavy")
    finally:
        await sim.stop()
    exe = load_settings().resolved_browser_path() or "?"
    sides = [(f"wamc ({version(exe)}, wamc's flags)", merge(mine[None]))]
    if ab:
        label = json.loads(ab).get("label") or ab
        sides.append((f"wamc, changed: {label}", merge(mine[ab])))
    if base is not None:
        sides.append((f"baseline: plain Playwright + {version(BASELINE_CHROMIUM)}", base))
    return report(sides, heavy, weight, settle), sides


def total(side: dict[str, Any]) -> float:
    return sum(mean(side["clients"], k) for k in ("worker", "driver", "chromium"))


def private(side: dict[str, Any]) -> float:
    """Mean private (anonymous) PSS per client: what each further client adds."""
    return sum(v["anon"] for v in mean_profile(side["profiles"]).values())


def report(
    sides: list[tuple[str, dict[str, Any]]], heavy: dict[str, Any], weight: str, settle: float
) -> str:
    rows = []
    for name, side in sides:
        cl = side["clients"]
        parts = [mean(cl, k) for k in ("worker", "driver", "chromium")]
        loads = [x for x in side["loads"] if x is not None]
        rows.append(
            [
                name,
                len(cl),
                *(f"{p:.0f}" for p in parts),
                f"{sum(parts):.0f}",
                f"{private(side):.0f}",
                f"{side['ready_s']:.1f}",
                f"{sum(loads) / len(loads) / 1000:.1f}" if loads else "—",
            ]
        )
    headers = ["side", "clients", "worker MB", "driver MB", "Chromium MB", "per client MB"]
    md = table([*headers, "of it private MB", "all linked (s)", "heavy page load (s)"], rows)
    ours, *rest = sides
    for name, side in rest:
        md += f"\n\nPer-client PSS, wamc / {name}: **{total(ours[1]) / total(side):.2f}×**."
    daemon = ours[1]["daemon"]
    md += (
        f"\n\nPage: simulator, weight **{weight}**. Means over the clients; memory is PSS (shared "
        "pages split between sharers), measured after every client was linked (and, on the heavy "
        f"page, had loaded its account) and {settle:.0f} s idle; private: its anonymous part "
        "(smaps_rollup Pss_Anon), which does not shrink as clients share the binaries' text. "
        f"wamc's daemon: {daemon:.0f} MB PSS, not in the per-client figure. The baseline's Python "
        "host process is shared by its clients and not counted (in the baseline's favour)."
    )
    if weight == "heavy":
        pages = [p for p in heavy["pages"] if p["model_messages"]]
        msgs = min(p["idb_messages"] or 0 for p in pages)
        heaps = [p["heap_used"] / MB for p in pages if p["heap_used"]]
        md += (
            f" Heavy page: a {heavy['bundle_bytes'] / 1e6:.1f} MB bundle of "
            f"{heavy['model']['modules']} modules; every page held ≥ {msgs} messages in "
            f"IndexedDB; JS heap at the end of its first load (performance.memory, bucketed, "
            f"garbage included) {min(heaps):.0f}–{max(heaps):.0f} MB."
        )
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument(
        "--baseline", type=int, default=None, help="baseline clients (default: --clients; 0: none)"
    )
    parser.add_argument("--weight", choices=["light", "heavy"], default="light")
    parser.add_argument("--settle", type=float, default=20.0, help="idle seconds before measuring")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--profile", action="store_true", help="per process kind, too")
    parser.add_argument("--ab", default=None, help=argparse.SUPPRESS)  # bench-only A/B
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n_base = args.clients if args.baseline is None else args.baseline
    if n_base and not os.access(BASELINE_CHROMIUM, os.X_OK):
        parser.error(
            f"no baseline browser at {BASELINE_CHROMIUM}: run bash bench/setup-baseline.sh (or --baseline 0)"
        )
    md, sides = asyncio.run(
        measure(args.clients, n_base, args.weight, args.settle, args.ab, args.rounds)
    )
    if args.profile:
        md += "\n\nWhere it sits, per client (bench/memprofile.py, means):\n\n" + profile_table(
            [(name, mean_profile(side["profiles"])) for name, side in sides]
        )
    print(md)
    if not args.no_write:
        title = (
            TITLE
            if args.weight == "light"
            else "Memory per client, heavy page (bench/memory.py --weight heavy)"
        )
        write_section(title, md)


if __name__ == "__main__":
    main()

"""Scale: many connected clients on one daemon — memory per client, event latency under steady
incoming traffic, connect → QR; beside plain Playwright on the same page, in the same run.

1. Client 0 alone: connect → QR, then ``--reference`` messages one at a time (the event latency
   at rest, the reference for the loaded figure).
2. Clients linked ``--batch`` at a time (connect → QR event → scan → ``connected``) up to
   ``--idle-at``; ``--settle`` s idle; PSS per client (bench/memory.py's breakdown).
3. The rest linked up to ``--clients`` (linking stops, and the report says so, when the
   machine's available memory falls below 3 GiB); idle again (the CPU idle clients use is
   measured); PSS and USS per client at that size.
4. Each client's first message after linking, one round at the lowest ``--rate`` (a new chat
   on the page, code run for the first time: it costs more, so it is measured apart), then
   each ``--rate`` (lowest first) of incoming messages/s for ``--seconds`` s from the
   simulator, round-robin over every client, sent on a fixed schedule (open loop: a slow
   answer never slows the offered rate); each message's latency is simulator delivery (the
   control call sent) → its ``message`` event at one WebSocket consumer. The CPU each message
   costs, by process (daemon, workers, Chromium, simulator, harness), says what bounds the rate.
5. wamc shut down; the baseline: plain Playwright + Debian's full ``chromium`` (bench/memory.py's
   baseline, ``--baseline`` clients: a hundred would not fit in RAM) and its launch → QR shown.

Where connect → QR goes comes from the product's own log lines (bench/fleet.py log_marks).

The daemon runs with the product's timings (tests/support's faster heartbeats undone); the
admin API rate limit is raised only for the harness's own polling. Loopback only, bounded.

    .venv/bin/python -m bench.bench_scale --clients 200 --idle-at 100 --rate 50 100 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu_timeline import CpuTimeline, describe, worst_second  # noqa: E402
from bench.fleet import (  # noqa: E402
    CONTACT,
    MEMORY_FLOOR,
    START_MARKS,
    EventTap,
    SimProcess,
    client_cpu,
    fleet,
    link,
    load_average,
    log_marks,
    per_client_total,
    phases,
    product_env,
    pss_per_client,
    statuses,
    tree_cpu,
)
from bench.memory import BASELINE_CHROMIUM, baseline_side, pss  # noqa: E402
from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import Daemon, SimControl, wait_for  # noqa: E402
from wamc.config import Settings  # noqa: E402

TITLE = "Scale: 200 clients, memory, events under load, connect → QR (bench/bench_scale.py)"
PSS_TARGET_MB, PSS_TARGET_RATIO = 70.0, 0.25
P99_TARGET_MS, QR_TARGET_S, TARGET_RATE = 50.0, 1.0, 100.0


async def at_rest(ctl: SimControl, tap: EventTap, phone: str, n: int) -> list[float]:
    """Messages one at a time to one client: the event latency with nothing else going on."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        mid = await ctl.deliver(phone, CONTACT, f"at rest {i}")
        await wait_for(lambda m=mid: m in tap.messages, 30, 0.001, what="the event")
        out.append(tap.messages[mid] - t0)
    return out


async def traffic(
    ctl: SimControl, tap: EventTap, phones: list[str], rate: float, count: int
) -> dict[str, Any]:
    """``count`` messages at ``rate`` messages/s, round-robin over ``phones``, on a fixed
    schedule."""
    sent: dict[str, float] = {}
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        mid = await ctl.deliver(phones[i % len(phones)], CONTACT, f"load {i}")
        sent[mid] = t0

    psutil.cpu_percent()
    start, wall = time.perf_counter(), time.time()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    span = time.perf_counter() - start
    cpu = psutil.cpu_percent()
    with contextlib.suppress(AssertionError):  # what never came is counted, not raised
        await wait_for(lambda: all(m in tap.messages for m in sent), 60, 0.05, what="events")
    got = [m for m in sent if m in tap.messages]
    lat = [tap.messages[m] - sent[m] for m in got]
    return {
        "sent": len(sent),
        "span": span,
        "lat": lat,
        # (seconds into the run, wall clock, latency, message id): to match the product's logs
        "by_time": sorted(
            (sent[m] - start, wall + sent[m] - start, tap.messages[m] - sent[m], m) for m in got
        ),
        "missing": len(sent) - len(lat),
        "cpu": cpu,
    }


async def cpu_split(d: Daemon, sim: SimProcess, clients: list[str]) -> dict[str, float]:
    """CPU seconds used so far by the daemon alone, the clients' trees, the simulator and this
    harness: over the traffic, where each message's CPU goes (a profile by process)."""
    st = await statuses(d)
    parts = {"workers": 0.0, "Chromium": 0.0}
    for c in clients:
        if st[c]["pid"] and st[c]["browser_pid"]:
            cpu = client_cpu(st[c]["pid"], st[c]["browser_pid"])
            parts["workers"] += cpu["worker"]
            parts["Chromium"] += cpu["Chromium"]
    assert d.proc is not None and sim.proc is not None
    return {
        "daemon": tree_cpu(d.proc.pid) - sum(parts.values()),
        **parts,
        "simulator": tree_cpu(sim.proc.pid),
        "this harness": time.process_time(),
    }


async def baseline_qr(sim: SimProcess, n: int) -> list[float]:
    """Plain Playwright (a driver per client, as bench/memory.py's baseline) + full chromium,
    persistent profile: driver start → launch → the page's QR shown."""
    from playwright.async_api import async_playwright

    root = Path(tempfile.mkdtemp(prefix="wamc-scale-baseline-qr-"))
    out = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            pw = await async_playwright().start()
            try:
                ctx = await pw.chromium.launch_persistent_context(
                    str(root / f"q{i}"), executable_path=BASELINE_CHROMIUM, headless=True
                )
                page = ctx.pages[0] if ctx.pages else await ctx.new_page()
                await page.goto(sim.url)
                await page.wait_for_selector("#qr", timeout=60_000)
                out.append(time.perf_counter() - t0)
                await ctx.close()
            finally:
                await pw.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


async def wamc_side(sim: SimProcess, ctl: SimControl, a: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="wamc-scale-"))
    d = Daemon(home, sim, extra_env=product_env(a.clients, WAMC_ADMIN_RATE_PER_MINUTE="1000000"))
    tap = EventTap()
    phones = fleet(a.clients)
    clients = list(phones)
    out: dict[str, Any] = {"load_start": load_average()}
    try:
        await d.start()
        await tap.start(d)
        qr = await link(d, ctl, tap, dict(list(phones.items())[:1]), 1)
        out["rest"] = await at_rest(ctl, tap, phones[clients[0]], a.reference)
        t0 = time.monotonic()
        qr += await link(d, ctl, tap, dict(list(phones.items())[1 : a.idle_at]), a.batch)
        out["n_idle"] = len(qr)  # fewer than asked when memory ran short (fleet.MEMORY_FLOOR)
        await asyncio.sleep(a.settle)
        out["pss_idle"] = await pss_per_client(d, clients[: len(qr)])
        print(f"{len(qr)} linked, PSS {per_client_total(out['pss_idle']):.0f} MB", flush=True)
        if a.clients > a.idle_at and len(qr) == a.idle_at:
            qr += await link(d, ctl, tap, dict(list(phones.items())[a.idle_at :]), a.batch)
        out["n_full"] = len(qr)
        out["linked_s"] = time.monotonic() - t0
        await asyncio.sleep(a.settle)
        out["pss_full"] = await pss_per_client(d, clients[: len(qr)])
        idle0, w0 = await cpu_split(d, sim, clients[: len(qr)]), time.monotonic()
        await asyncio.sleep(a.settle)  # after the PSS reads: the idle share of a settled fleet
        idle1, w1 = await cpu_split(d, sim, clients[: len(qr)]), time.monotonic()
        idle = {k: (idle1[k] - idle0[k]) / (w1 - w0) for k in idle1}  # cores used while idle
        out["idle_cpu"] = idle
        out["qr"] = qr
        print(f"{len(qr)} linked, PSS {per_client_total(out['pss_full']):.0f} MB", flush=True)
        phones_linked = [phones[c] for c in clients[: len(qr)]]

        async def run_at(rate: float, count: int, name: str) -> dict[str, Any]:
            nonlocal tap
            if tap.ended:  # e.g. dropped as too slow while this harness measured memory
                print(f"event consumer {tap.ended}: a new one", flush=True)
                tap = EventTap()
                await tap.start(d)
            before, w0 = await cpu_split(d, sim, clients[: len(qr)]), time.monotonic()
            timeline = CpuTimeline(d.proc.pid, sim.proc.pid)  # type: ignore[union-attr]
            timeline.start()
            try:
                run = await traffic(ctl, tap, phones_linked, rate, count)
            finally:
                samples = timeline.stop()
            run["worst"] = worst_second(samples, run["by_time"])
            run["tap_ended"], run["rate"] = tap.ended, rate
            with contextlib.suppress(OSError):  # kept for a look after the run
                dump = Path(tempfile.gettempdir()) / f"bench-scale-latency-{name}.json"
                dump.write_text(json.dumps(run["by_time"]))
            after, w1 = await cpu_split(d, sim, clients[: len(qr)]), time.monotonic()
            run["cpu_ms"] = {  # the idle share taken out: CPU each message adds
                k: (after[k] - before[k] - idle[k] * (w1 - w0)) * 1000 / run["sent"] for k in after
            }
            return run

        # Each client's first message after linking costs more (a new chat on the page, code
        # run for the first time): one round, measured apart, then the steady runs.
        out["first"] = await run_at(a.rate[0], len(phones_linked), "first")
        out["runs"] = []
        for rate in a.rate:  # lowest first: a saturated run's queue never spills into another
            out["runs"].append(await run_at(rate, int(rate * a.seconds), f"{rate:g}"))
        out["daemon_mb"] = pss(psutil.Process(d.proc.pid)) / 2**20  # type: ignore[union-attr]
        out["load_end"] = load_average()
        marks = {"connect": ("daemon", "state stopped -> starting"), **START_MARKS}
        marks["QR"] = ("daemon", "state starting -> qr")
        out["phases"] = phases(log_marks(home, 0, marks), list(marks))
        return out
    finally:
        await tap.stop()
        with contextlib.suppress(Exception):
            await d.call("POST", "/api/shutdown")
        await d.close()
        with contextlib.suppress(OSError):  # kept for a look after the run
            shutil.copy(
                home / "logs" / "wamc.log", Path(tempfile.gettempdir()) / "bench-scale-daemon.log"
            )
        shutil.rmtree(home, ignore_errors=True)


async def measure(a: argparse.Namespace) -> str:
    sim = SimProcess()
    await sim.start()
    try:
        async with aiohttp.ClientSession() as http:
            ctl = SimControl(sim, http)  # type: ignore[arg-type]  # url is all it reads
            ours = await wamc_side(sim, ctl, a)
            base = await baseline_side(sim, ctl, a.baseline, a.settle)  # type: ignore[arg-type]
            base_qr = await baseline_qr(sim, a.baseline_qr)
    finally:
        await sim.stop()
    return report(a, ours, base, base_qr)


def latency_row(a: argparse.Namespace, ours: dict[str, Any], t: dict[str, Any]) -> list[str]:
    lat, rest = [x * 1000 for x in t["lat"]], [x * 1000 for x in ours["rest"]]
    p99 = percentile(lat, 99)
    below = t["rate"] < TARGET_RATE
    return [
        f"event latency, {t['rate']:g} msg/s over {ours['n_full']} clients for {a.seconds:g} s: "
        "p50 / p99 / max",
        f"{percentile(lat, 50):.1f} / **{p99:.1f}** / {max(lat, default=float('nan')):.1f} ms "
        f"({len(lat)} events, {t['missing']} missing"
        + (f"; the consumer's socket was {t['tap_ended']}" if t.get("tap_ended") else "")
        + ")",
        f"{percentile(rest, 50):.1f} / {percentile(rest, 99):.1f} / {max(rest):.1f} ms "
        f"(client 0 alone, {len(rest)} messages one at a time)",
        f"p99 ≤ {P99_TARGET_MS:.0f} ms, none missing"
        + (f" (the target is at {TARGET_RATE:g} msg/s)" if below else ""),
        verdict(p99 <= P99_TARGET_MS and t["missing"] == 0) + (" at this rate" if below else ""),
    ]


def first_row(ours: dict[str, Any]) -> list[str]:
    t = ours["first"]
    lat = [x * 1000 for x in t["lat"]]
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in t["cpu_ms"].items())
    return [
        f"each client's first message after linking, one round at {t['rate']:g} msg/s "
        "(before the steady runs): p50 / p99 / max",
        f"{percentile(lat, 50):.1f} / {percentile(lat, 99):.1f} / "
        f"{max(lat, default=float('nan')):.1f} ms ({len(lat)} events, {t['missing']} missing); "
        f"CPU per message (ms): {cpu}",
        "—",
        "—",
        "",
    ]


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def report(
    a: argparse.Namespace, ours: dict[str, Any], base: dict[str, Any], bqr: list[float]
) -> str:
    base_mb = per_client_total(base["clients"])
    idle, full = per_client_total(ours["pss_idle"]), per_client_total(ours["pss_full"])
    private = sum(c["private"] for c in ours["pss_full"]) / len(ours["pss_full"])
    base_private = sum(c["private"] for c in base["clients"]) / len(base["clients"])
    qr50 = percentile(ours["qr"], 50)
    idle_c = sum(ours["idle_cpu"][k] for k in ("workers", "Chromium"))
    per_message = sum(ours["runs"][0]["cpu_ms"].values())
    ceiling = (os.cpu_count() or 1) * 1000 / per_message if per_message > 0 else float("nan")

    def parts(side: list[dict[str, float]]) -> str:
        m = {k: sum(c[k] for c in side) / len(side) for k in ("worker", "driver", "chromium")}
        return f"worker {m['worker']:.0f} + driver {m['driver']:.0f} + Chromium {m['chromium']:.0f}"

    rows = [
        [
            f"PSS per connected idle client, {ours['n_idle']} clients",
            f"**{idle:.0f} MB** ({parts(ours['pss_idle'])}); {idle / base_mb:.2f}× the baseline",
            f"{base_mb:.0f} MB ({a.baseline} clients: {parts(base['clients'])})",
            f"≤ {PSS_TARGET_MB:.0f} MB and ≤ {PSS_TARGET_RATIO}×",
            verdict(idle <= PSS_TARGET_MB and idle / base_mb <= PSS_TARGET_RATIO),
        ],
        [
            f"PSS per connected idle client, {ours['n_full']} clients",
            f"**{full:.0f} MB** ({parts(ours['pss_full'])}); {full / base_mb:.2f}× the baseline",
            f"{base_mb:.0f} MB (as above)",
            "—",
            "",
        ],
        [
            f"memory only each client holds (USS, mean), {ours['n_full']} clients",
            f"{private:.0f} MB; {private / base_private:.2f}× the baseline; all clients' PSS "
            f"together {full * ours['n_full'] / 1024:.1f} GiB",
            f"{base_private:.0f} MB",
            "—",
            "",
        ],
        first_row(ours),
        *[latency_row(a, ours, run) for run in ours["runs"]],
        [
            f"connect → QR, all {ours['n_full']} clients: p50 / p95 / max",
            f"**{qr50:.2f}** / {percentile(ours['qr'], 95):.2f} / {max(ours['qr']):.2f} s",
            f"{percentile(bqr, 50):.2f} / {max(bqr):.2f} s p50 / max (plain Playwright: driver "
            f"start → launch → QR shown, {len(bqr)} runs)",
            f"p50 ≤ {QR_TARGET_S:.0f} s",
            verdict(qr50 <= QR_TARGET_S),
        ],
    ]
    md = table(["measure", "wamc", "baseline (same run)", "target", "result"], rows)
    if ours["n_full"] < a.clients:
        md += (
            f"\n\n**{a.clients} clients did not fit:** linking stopped at {ours['n_full']}, "
            f"when the machine's available memory fell below {MEMORY_FLOOR / 2**30:.0f} GiB "
            f"({psutil.virtual_memory().total / 2**30:.0f} GiB in all); at the USS measured, "
            f"{a.clients} clients need at least {private * a.clients / 1024:.1f} GiB."
        )
    start_c = Settings().start_concurrency
    md += (
        f"\n\nClients linked {a.batch} at a time after client 0 (connect → QR event → scan → "
        f"`connected`; `WAMC_START_CONCURRENCY` {os.environ.get('WAMC_START_CONCURRENCY', start_c)}"
        f"), all {ours['n_full']} in {ours['linked_s']:.0f} s. Connect → QR: the API call sent → the "
        "`client.qr` event at the WebSocket consumer (worker spawn, Chromium, page load, "
        "wa-js injected, QR read); where it goes, from the product's own log lines: "
        f"{ours['phases']}. Memory: PSS (shared pages split between sharers), means over "
        f"the clients after {a.settle:g} s idle; the baseline is bench/memory.py's (plain "
        "Playwright, one driver per client, Debian's full `chromium`, default flags, persistent "
        f"profile, same page), run after wamc shut down, with {a.baseline} clients because a "
        "hundred would not fit in RAM; with fewer sharers its PSS carries a larger share of what "
        "its clients share, so the USS row (what each client holds alone, whatever the count) "
        "is the like-for-like comparison. wamc's daemon: "
        f"{ours['daemon_mb']:.0f} MB PSS, not in the per-client figure. Traffic: "
        f"{a.seconds:g} s at each of " + ", ".join(f"{r:g}" for r in a.rate) + " "
        "messages/s offered on a fixed schedule (open loop), latency from the "
        "simulator's control call sent to the `message` event at one WebSocket consumer (the "
        "simulator runs in its own process); machine CPU during each run: "
        + ", ".join(f"{r['cpu']:.0f} % at {r['rate']:g} msg/s" for r in ours["runs"])
        + f" of {os.cpu_count()} cores; "
        + "CPU per message by process (the idle share taken out; what a process spent below "
        "its idle share shows as a negative figure): "
        + "; ".join(
            f"at {r['rate']:g} msg/s "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in r["cpu_ms"].items())
            + f" (together {sum(r['cpu_ms'].values()):.1f} ms)"
            for r in ours["runs"]
        )
        + f"; at the lowest rate that is a ceiling near {ceiling:.0f} messages/s on this "
        "machine if nothing else ran. Where the CPU was when events queued "
        "(bench/cpu_timeline.py, cores each kind of process used, sampled every second during "
        "the run): "
        + "; ".join(f"at {r['rate']:g} msg/s {describe(r['worst'])}" for r in ours["runs"])
        + ". Idle, "
        f"before the traffic: the {ours['n_full']} clients used {idle_c:.2f} cores "
        f"({idle_c / ours['n_full'] * 100:.2f} % of a core each), the daemon "
        f"{ours['idle_cpu']['daemon']:.2f}. Daemon at the product's default timings; only the admin API rate "
        "limit is raised, for the harness's own polling. Run as root (`WAMC_ALLOW_ROOT=1`, "
        f"Chromium without its sandbox). Load average (1/5/15 min): {ours['load_start']} at the "
        f"start, {ours['load_end']} after the traffic."
    )
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--idle-at", type=int, default=None, help="first PSS at (default: all)")
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[10.0], help="incoming messages/s (one run each)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="of traffic")
    parser.add_argument("--batch", type=int, default=2, help="clients connected at once")
    parser.add_argument("--settle", type=float, default=20.0, help="idle seconds before PSS")
    parser.add_argument("--reference", type=int, default=50, help="messages at rest")
    parser.add_argument("--baseline", type=int, default=5, help="baseline clients (PSS)")
    parser.add_argument("--baseline-qr", type=int, default=3, help="baseline launch → QR runs")
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
    a.idle_at = min(a.idle_at or a.clients, a.clients)
    a.rate = sorted(a.rate)
    if not os.access(BASELINE_CHROMIUM, os.X_OK):
        parser.error(
            f"no baseline browser at {BASELINE_CHROMIUM}: run bash bench/setup-baseline.sh"
        )
    if a.baseline < 1 or a.baseline_qr < 1 or a.clients < 1:
        parser.error("--clients, --baseline and --baseline-qr must be at least 1")
    md = asyncio.run(measure(a))
    print(md)
    if not a.no_write:
        write_section(TITLE, md)


if __name__ == "__main__":
    main()

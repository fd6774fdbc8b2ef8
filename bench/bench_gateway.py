"""Gateway: status requests/s beside a bare aiohttp handler, and the send round trip.

1. ``GET /api/clients/{id}/status`` of a connected client, with the key (authentication, rate
   limit accounting and the audit it really does), against a bare aiohttp handler in its own
   process answering the same bytes. Same load generator, same concurrency, alternating rounds;
   the ratio is of the medians. Beside it, the server's CPU time per request (from
   /proc/<pid>/stat): on a shared machine it moves much less than requests/s do.
2. ``POST /api/clients/{id}/send-message`` round trip to the simulator's WhatsApp and back
   (201 with the message id), one at a time, with send pacing and rate limits switched off.

Needs wrk (Debian package ``wrk``; installed by this script when run as root).
Loopback only, bounded.   .venv/bin/python -m bench.bench_gateway --seconds 5 --sends 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import percentile, table, write_section  # noqa: E402
from tests.support import API_KEY, Daemon, SimControl, free_port, wait_for  # noqa: E402
from wamc.simulator import Simulator  # noqa: E402

PHONE = "5511900007101"
CONTACT = "5511900007199"
CONCURRENCY = 16
UNPACED = {
    "WAMC_SEND_INTERVAL": "0",
    "WAMC_SEND_JITTER": "0",
    "WAMC_API_RATE_PER_MINUTE": "10000000",
    "WAMC_API_RATE_BURST": "10000000",
    "WAMC_ADMIN_RATE_PER_MINUTE": "10000000",
}


def ensure_wrk() -> str:
    """wrk (Debian package ``wrk``), installed here when missing and run as root."""
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        sys.exit("bench_gateway needs wrk: apt-get install -y wrk")
    return found


async def load(url: str, seconds: float, headers: dict[str, str]) -> tuple[float, float, float]:
    """wrk (one thread, CONCURRENCY keep-alive connections) for ``seconds``: requests/s and
    the p50 and p99 latency in ms. Non-2xx answers fail the run."""
    cmd = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds:.0f}s", "--latency", url]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    assert "Non-2xx" not in out and proc.returncode == 0, out
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]  # wrk always prints it

    def ms(q: str) -> float:
        value, unit = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)$", out, re.M).groups()  # type: ignore[union-attr]  # --latency prints it
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rps, ms("50"), ms("99")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bare_server(body: bytes, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    path = home / "status.json"
    path.write_bytes(body)
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [sys.executable, "-m", "bench.bare_aiohttp", "--port", str(port), "--body", str(path)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{base}/api/clients/x/status") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(up, 20, what="the bare aiohttp server")
    return proc, base


async def main(seconds: float, rounds: int, sends: int) -> str:
    home = Path(tempfile.mkdtemp(prefix="wamc-bench-gateway-"))
    simulator = Simulator(host="127.0.0.1", port=0)
    await simulator.start()
    d = Daemon(home, simulator, extra_env=UNPACED)
    bare = None
    try:
        await d.start()
        async with aiohttp.ClientSession() as http:
            await d.connect_scanned(SimControl(simulator, http), "bench", PHONE)
            assert d.http is not None
            async with d.http.get(f"{d.base}/api/clients/bench/status") as res:
                body = await res.read()
            bare, bare_base = await bare_server(body, home)
            runs: dict[str, list[tuple[float, float, float]]] = {"bare": [], "wamc": []}
            assert d.proc is not None
            pids = {"bare": bare.pid, "wamc": d.proc.pid}
            cpu: dict[str, list[float]] = {"bare": [], "wamc": []}
            targets = {
                "bare": (f"{bare_base}/api/clients/bench/status", {}),
                "wamc": (f"{d.base}/api/clients/bench/status", {"X-Api-Key": API_KEY}),
            }
            for url, headers in targets.values():
                await load(url, 1.0, headers)  # warm-up
            for _ in range(rounds):
                for name, (url, headers) in targets.items():
                    before = cpu_seconds(pids[name])
                    runs[name].append(await load(url, seconds, headers))
                    used = cpu_seconds(pids[name]) - before
                    cpu[name].append(used / (runs[name][-1][0] * seconds) * 1e6)
                    print(f"{name}: {runs[name][-1]} {cpu[name][-1]:.1f} µs CPU", flush=True)
            sent = await send_round_trips(d, sends)
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(10)
        await d.close()
        await simulator.stop()
    median = {name: statistics.median(r[0] for r in runs[name]) for name in runs}
    ratio = median["wamc"] / median["bare"]
    rows = [
        [
            name,
            " / ".join(f"{r[0]:.0f}" for r in runs[name]),
            f"{median[name]:.0f}",
            f"{statistics.median(r[1] for r in runs[name]):.2f}",
            f"{statistics.median(r[2] for r in runs[name]):.2f}",
            f"{statistics.median(cpu[name]):.1f}",
        ]
        for name in ("bare", "wamc")
    ]
    cpu_ratio = statistics.median(cpu["bare"]) / statistics.median(cpu["wamc"])
    return (
        f"`GET /api/clients/{{id}}/status` of a connected client, wrk with one thread and "
        f"{CONCURRENCY} keep-alive connections, {rounds} alternating rounds of {seconds:.0f} s "
        "each (wrk shares the machine's cores with the server). wamc answers with the key checked, the rate limit accounted and "
        "the audit rules applied; the bare handler answers the same bytes.\n\n"
        + table(
            ["server", "req/s per round", "median req/s", "p50 (ms)", "p99 (ms)", "CPU µs/req"],
            rows,
        )
        + f"\n\nwamc / bare aiohttp: **{ratio:.2f}×** (by the server's CPU time per request: "
        f"{cpu_ratio:.2f}×)\n\n"
        f"`send-message` round trip (HTTP → worker → simulated WhatsApp → 201), {sends} sends "
        "one at a time, pacing and rate limits off (`WAMC_SEND_INTERVAL=0`, "
        "`WAMC_SEND_JITTER=0`, rate limits raised):\n\n"
        + table(
            ["sends", "p50 (ms)", "p95 (ms)", "max (ms)"],
            [
                [
                    len(sent),
                    f"{percentile(sent, 50) * 1000:.1f}",
                    f"{percentile(sent, 95) * 1000:.1f}",
                    f"{max(sent) * 1000:.1f}",
                ]
            ],
        )
    )


async def send_round_trips(d: Daemon, n: int) -> list[float]:
    samples = []
    for i in range(n + 5):
        started = time.perf_counter()
        code, body = await d.call(
            "POST", "/api/clients/bench/send-message", json={"to": CONTACT, "text": f"rt {i}"}
        )
        assert code == 201, body
        if i >= 5:  # warm-up
            samples.append(time.perf_counter() - started)
    return samples


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    ensure_wrk()
    out = asyncio.run(main(args.seconds, args.rounds, args.sends))
    print(out)
    if not args.no_write:
        write_section(
            "Gateway: status beside bare aiohttp, send round trip (bench/bench_gateway.py)", out
        )

"""Shared by bench/bench_scale.py and bench/bench_restore.py: many clients on one real daemon.

The simulator runs in a process of its own (``wamc simulator``), so the bench process only plays
the operator and times: one WebSocket consumer (:class:`EventTap`) stamps every ``client.qr``,
``client.state`` and ``message`` event as it arrives. Clients are linked in batches (connect →
QR event → scan → ``connected``); each connect → QR is a sample. :func:`power_loss` is the
"machine rebooted": every process of the run frozen, then SIGKILLed, ``sessions/`` kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.memory import breakdown, tree_uss
from tests.support import API_KEY, REPO, Daemon, SimControl, free_port, processes_under, wait_for
from wamc.config import Settings
from wamc.simulator.server import WAJS_PATH

CONTACT = "5511900008999"  # who writes to every client
MEMORY_FLOOR = 3 * 2**30  # bytes left available: daemon, simulator, this script, spikes


class SimProcess:
    """``wamc simulator`` as a subprocess on a free loopback port (url/wajs_path/weight like
    :class:`wamc.simulator.Simulator`, so :class:`Daemon` and bench/memory.py take it)."""

    weight = "light"

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.wajs_path = str(WAJS_PATH)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="wamc-bench-sim-", suffix=".log")[1])

    async def start(self) -> None:
        cmd = [sys.executable, "-m", "wamc.cli", "simulator", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

        async def up() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                async with aiohttp.ClientSession() as s, s.get(self.url) as r:
                    return r.status == 200
            return False

        await wait_for(up, 30, 0.2, what="the simulator")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


class EventTap:
    """One WebSocket consumer of every client's events, each stamped (perf_counter) on arrival."""

    def __init__(self) -> None:
        self.qr: dict[str, tuple[float, str]] = {}  # client → (arrival, first QR payload)
        self.state: dict[str, str] = {}  # client → last state
        self.messages: dict[str, float] = {}  # message id → arrival
        self.task: asyncio.Task[None] | None = None
        self.ended: str | None = None  # why the socket ended before stop() (none: still open)

    async def start(self, d: Daemon) -> None:
        ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(d, ready))
        await asyncio.wait_for(ready.wait(), 15)

    async def _run(self, d: Daemon, ready: asyncio.Event) -> None:
        url = f"{d.base}/ws?events=client.qr,client.state,message"
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(url, headers={"X-Api-Key": API_KEY}, max_msg_size=0) as ws,
        ):
            ready.set()
            async for msg in ws:
                now = time.perf_counter()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                ev = json.loads(msg.data)
                name, client, data = ev.get("event"), ev.get("client"), ev.get("data") or {}
                if name == "message":
                    self.messages.setdefault(data.get("id", ""), now)
                elif name == "client.qr" and client not in self.qr:
                    self.qr[client] = (now, data["qr"])
                elif name == "client.state":
                    self.state[client] = data["state"]
            self.ended = f"closed by the daemon: {ws.close_code} {ws.exception() or ''}".strip()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def product_env(clients: int, **extra: str) -> dict[str, str]:
    """The daemon's own defaults where tests/support's Daemon sets faster test timings, so a
    benchmark measures the product as shipped (plus ``extra``); the client limit raised to
    ``clients`` when the run needs more than the default allows."""
    s = Settings()
    return {
        "WAMC_MAX_CLIENTS": str(max(clients, s.max_clients)),
        "WAMC_HEARTBEAT_INTERVAL": str(s.heartbeat_interval),
        "WAMC_HEARTBEAT_TIMEOUT": str(s.heartbeat_timeout),
        "WAMC_RESTART_BACKOFF_BASE": str(s.restart_backoff_base),
        **extra,
    }


def fleet(n: int) -> dict[str, str]:
    """``n`` client ids and the phone each one is linked to."""
    return {f"c{i:03d}": f"55119300{i:05d}" for i in range(n)}


async def link(
    d: Daemon, ctl: SimControl, tap: EventTap, phones: dict[str, str], batch: int
) -> list[float]:
    """Connect and link the clients of ``phones``, ``batch`` at a time; each one's connect → QR
    (seconds: the API call sent → its ``client.qr`` event at the consumer), in order. Stops
    early (fewer samples: the first ones linked) when the machine's available memory falls
    below ``MEMORY_FLOOR``: a shared machine is never pushed into the OOM killer."""
    clients = list(phones)

    async def one(c: str) -> float:
        t0 = time.perf_counter()
        code, body = await d.call("POST", f"/api/clients/{c}/connect")
        assert code == 202, body
        arrived, qr = await wait_for(lambda: tap.qr.get(c), 120, 0.02, what=f"a QR for {c}")
        await ctl.scan(qr, phones[c])
        await wait_for(lambda: tap.state.get(c) == "connected", 120, 0.05, what=f"{c} linked")
        return arrived - t0

    took: list[float] = []
    for k in range(0, len(clients), batch):
        if (free := psutil.virtual_memory().available) < MEMORY_FLOOR:
            print(f"stopped linking at {clients[k]}: {free / 2**30:.1f} GiB available", flush=True)
            break
        took += await asyncio.gather(*(one(c) for c in clients[k : k + batch]))
    return took


async def statuses(d: Daemon) -> dict[str, dict[str, Any]]:
    code, body = await d.call("GET", "/api/clients")
    assert code == 200, body
    return {c["id"]: c for c in body["clients"]}


async def pss_per_client(d: Daemon, clients: list[str]) -> list[dict[str, float]]:
    """Worker, driver and Chromium PSS (MB) of each client (bench/memory.py's breakdown)."""

    async def sampled() -> dict[str, dict[str, Any]] | None:
        st = await statuses(d)  # the API samples in the background: wait for its first figures
        return st if all(st[c]["memory_bytes"] is not None for c in clients) else None

    st = await wait_for(sampled, 120, 0.5, what="memory figures of every client")
    out = []
    for c in clients:
        parts = await asyncio.to_thread(breakdown, st[c]["pid"], st[c]["browser_pid"])
        parts["private"] = await asyncio.to_thread(tree_uss, st[c]["pid"], st[c]["browser_pid"])
        out.append(parts)
    return out


def _tree(*roots: int) -> list[psutil.Process]:
    procs: dict[int, psutil.Process] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            procs |= {p.pid: p for p in [root, *root.children(recursive=True)]}
    return list(procs.values())


def tree_cpu(*roots: int) -> float:
    """CPU seconds (user + system) the processes under ``roots`` have used so far."""
    total = 0.0
    for p in _tree(*roots):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def client_cpu(worker_pid: int, browser_pid: int) -> dict[str, float]:
    """CPU seconds so far of a client's worker and its Chromium tree (the worker drives
    Chromium itself: no driver process)."""
    out = {"worker": 0.0, "Chromium": tree_cpu(browser_pid)}
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(worker_pid).cpu_times()
        out["worker"] = t.user + t.system
    return out


def per_client_total(parts: list[dict[str, float]]) -> float:
    return sum(p["worker"] + p["driver"] + p["chromium"] for p in parts) / len(parts)


def run_tree(home: Path) -> set[int]:
    """The run's processes (tests/support's processes_under) and all their descendants
    (Chromium's renderers and helpers), zombies and this process left out."""
    found: set[int] = set()
    for p in processes_under(home):
        try:
            kids = p.children(recursive=True)
        except psutil.Error:  # gone meanwhile
            kids = []
        for q in [p, *kids]:
            with contextlib.suppress(psutil.Error):
                if q.pid != os.getpid() and q.status() != psutil.STATUS_ZOMBIE:
                    found.add(q.pid)
    return found


def power_loss(d: Daemon) -> set[int]:
    """Every process of the run (daemon, workers, drivers, Chromium) frozen — again until no
    new one shows up — then all SIGKILLed: none sees another die and reacts, as when the
    power goes. Their pids."""
    assert d.proc is not None
    frozen: set[int] = set()
    while new := (run_tree(d.home) | {d.proc.pid}) - frozen:
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        frozen |= new
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    d.proc.wait()
    return frozen


def all_gone(home: Path, pids: set[int]) -> bool:
    """None of ``pids`` alive (zombies awaiting their reaper count as gone), none of the run."""
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
    return not run_tree(home)


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)Z \w+\s+\[([^\]]+)\] (.*)$")
Mark = tuple[str, str]  # ("daemon" | "worker", text the line contains; "" = any line)
START_MARKS: dict[str, Mark] = {  # a worker's start, in the order they happen
    "worker spawned": ("daemon", "worker started (pid"),
    "worker's first log line": ("worker", ""),
    "browser launch": ("worker", "starting browser"),
    "browser up": ("worker", "browser started (pid"),
}


def log_marks(home: Path, since: float, marks: dict[str, Mark]) -> dict[str, dict[str, float]]:
    """client → mark → wall time of its first log line at or after ``since`` that has the
    mark's text: logs/wamc.log (the daemon's lines about a client) and logs/clients/<id>.log
    (the worker's own). The product's own timestamps: where the time goes, without a guess."""
    found: dict[str, dict[str, float]] = {}
    files = [("daemon", home / "logs" / "wamc.log")]
    files += [("worker", f) for f in sorted((home / "logs" / "clients").glob("*.log"))]
    for where, path in files:
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                m = LOG_LINE.match(line)
                if m is None:
                    continue
                ts = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
                if ts.timestamp() < since:
                    continue
                for name, (side, text) in marks.items():
                    if side == where and text in m[3]:
                        found.setdefault(m[2], {}).setdefault(name, ts.timestamp())
    return found


def phases(found: dict[str, dict[str, float]], order: list[str]) -> str:
    """Median time between consecutive marks over the clients that logged them all."""
    full = [f for f in found.values() if all(k in f for k in order)]
    if not full:
        return "(not in the logs)"
    steps = []
    for a, b in itertools.pairwise(order):
        steps.append(f"{a} → {b} {statistics.median(f[b] - f[a] for f in full):.2f} s")
    return "; ".join(steps) + f" (medians over {len(full)} clients)"

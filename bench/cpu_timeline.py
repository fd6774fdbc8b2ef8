"""Cores used by each kind of process, second by second, while a benchmark runs: where the CPU
goes at the moment events queue up (bench/bench_scale.py), not only on average.

A thread reads ``/proc/<pid>/stat`` of every process once per ``interval`` (≈ 25 ms of CPU for
1,000 processes, counted in the harness's own share) and sums the CPU time each kind used."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
KINDS = ("daemon", "workers", "Chromium browser", "Chromium renderer", "simulator", "harness")


def _cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class CpuTimeline:
    """``start()``, then ``stop()`` returns ``[{"t": wall clock, kind: cores, ...}, ...]``."""

    def __init__(self, daemon_pid: int, simulator_pid: int, interval: float = 1.0) -> None:
        self.known = {daemon_pid: "daemon", simulator_pid: "simulator", os.getpid(): "harness"}
        self.interval = interval
        self.samples: list[dict[str, float]] = []
        self._kind: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-timeline", daemon=True)

    def kind(self, pid: int) -> str:
        found = self._kind.get(pid)
        if found is None:
            cmd = _cmdline(pid)
            found = self.known.get(pid) or (
                ("Chromium renderer" if "--type=renderer" in cmd else "Chromium browser")
                if "chromium" in cmd
                else "workers"
                if "-m workers" in cmd
                else "other"
            )
            self._kind[pid] = found
        return found

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[dict[str, float]]:
        self._stop.set()
        self._thread.join()
        return self.samples

    def _run(self) -> None:
        before: dict[int, int] = {}
        last = time.monotonic()
        while not self._stop.wait(max(0.0, self.interval - (time.monotonic() - last))):
            now = time.monotonic()
            spent: dict[str, float] = dict.fromkeys(KINDS, 0.0)
            current: dict[int, int] = {}
            for name in os.listdir("/proc"):
                if name.isdigit():
                    ticks = _cpu_ticks(int(name))
                    if ticks is not None:
                        current[int(name)] = ticks
            for pid, ticks in current.items():
                if pid in before:
                    kind = self.kind(pid)
                    spent[kind] = spent.get(kind, 0.0) + (ticks - before[pid]) / TICKS
            if before:
                cores = {k: v / (now - last) for k, v in spent.items()}
                self.samples.append({"t": time.time(), **cores})
            before, last = current, now


def worst_second(samples: list[dict[str, float]], by_time: list[Any]) -> dict[str, Any] | None:
    """The second whose messages waited longest (their median), with the cores each kind used
    then, beside the mean over the run. ``by_time``: bench_scale's (offset, wall, latency, id)."""
    if not samples or not by_time:
        return None
    waits: dict[int, list[float]] = {}
    for offset, _, latency, _ in by_time:
        waits.setdefault(int(offset), []).append(latency)
    second, lat = max(waits.items(), key=lambda kv: sorted(kv[1])[len(kv[1]) // 2])
    start = by_time[0][1] - by_time[0][0]  # the run's start, wall clock
    near = min(samples, key=lambda s: abs(s["t"] - (start + second + 1)))  # ending after it
    run = [s for s in samples if start <= s["t"] <= by_time[-1][1] + 1]
    mean = {k: sum(s.get(k, 0.0) for s in run) / max(len(run), 1) for k in near if k != "t"}
    return {
        "p50_ms": sorted(lat)[len(lat) // 2] * 1000,
        "at_s": second,
        "then": {k: v for k, v in near.items() if k != "t"},
        "mean": mean,
    }


def describe(worst: dict[str, Any] | None) -> str:
    if worst is None:
        return "no timeline"
    parts = ", ".join(
        f"{k} {worst['then'][k]:.2f} ({worst['mean'][k]:.2f})"
        for k in worst["then"]
        if worst["then"][k] >= 0.01 or worst["mean"][k] >= 0.01
    )
    total, mean = sum(worst["then"].values()), sum(worst["mean"].values())
    return (
        f"the worst second ({worst['at_s']:.0f} s in, its messages' median wait "
        f"{worst['p50_ms']:.0f} ms): cores by process kind {parts}, together {total:.2f} "
        f"({mean:.2f}) — the run's mean in brackets"
    )

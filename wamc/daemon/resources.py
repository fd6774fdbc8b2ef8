"""Memory and CPU of a client's whole process tree: the worker and its Chromium.

Chromium runs in a session of its own (Playwright starts it detached), so the tree is the union of
the worker's descendants and the browser's main process with its descendants.

Memory is the proportional set size (PSS: shared pages split between the processes sharing them,
so ten Chromium renderers do not count their shared libraries ten times), falling back to RSS when
``/proc/<pid>/smaps_rollup`` cannot be read. CPU is percent of one core summed over the tree,
measured between two samples (so it can exceed 100 on several cores).

Reading PSS costs the kernel a walk of each process's page tables (≈ 1.5 ms per Chromium process;
with 100 clients an open dashboard kept a core's third busy re-reading it every 2 s, most of the
daemon's CPU while 100 clients restored), so each process's PSS is re-read only every
``MEMORY_TTL`` seconds (memory moves slowly; CPU, cheap to read, keeps ``ttl``), and ``usage`` answers from a cache and, when that is older than ``ttl``, asks one background
thread to sample every tree asked for recently (one scan of /proc for the parent links, then each
process). Only a tree never sampled before (a worker just started) is sampled on the caller's
thread, within a budget of ``SYNC_BUDGET`` seconds per second; past it, or while the background
thread holds a tree, it reads as ``None`` until a background pass samples it (the pass rests
between trees, so with 200 clients that can take a few seconds).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

DEFAULT_TTL = 2.0
# Seconds a process's PSS is reused before it is read again. With 200 clients a re-read of
# every PSS is ≈ 1 s of kernel time in the daemon: at 20 s it came as a burst that held 100
# msg/s of events for up to a second (bench/cpu_timeline.py's worst seconds: the daemon at 0.6
# cores, twice its mean). Memory moves slowly; the recycler's ceiling can wait a minute.
MEMORY_TTL = 60.0
SYNC_BUDGET = 0.05  # seconds of first samples on the caller's thread, per second
# A pass over 200 trees held the GIL long enough to queue the daemon's events for seconds
# (bench/bench_scale.py, 50 msg/s over 200 clients: p99 2.6 s; without the pass 0.6 s). The
# thread rests between trees at least PACE and as long as the tree's CPU took (up to MAX_REST):
# at most about half a core.
PACE = 0.002
MAX_REST = 0.05
EMPTY: dict[str, Any] = {"memory_bytes": None, "cpu_percent": None}

Key = tuple[int, ...]


class TreeSampler:
    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[Key, tuple[float, dict[str, Any]]] = {}
        self._wanted: dict[Key, float] = {}
        self._running = False
        self._executor: ThreadPoolExecutor | None = None
        self._sampling = threading.Lock()  # held by whoever touches _procs
        self._procs: dict[int, psutil.Process] = {}
        self._memory: dict[int, tuple[float, int]] = {}  # pid → (when read, PSS bytes)
        self._budget_window = 0.0
        self._budget_spent = 0.0

    # --- callers (any thread, never blocks on /proc) ---------------------------------------------
    def usage(self, roots: Iterable[int | None]) -> dict[str, Any]:
        """``{"memory_bytes", "cpu_percent"}`` of the trees under ``roots`` (cached)."""
        key = tuple(sorted({r for r in roots if r}))
        if not key:
            return dict(EMPTY)
        now = time.monotonic()
        with self._lock:
            self._wanted[key] = now
            hit = self._cache.get(key)
        if hit is None:
            first = self._first_sample(key, now)
            if first is not None:
                return dict(first)
        with self._lock:
            if (hit is None or now - hit[0] >= self.ttl) and not self._running:
                self._running = True
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="wamc-resources")
                self._executor.submit(self._refresh)
        return dict(hit[1]) if hit else dict(EMPTY)

    def _first_sample(self, key: Key, now: float) -> dict[str, Any] | None:
        """Sample a new tree right away, within the budget and if no one else is sampling."""
        if now - self._budget_window >= 1.0:
            self._budget_window, self._budget_spent = now, 0.0
        if self._budget_spent >= SYNC_BUDGET or not self._sampling.acquire(blocking=False):
            return None
        try:
            result = self._sample(key, _descendants(key))
        finally:
            self._sampling.release()
            self._budget_spent += time.monotonic() - now
        with self._lock:
            self._cache[key] = (time.monotonic(), result)
        return result

    def sample_now(self, roots: Iterable[int | None]) -> dict[str, Any]:
        """Sample synchronously (tools and tests; the daemon uses ``usage``)."""
        key = tuple(sorted({r for r in roots if r}))
        if not key:
            return dict(EMPTY)
        with self._sampling:
            return self._sample(key, _children_map())

    # --- the sampling thread ------------------------------------------------------------------
    def _refresh(self) -> None:
        try:
            now = time.monotonic()
            horizon = max(30.0, 10 * self.ttl)
            with self._lock:
                for key in [k for k, t in self._wanted.items() if now - t > horizon]:
                    del self._wanted[key]
                    self._cache.pop(key, None)
                keys = list(self._wanted)
            children = _children_map()
            for key in keys:
                began = time.thread_time()  # this thread's CPU (the kernel's PSS walk included)
                with self._sampling:  # not held while resting: a first sample may run then
                    result = self._sample(key, children)
                with self._lock:
                    self._cache[key] = (time.monotonic(), result)
                time.sleep(min(MAX_REST, max(PACE, time.thread_time() - began)))
            with self._sampling:
                alive = {pid for pids in children.values() for pid in pids} | set(children)
                gone = [p for p, proc in self._procs.items() if p not in alive]
                for pid in [p for p in gone if not self._procs[p].is_running()]:  # not a new one
                    del self._procs[pid]
                    self._memory.pop(pid, None)
        finally:
            with self._lock:
                self._running = False

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is not None and proc.is_running():
            return proc
        self._memory.pop(pid, None)  # a new process (or a reused pid): its own PSS
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # primes the counter: the next sample gives a real value
        except psutil.Error:
            self._procs.pop(pid, None)
            return None
        self._procs[pid] = proc
        return proc

    def _tree(self, key: Key, children: dict[int, list[int]]) -> list[psutil.Process]:
        seen: dict[int, psutil.Process] = {}
        todo = list(key)
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            proc = self._process(pid)
            if proc is None:
                continue
            seen[pid] = proc
            todo.extend(children.get(pid, ()))
        return list(seen.values())

    def _sample(self, key: Key, children: dict[int, list[int]]) -> dict[str, Any]:
        memory = 0
        cpu = 0.0
        procs = self._tree(key, children)
        now = time.monotonic()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                memory += self._pss(proc, now)
                cpu += proc.cpu_percent(None)
        if not procs:
            return dict(EMPTY)
        return {"memory_bytes": memory, "cpu_percent": round(cpu, 1)}

    def _pss(self, proc: psutil.Process, now: float) -> int:
        """The process's PSS, read again only when older than ``MEMORY_TTL``."""
        seen = self._memory.get(proc.pid)
        if seen is None or now - seen[0] >= MEMORY_TTL:
            seen = (now, _memory(proc))
            self._memory[proc.pid] = seen
        return seen[1]


def _descendants(roots: Iterable[int]) -> dict[int, list[int]]:
    """Parent pid → child pids under ``roots`` only, from each process's threads' ``children``
    files: a few reads per process, where psutil's ``children()`` reads every process of the
    machine (≈ 50 ms on the event loop with 200 clients' 1,000 processes)."""
    if not _PROC_CHILDREN:
        return _children_map()
    children: dict[int, list[int]] = {}
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in children:
            continue
        found: list[int] = []
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                path = f"/proc/{pid}/task/{tid}/children"
                with contextlib.suppress(OSError, ValueError), open(path, "rb") as f:
                    found.extend(int(c) for c in f.read().split())
        children[pid] = found
        todo.extend(found)
    return children


# Linux with CONFIG_PROC_CHILDREN (Debian's kernels); without it, the whole-table scan.
_PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _children_map() -> dict[int, list[int]]:
    """Parent pid → child pids, from one pass over /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info.get("ppid")
        if ppid:
            children[ppid].append(proc.pid)
    return children


def _memory(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_full_info().pss)
    except (psutil.AccessDenied, AttributeError):
        return int(proc.memory_info().rss)


SAMPLER = TreeSampler()


def client_usage(pid: int | None, browser_pid: int | None) -> dict[str, Any]:
    """Memory (bytes, PSS) and CPU (% of one core) of a worker with its browser (cached)."""
    return SAMPLER.usage((pid, browser_pid))

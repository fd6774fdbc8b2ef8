"""Memory and CPU of a client's whole process tree: worker, Playwright driver and Chromium.

Chromium runs in a session of its own (Playwright starts it detached), so the tree is the union of
the worker's descendants and the browser's main process with its descendants.

Memory is the proportional set size (PSS: shared pages split between the processes sharing them,
so ten Chromium renderers do not count their shared libraries ten times), falling back to RSS when
``/proc/<pid>/smaps_rollup`` cannot be read. CPU is percent of one core summed over the tree,
measured since the previous sample of the same processes (so it can exceed 100 on several cores).
Samples are cached for ``ttl`` seconds: listing 50 clients costs at most one walk per live tree.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

import psutil

DEFAULT_TTL = 2.0


class TreeSampler:
    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._procs: dict[int, psutil.Process] = {}
        self._cache: dict[tuple[int, ...], tuple[float, dict[str, Any]]] = {}

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is not None and proc.is_running():
            return proc
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            self._procs.pop(pid, None)
            return None
        proc.cpu_percent(None)  # primes the counter: the first real value comes next sample
        self._procs[pid] = proc
        return proc

    def tree(self, roots: Iterable[int | None]) -> list[psutil.Process]:
        seen: dict[int, psutil.Process] = {}
        for root in roots:
            if not root or root in seen:
                continue
            proc = self._process(root)
            if proc is None:
                continue
            seen[root] = proc
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    if child.pid not in seen:
                        cached = self._process(child.pid)
                        if cached is not None:
                            seen[child.pid] = cached
        return list(seen.values())

    def usage(self, roots: Iterable[int | None]) -> dict[str, Any]:
        """``{"memory_bytes", "cpu_percent"}`` of the trees under ``roots``; None when none run."""
        key = tuple(sorted({r for r in roots if r}))
        if not key:
            return {"memory_bytes": None, "cpu_percent": None}
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        memory = 0
        cpu = 0.0
        procs = self.tree(key)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                memory += _memory(proc)
                cpu += proc.cpu_percent(None)
        result = {
            "memory_bytes": memory if procs else None,
            "cpu_percent": round(cpu, 1) if procs else None,
        }
        self._cache[key] = (now, result)
        self._prune(now)
        return result

    def _prune(self, now: float) -> None:
        for key in [k for k, (t, _) in self._cache.items() if now - t > 10 * self.ttl]:
            del self._cache[key]
        if len(self._procs) > 64:
            for pid in [p for p, proc in self._procs.items() if not proc.is_running()]:
                del self._procs[pid]


def _memory(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_full_info().pss)
    except (psutil.AccessDenied, AttributeError):
        return int(proc.memory_info().rss)


SAMPLER = TreeSampler()


def client_usage(pid: int | None, browser_pid: int | None) -> dict[str, Any]:
    """Memory (bytes, PSS) and CPU (% of one core) of a worker with its browser."""
    return SAMPLER.usage((pid, browser_pid))

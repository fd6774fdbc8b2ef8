"""The resource sampler re-reads a process's PSS (a kernel walk of its page tables) only every
MEMORY_TTL seconds, while CPU keeps its short ttl (wamc/daemon/resources.py)."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from wamc.daemon import resources


def test_pss_is_read_again_only_after_memory_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    me = os.getpid()
    reads: list[int] = []

    def counted(proc: psutil.Process) -> int:
        reads.append(proc.pid)
        return 1000 + len(reads)

    monkeypatch.setattr(resources, "_memory", counted)
    sampler = resources.TreeSampler()
    first = sampler.sample_now((me,))
    second = sampler.sample_now((me,))
    assert reads.count(me) == 1
    assert first["memory_bytes"] == second["memory_bytes"]

    real = time.monotonic
    monkeypatch.setattr(resources.time, "monotonic", lambda: real() + resources.MEMORY_TTL + 1)
    third = sampler.sample_now((me,))
    assert reads.count(me) == 2
    assert third["memory_bytes"] != first["memory_bytes"]

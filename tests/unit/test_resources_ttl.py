"""The resource sampler re-reads a process's PSS (a kernel walk of its page tables) only every
MEMORY_TTL seconds, while CPU keeps its short ttl (wamc/daemon/resources.py)."""

from __future__ import annotations

import os
import subprocess
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


def test_a_new_tree_is_found_without_scanning_every_process() -> None:
    """The first sample of a tree runs on the event loop: it reads the tree's own processes'
    ``children`` files, and finds exactly what psutil's whole-table scan finds."""
    script = "sleep 60 & (sleep 60 & wait) & wait"
    with subprocess.Popen(["bash", "-c", script]) as shell:
        try:
            root = psutil.Process(shell.pid)

            def grown() -> bool:
                return len(root.children(recursive=True)) == 3  # sleep, subshell, its sleep

            deadline = time.monotonic() + 10
            while not grown():
                assert time.monotonic() < deadline, "the shell's children never appeared"
                time.sleep(0.02)
            expected = {c.pid for c in root.children(recursive=True)}
            tree = resources._descendants([shell.pid])
            found = {pid for pids in tree.values() for pid in pids}
            assert found == expected
            assert set(tree) == expected | {shell.pid}  # nothing outside the tree was read
        finally:
            for child in psutil.Process(shell.pid).children(recursive=True):
                child.kill()
            shell.kill()

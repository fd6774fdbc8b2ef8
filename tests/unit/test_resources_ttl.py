"""The resource sampler re-reads a process's PSS (a kernel walk of its page tables) only every
MEMORY_TTL seconds, while CPU keeps its short ttl (wamc/daemon/resources.py)."""

from __future__ import annotations

import os
import subprocess
import sys
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


# A shell with a grandchild; a Python process that starts its child from a second thread (as
# Chromium starts its renderers): the child is listed in that thread's children file only.
TREES = {
    "shell": (["bash", "-c", "sleep 60 & (sleep 60 & wait) & wait"], 3),
    "from a thread": (
        [
            sys.executable,
            "-c",
            "import subprocess, threading, time\n"
            "def spawn():\n"
            "    subprocess.Popen(['sleep', '60'])\n"
            "    time.sleep(60)\n"
            "threading.Thread(target=spawn).start()\n",
        ],
        1,
    ),
}


@pytest.mark.skipif(not resources._PROC_CHILDREN, reason="no /proc/<pid>/task/<tid>/children")
@pytest.mark.parametrize("name", sorted(TREES))
def test_a_new_tree_is_found_without_scanning_every_process(name: str) -> None:
    """The first sample of a tree runs on the event loop: it reads the tree's own processes'
    ``children`` files, and finds exactly what psutil's whole-table scan finds."""
    argv, size = TREES[name]
    with subprocess.Popen(argv) as top:
        root = psutil.Process(top.pid)
        try:
            deadline = time.monotonic() + 10
            while len(root.children(recursive=True)) < size:
                assert time.monotonic() < deadline, "the children never appeared"
                time.sleep(0.02)
            expected = {c.pid for c in root.children(recursive=True)}
            tree = resources._descendants([top.pid])
            found = {pid for pids in tree.values() for pid in pids}
            assert found == expected
            assert set(tree) == expected | {top.pid}  # nothing outside the tree was read
        finally:
            for child in root.children(recursive=True):
                child.kill()
            top.kill()

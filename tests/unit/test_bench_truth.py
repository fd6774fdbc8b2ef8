"""The benchmarks' own bookkeeping: the stamp every table carries, and the soak's leftover count."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bench import report
from bench.soak import left_after_stop


def test_stamp_states_commit_date_machine_and_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["bench/memory.py", "--clients", "3", "--weight", "heavy"])
    stamp = report.stamp()
    assert report.commit().split("+")[0] in stamp and "UTC" in stamp
    assert "cores" in stamp and "GiB" in stamp and "Python" in stamp
    assert stamp.endswith("--clients 3 --weight heavy`")


async def test_left_after_stop_counts_without_raising(tmp_path: Path) -> None:
    assert (await left_after_stop(tmp_path, 1.0))[0] == 0
    code = "import time; time.sleep(30)"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(tmp_path))
    try:
        left, cleared = await left_after_stop(tmp_path, 0.5)
        assert (left, cleared) == (1, None)
    finally:
        proc.kill()
        await proc.wait()
    left, cleared = await left_after_stop(tmp_path, 5.0)
    assert left == 0 and cleared is not None

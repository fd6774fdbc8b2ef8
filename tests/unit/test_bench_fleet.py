"""bench/fleet.py's own logic: phases read from the product's log lines, the power loss that
leaves nothing of a run, and the memory floor that stops linking before the machine runs out."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from bench import fleet


def _line(t: float, client: str, text: str) -> str:
    stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"{stamp}Z INFO    [{client}] {text}\n"


def test_log_marks_and_phases_read_the_first_line_of_each_mark_since(tmp_path: Path) -> None:
    t = 1_800_000_000.0
    (tmp_path / "logs" / "clients").mkdir(parents=True)
    (tmp_path / "logs" / "wamc.log").write_text(
        _line(t - 100, "a", "worker started (pid 1)")  # before ``since``: ignored
        + _line(t, "a", "worker started (pid 2)")
        + _line(t + 1.5, "a", "state starting -> connected")
        + _line(t + 9, "a", "state starting -> connected")  # a later one: the first counts
        + "a line of another shape\n"
    )
    (tmp_path / "logs" / "clients" / "a.log").write_text(
        _line(t + 0.25, "a", "running as root") + _line(t + 0.5, "a", "starting browser")
    )
    marks = {
        "spawned": ("daemon", "worker started (pid"),
        "up": ("worker", ""),
        "launch": ("worker", "starting browser"),
        "connected": ("daemon", "state starting -> connected"),
    }
    found = fleet.log_marks(tmp_path, t - 1, marks)
    assert found == {"a": {"spawned": t, "up": t + 0.25, "launch": t + 0.5, "connected": t + 1.5}}
    assert fleet.phases(found, list(marks)) == (
        "spawned → up 0.25 s; up → launch 0.25 s; launch → connected 1.00 s (medians over 1 clients)"
    )
    assert fleet.phases({}, list(marks)) == "(not in the logs)"


def test_power_loss_kills_the_whole_tree_descendants_included(tmp_path: Path) -> None:
    """The grandchild's command line does not name the run's folder (as Chromium's renderers):
    it goes too, found as a descendant."""
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    try:
        deadline = time.monotonic() + 10
        while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = psutil.Process(parent.pid).children()
        daemon: Any = SimpleNamespace(home=tmp_path, proc=parent)
        assert fleet.run_tree(tmp_path) == {parent.pid, child.pid}
        killed = fleet.power_loss(daemon)
        assert killed == {parent.pid, child.pid} and parent.returncode == -9
        deadline = time.monotonic() + 10  # a zombie awaiting its reaper counts as gone
        while not fleet.all_gone(tmp_path, killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fleet.all_gone(tmp_path, killed)
    finally:
        parent.kill()
        parent.wait()


async def test_link_stops_when_available_memory_is_below_the_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fleet, "MEMORY_FLOOR", psutil.virtual_memory().total * 2)
    nothing: Any = None  # never reached: no client is connected
    took = await fleet.link(nothing, nothing, nothing, fleet.fleet(3), 2)
    assert took == []

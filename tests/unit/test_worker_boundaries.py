"""The worker stays lean and blind: no web framework, no knowledge of the simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WORKERS = Path(__file__).resolve().parent.parent.parent / "workers"


def test_worker_imports_no_web_framework() -> None:
    """Nor Playwright: the worker drives Chromium over its DevTools pipe (workers/cdp.py)."""
    code = (
        "import sys, workers.runtime, workers.__main__; "
        "bad = [m for m in ('aiohttp', 'pydantic', 'aiosqlite', 'wamc.api', 'wamc.simulator', "
        "'playwright', 'greenlet', 'pyee') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_worker_has_no_simulator_branch() -> None:
    sources = [p for p in WORKERS.rglob("*") if p.suffix in (".py", ".js")]
    assert len(sources) >= 4
    for path in sources:
        text = path.read_text().lower()
        for needle in ("simulator", "__simwa", "/control/", "sim_"):
            assert needle not in text, f"{path.name} mentions {needle!r}"


def test_workers_start_in_this_checkout() -> None:
    """``-m workers`` runs from the worker's cwd: it must be the folder beside ``wamc/``, or the
    daemon would start whatever worker another install on sys.path holds."""
    from wamc.daemon.backend import project_root

    assert (project_root() / "workers" / "__main__.py").is_file()
    assert project_root() == WORKERS.parent

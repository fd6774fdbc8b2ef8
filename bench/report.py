"""Shared by the bench scripts: markdown tables and one section each in docs/benchmarks.md."""

from __future__ import annotations

import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nEach section is written by the script named in its title (its last run); "
    "its stamp says the commit, the date, the machine and the command that reproduces it.\n"
)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def commit() -> str:
    """The commit the figures come from (``+changes`` when the checkout differs from it)."""
    root = DOC.parent.parent

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return run.stdout.strip() if run.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "wamc", "workers", "bench")
    return head + ("+changes" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def machine() -> str:
    """The machine, described well enough to compare two runs."""
    return (
        f"{psutil.cpu_count()} cores ({_cpu_model()}) · "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB · {_os_name()} · "
        f"Linux {platform.release()} · Python {platform.python_version()}"
    )


def command() -> str:
    """The command line that reproduces this run, from the repository root."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    entry = ["-m", spec.name] if spec is not None else [sys.argv[0]]
    return shlex.join([".venv/bin/python", *entry, *sys.argv[1:]])


def stamp() -> str:
    """Commit, date, machine and command: what every table in docs/benchmarks.md states."""
    return (
        f"_commit {commit()} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()}_\n\n"
        f"Reproduce: `{command()}`"
    )


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of docs/benchmarks.md."""
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text() if DOC.exists() else HEADER
    section = f"## {title}\n\n{stamp()}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text.rstrip("\n") + "\n")


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]

"""The process side of the daemon⇄worker contract: how a worker starts, how it ends, and how
either side recognises the other's processes before it signals one.

Here rather than in the daemon because the worker needs the same facts (it reaps its own
Chromium) and may import only the wire, config, log and states (docs/architecture.md).
A pid is a claim, not a fact: see wamc/daemon/proofs.py for the checks built on these.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil

# Files 0640, folders 0750: both processes set it before they open their first file.
UMASK = 0o027
# A worker that refuses to run as root exits with this code (sysexits' EX_NOPERM).
EXIT_ROOT_REFUSED = 77
ROOT_REFUSED = (
    "workers refuse to run as root (Chromium would run without its sandbox): run wamc as an "
    "unprivileged user (scripts/start.sh uses the 'wamc' user) or set WAMC_ALLOW_ROOT=1"
)


def is_root() -> bool:
    return os.geteuid() == 0


def worker_cmdline_matches(cmd: list[str], client_id: str) -> bool:
    """``python -m workers --client=ID``, or ``--client ID`` from a worker an older daemon started."""
    if "workers" not in cmd:
        return False
    return cmd[-1:] == [f"--client={client_id}"] or cmd[-2:] == ["--client", client_id]


def browser_cmdline_matches(cmd: list[str], profile_dir: Path) -> bool:
    """Chromium's main process (no ``--type=``) on exactly ``profile_dir``."""
    needle = f"--user-data-dir={profile_dir}"
    return needle in cmd and not any(arg.startswith("--type=") for arg in cmd)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s process group when it leads one, and ``pid`` with its descendants.

    Only for a pid proven ours a moment ago (see ``wamc/daemon/proofs.py``)."""
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
        for p in (proc, *children):
            with contextlib.suppress(psutil.Error):
                p.kill()

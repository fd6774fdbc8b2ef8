"""What makes ``/health`` say ``degraded``: reason codes only, never a client's name (the
endpoint is public). The daemon still answers 200: it serves, but an operator should look.

* ``disk_low``: the file system of ``sessions/`` or ``logs/`` has less free space than
  ``WAMC_DISK_MIN_FREE_MB`` (profiles, the store and the logs need room; SQLite fails hard
  when the disk is full).
* ``client_failed``: a client is ``failed`` (a crash loop; it waits for an operator).
* ``webhook_backlog``: at least ``WAMC_WEBHOOK_BACKLOG_MAX`` deliveries are pending.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from wamc.config import Settings
from wamc.daemon.registry import Client
from wamc.states import ClientState
from wamc.storage import Database
from wamc.storage import webhooks as webhook_rows

DISK_LOW = "disk_low"
CLIENT_FAILED = "client_failed"
WEBHOOK_BACKLOG = "webhook_backlog"
REASONS = (DISK_LOW, CLIENT_FAILED, WEBHOOK_BACKLOG)
BACKLOG_TTL = 2.0  # seconds a backlog count is reused: probes may come every few milliseconds
_backlog: dict[int, tuple[float, bool]] = {}  # id(store) -> (when counted, over the cap)


def disk_low(paths: Iterable[Path], min_free_mb: float) -> bool:
    """Any existing path on a file system with less than ``min_free_mb`` free (0: never)."""
    if min_free_mb <= 0:
        return False
    seen: set[int] = set()
    for path in paths:
        try:
            dev = os.stat(path).st_dev
            if dev in seen:
                continue
            seen.add(dev)
            if shutil.disk_usage(path).free < min_free_mb * 1024 * 1024:
                return True
        except OSError:
            continue  # not there yet: nothing written there yet either
    return False


async def degraded_reasons(
    settings: Settings, clients: Iterable[Client], store: Database
) -> list[str]:
    """The reason codes, in the order of :data:`REASONS`; empty when all is well."""
    found = []
    if disk_low((settings.sessions_dir, settings.logs_dir), settings.disk_min_free_mb):
        found.append(DISK_LOW)
    if any(c.state == ClientState.FAILED for c in clients):
        found.append(CLIENT_FAILED)
    if await webhook_backlog(store, settings.webhook_backlog_max):
        found.append(WEBHOOK_BACKLOG)
    return found


async def webhook_backlog(store: Database, cap: int) -> bool:
    """At least ``cap`` deliveries pending (0: never); counted at most every BACKLOG_TTL s."""
    if cap <= 0:
        return False
    now = time.monotonic()
    cached = _backlog.get(id(store))
    if cached is not None and now - cached[0] < BACKLOG_TTL:
        return cached[1]
    over = await webhook_rows.pending_count(store, cap) >= cap
    _backlog[id(store)] = (now, over)
    return over

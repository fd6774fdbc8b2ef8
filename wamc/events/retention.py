"""Hourly pruning of what is kept for a number of days (event log, audit log)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from loguru import logger

from wamc.storage import Database
from wamc.storage import events as event_log
from wamc.timeutil import iso_days_ago

PRUNE_INTERVAL = 3600.0


async def prune_hourly(what: str, days: float, prune: Callable[[str], Awaitable[int]]) -> None:
    """Every hour, ``prune(cutoff)`` deletes what is older than ``days`` (0: keep everything);
    a failure is logged and tried again the next hour."""
    if days <= 0:
        return
    while True:
        try:
            n = await prune(iso_days_ago(days))
            if n:
                logger.info("{}: {} entries older than {:g} days pruned", what, n, days)
        except Exception:
            logger.exception("{} pruning failed", what)
        await asyncio.sleep(PRUNE_INTERVAL)


async def retention_loop(db: Database, days: float) -> None:
    """Prune the event log hourly (``days``: ``Settings.event_retention_days``, 0 = forever):
    events older than the retention go, each client's newest stays (seq numbers never restart).
    A resume point older than that replays from the oldest event kept: consumers see the jump in
    ``seq``."""
    await prune_hourly("event log", max(0.0, days), lambda before: event_log.prune(db, before))

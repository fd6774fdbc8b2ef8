"""Shared test helpers: wait for a condition with a deadline (never a bare sleep to synchronise)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_for(
    probe: Callable[[], Awaitable[T] | T],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        result = probe()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result  # type: ignore[misc]
        if result:
            return result  # type: ignore[return-value]
        last = result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})"
            )
        await asyncio.sleep(interval)


def session_on_disk(profile: Path) -> bool:
    """Has Chromium written the simulator page's login (localStorage ``last-wid-md``) to disk?

    Chromium commits localStorage lazily (~5 s after a write, or at a graceful close): a test
    that SIGKILLs a browser and expects the session to survive waits for this first, as a real
    WhatsApp Web session killed right after linking is lost too."""
    folder = profile / "Default" / "Local Storage" / "leveldb"
    if not folder.is_dir():
        return False
    return any(f.is_file() and b"last-wid-md" in f.read_bytes() for f in folder.iterdir())

"""What the worker knows about its page without holding it: where it may be, what its errors
say, and how its browser is ended when it will not close (workers/browser.py uses these)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from loguru import logger

from wamc.wire.process import browser_cmdline_matches, kill_tree
from workers.cdp import CdpError, Connection

CLOSE_WAIT = 15.0  # seconds for Chromium to flush the profile and exit after Browser.close


def retrieve(task: asyncio.Future[Any]) -> None:
    """A background CDP call whose page went away: its error is expected, not an alarm."""
    exc = None if task.cancelled() else task.exception()
    if exc is not None:
        logger.debug("background page call failed: {}", first_line(exc))


def page_error(details: Any) -> str:
    """The message of an exception thrown in the page (``Error: wamc:code: text`` for refusals)."""
    if not isinstance(details, dict):
        return "the page threw"
    exc = details.get("exception")
    if isinstance(exc, dict):
        text = exc.get("description") or exc.get("value")
        if text is not None:
            return str(text)[:2000]
    return str(details.get("text") or "the page threw")[:2000]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (what CDP's storage calls name an origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None when it has no such origin."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host or port is None:
        return None
    return scheme, host.rstrip("."), port


def allowed_location(url: str, whatsapp_url: str) -> bool:
    """The page may show WhatsApp Web's exact origin (scheme, host and port) or about:blank."""
    if url == "about:blank":
        return True
    mine = _origin(whatsapp_url)
    return mine is not None and _origin(url) == mine


def kill_browser_tree(pid: int, profile_dir: Path) -> bool:
    """SIGKILL the browser's process group and stragglers, if ``pid`` is still our Chromium.

    After a graceful close the pid is gone and may be reused: the profile proves it is ours.
    True when something was killed."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or not browser_cmdline_matches(
            proc.cmdline(), profile_dir
        ):
            return False
    except psutil.Error:
        return False
    kill_tree(pid)
    logger.debug("browser {} killed", pid)
    return True


async def end_browser(
    conn: Connection | None,
    proc: asyncio.subprocess.Process | None,
    pid: int | None,
    profile_dir: Path,
) -> bool:
    """``Browser.close`` over the pipe, wait for the exit, SIGKILL only what is left, reap.
    True when the browser closed by itself."""
    graceful = proc is None
    if proc is not None and proc.returncode is None and conn is not None:
        with contextlib.suppress(CdpError, TimeoutError):
            await asyncio.wait_for(conn.send("Browser.close"), CLOSE_WAIT)
        try:
            await asyncio.wait_for(proc.wait(), CLOSE_WAIT)
            graceful = True
        except TimeoutError:
            logger.warning("browser did not close within {:.0f}s", CLOSE_WAIT)
    elif proc is not None:
        graceful = proc.returncode is not None
    if conn is not None:
        conn.close()
    if pid and kill_browser_tree(pid, profile_dir):
        logger.warning("browser {} still running after its close: SIGKILLed", pid)
        graceful = False
    elif pid and graceful:
        logger.info("browser {} closed cleanly", pid)
    if proc is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)  # reaped: no zombie
    return graceful

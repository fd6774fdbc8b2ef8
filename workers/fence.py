"""Fencing (Ray backend): a worker started by a host agent lives only as long as that agent.

The agent keeps the write end of the worker's stdin pipe open (the secret came through it); when
the agent dies (its node lost, its actor restarted) the pipe closes, and the worker stops at
once: its client is placed elsewhere, and two browsers must never run one WhatsApp session.
Workers of the local backend (``WAMC_FENCE`` unset) outlive the daemon as before.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

_kept: int | None = None


def keep_stdin() -> None:
    """Before stdin is replaced: keep the agent's pipe (a non-inheritable copy) if fenced."""
    global _kept
    if os.environ.get("WAMC_FENCE") == "1" and _kept is None:
        try:
            _kept = os.dup(0)  # not inherited by Chromium
        except OSError:
            _kept = None


def watch(on_lost: Callable[[], None]) -> bool:
    """Call ``on_lost`` once when the agent's end of the pipe closes. False when not fenced."""
    fd = _kept
    if fd is None:
        return False
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # EOF: the agent is gone
            loop.remove_reader(fd)
            on_lost()

    loop.add_reader(fd, readable)
    return True

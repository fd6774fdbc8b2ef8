"""Clean stops: a stop asks the worker, which closes Chromium itself so the profile is flushed.

The simulator's page keeps its login the way WhatsApp Web keeps part of its own: in storage the
browser writes to disk lazily. A graceful close flushes it; a SIGKILLed browser loses it. So a
client stopped a second after linking comes back connected only if its stop was clean, and the
negative control (the browser SIGKILLed instead) proves the simulator can tell the difference.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from tests.conftest import Daemon
from tests.helpers import wait_for

PHONE = "5511900001111"


async def link_then(daemon: Daemon, sim_http: Any, client: str, kill_browser: bool) -> float:
    """Link ``client``; within a second kill its browser (or not), then stop it.

    Returns the seconds from "connected" seen to the stop requested."""
    st = await daemon.connect_scanned(sim_http, client, PHONE)
    seen = time.monotonic()
    if kill_browser:
        os.killpg(st["browser_pid"], signal.SIGKILL)
    code, body = await daemon.call("POST", f"/api/clients/{client}/disconnect")
    assert code in (200, 202), body
    elapsed = time.monotonic() - seen
    await daemon.wait_state(client, "stopped")
    return elapsed


async def reconnect_outcome(daemon: Daemon, client: str) -> str:
    """Connect again; the first of connected / qr the client reaches."""
    code, body = await daemon.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body

    async def probe() -> str | None:
        state = (await daemon.status(client))["state"]
        return state if state in ("connected", "qr") else None

    return await wait_for(probe, timeout=60, what=f"{client} connected or at a QR")


async def test_disconnect_right_after_linking_keeps_the_session(
    daemon: Daemon, sim_http: Any
) -> None:
    elapsed = await link_then(daemon, sim_http, "clean", kill_browser=False)
    assert elapsed < 1.0
    st = await daemon.status("clean")
    assert st["stop_outcome"] == "clean"
    assert await reconnect_outcome(daemon, "clean") == "connected"


async def test_negative_control_browser_sigkilled_right_after_linking_loses_it(
    daemon: Daemon, sim_http: Any
) -> None:
    elapsed = await link_then(daemon, sim_http, "killed", kill_browser=True)
    assert elapsed < 1.0
    assert await reconnect_outcome(daemon, "killed") == "qr"

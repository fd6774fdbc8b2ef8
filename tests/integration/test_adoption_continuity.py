"""A daemon restart that adopts a running worker changes nothing a client's owner sees: the same
pid, the same ``since``, an uptime that kept counting; and no log ever shows a state "changing"
to itself (a restart of a linked client is where the worker used to log ``starting -> starting``)."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.support import Daemon, wait_for

PHONE = "5511900000401"
SAME_STATE = re.compile(r"state (\w+) -> (\w+)")


def same_state_lines(daemon: Daemon) -> list[str]:
    found = []
    for path in (daemon.home / "logs").rglob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            m = SAME_STATE.search(line)
            if m and m.group(1) == m.group(2):
                found.append(f"{path.name}: {line}")
    return found


def state_lines(daemon: Daemon, client: str) -> list[str]:
    text = (daemon.home / "logs" / "clients" / f"{client}.log").read_text()
    return [m.group(0) for m in SAME_STATE.finditer(text)]


async def test_adoption_keeps_since_and_uptime_and_no_same_state_line(
    make_daemon: Any, sim_http: Any
) -> None:
    daemon: Daemon = await make_daemon()
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    # A restart of a linked client: the new worker finds the account before the stream is up.
    first = await daemon.status("acme")
    code, body = await daemon.call("POST", "/api/clients/acme/restart")
    assert code == 202, body

    async def reconnected() -> dict[str, Any] | None:
        st = await daemon.status("acme")
        return st if st["state"] == "connected" and st["pid"] not in (None, first["pid"]) else None

    before = await wait_for(reconnected, 60, what="acme connected again after the restart")
    assert before["me"] == first["me"]  # no QR: the session was restored
    assert "state starting -> connected" in " ".join(state_lines(daemon, "acme"))
    assert same_state_lines(daemon) == []

    # The daemon goes away and a new one adopts the running worker. (Uptime well above the
    # tolerance first, so an uptime counted again from zero cannot pass.)
    async def up_a_while() -> dict[str, Any] | None:
        st = await daemon.status("acme")
        return st if st["uptime_seconds"] >= 3 else None

    before = await wait_for(up_a_while, 30, what="3 s of uptime")
    measured = time.monotonic()
    await daemon.stop()
    await daemon.start()
    after = await daemon.status("acme")
    gap = time.monotonic() - measured
    assert after["pid"] == before["pid"] and after["state"] == "connected"  # adopted
    assert after["since"] == before["since"]
    uptime, expected = after["uptime_seconds"], before["uptime_seconds"] + gap
    assert expected - 1.0 <= uptime <= expected + 1.0, (before, after, gap)
    assert same_state_lines(daemon) == []

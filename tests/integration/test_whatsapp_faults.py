"""WhatsApp-side faults: unscanned QR, phone logout, conflict, unusable profile."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_for

FAST = {"WAMC_HEARTBEAT_INTERVAL": "0.5", "WAMC_HEARTBEAT_TIMEOUT": "6"}


@pytest.fixture
async def quick_qr_sim() -> AsyncIterator[Any]:
    from wamc.simulator import Simulator

    sim = Simulator(host="127.0.0.1", port=0, qr_first_ttl=1.0, qr_ttl=0.5, max_qr_codes=3)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def test_unscanned_qr_stops_the_client(make_daemon: Any, quick_qr_sim: Any) -> None:
    d = await make_daemon(FAST, sim=quick_qr_sim)
    code, _ = await d.call("POST", "/api/clients/nobody/connect")
    assert code == 202
    st = await d.wait_state("nobody", "stopped", timeout=60)
    assert st["last_error"] == "qr_timeout" and st["desired"] == "stopped" and st["pid"] is None
    # It stays stopped across a daemon restart (desired state was persisted) …
    await d.stop()
    await d.start()
    assert (await d.status("nobody"))["state"] == "stopped"
    # … until an operator connects it again.
    code, body = await d.call("POST", "/api/clients/nobody/connect")
    assert code == 202 and body["state"] == "starting"
    await d.wait_state("nobody", "qr")


async def test_phone_logout_conflict_and_unusable_profile(make_daemon: Any, sim_http: Any) -> None:
    d = await make_daemon(FAST)
    phone = "5511955550001"
    st = await d.connect_scanned(sim_http, "acme", phone)

    # Conflict ("open in another window"): wamc takes the session back by default.
    code, body = await sim_http.call("POST", "/control/conflict", json={"phone": phone})
    assert code == 200, body

    async def main_again() -> bool:
        _, devs = await sim_http.call("GET", "/control/devices")
        return any(x["phone"] == phone and x["stream_mode"] == "MAIN" for x in devs["devices"])

    await wait_for(main_again, 30, what="takeover back to MAIN")
    await d.wait_state("acme", "connected")
    assert (await d.status("acme"))["pid"] == st["pid"]

    # Logout from the phone: a new QR, the same worker.
    code, body = await sim_http.call("POST", "/control/logout", json={"phone": phone})
    assert code == 200, body
    st_qr = await d.wait_state("acme", "qr")
    assert st_qr["pid"] == st["pid"] and st_qr["me"] is None

    # Scan again, then break the profile's storage while the client is stopped.
    code, qr = await d.call("GET", "/api/clients/acme/qr?format=json")
    await sim_http.scan(qr["qr"], phone)
    await d.wait_state("acme", "connected")
    await d.call("POST", "/api/clients/acme/disconnect")
    await d.wait_state("acme", "stopped")
    profile = d.home / "sessions" / "acme" / "profile"
    # Chromium silently rebuilds corrupt database files (→ a fresh page, a QR) …
    corrupt_tree(profile / "Default" / "IndexedDB")
    await d.call("POST", "/api/clients/acme/connect")
    st = await d.wait_state("acme", "qr", timeout=90)
    assert st["restarts"] == 0
    # … but storage it cannot open at all makes WhatsApp Web report a storage error: the
    # worker moves the profile aside (kept for inspection) and starts fresh, showing a QR.
    await d.call("POST", "/api/clients/acme/disconnect")
    await d.wait_state("acme", "stopped")
    block_storage(profile / "Default" / "IndexedDB")
    await d.call("POST", "/api/clients/acme/connect")
    st = await d.wait_state("acme", "qr", timeout=90)
    assert st["restarts"] == 0  # recovered in place, not a crash loop
    assert "profile unusable" in (st["last_error"] or "")
    aside = list((d.home / "sessions" / "acme").glob("profile.unusable-*"))
    assert len(aside) == 1 and (aside[0] / "Default" / "IndexedDB").is_file()


def corrupt_tree(root: Path) -> None:
    assert root.is_dir(), f"no {root}"
    count = 0
    for path in root.rglob("*"):
        if path.is_file():
            size = max(path.stat().st_size, 64)
            path.write_bytes(os.urandom(size))
            count += 1
    assert count


def block_storage(path: Path) -> None:
    """Replace a storage directory by a plain file: nothing can be opened or created there."""
    import shutil

    shutil.rmtree(path)
    path.write_bytes(os.urandom(256))

"""Issue 9, gateway side, against the real daemon: fast shutdown, stream tickets and caps,
streams closed on revocation and deletion, the pre-auth limit, strict client ids, key length."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def test_short_api_key_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "WAMC_HOME": str(tmp_path), "WAMC_PORT": "1", "WAMC_API_KEY": "x" * 31}
    out = subprocess.run(
        [sys.executable, "-m", "wamc.cli", "serve"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "wamc api-key" in out.stderr and "31 characters" in out.stderr, out.stderr


async def test_client_ids_fullmatch_and_stored_legacy_ids_stay_reachable(make_daemon: Any) -> None:
    d = await make_daemon()
    for bad in ("acme%0A", "-x", "_x", "acme%0D", "a" * 65):
        code, body = await d.call("POST", f"/api/clients/{bad}/connect")
        assert code == 400 and body["code"] == "invalid_client_id", (bad, body)
    code, body = await d.call("GET", "/api/clients")
    assert body["clients"] == []
    await d.stop()
    # Rows an older daemon accepted: still reachable for status, disconnect and delete.
    with contextlib.closing(sqlite3.connect(d.home / "sessions" / ".wamc" / "wamc.db")) as db:
        for legacy in ("-old", "acme\n"):
            db.execute(
                "INSERT INTO clients (id, desired, created_at) VALUES (?, 'stopped', ?)",
                (legacy, "2026-01-01T00:00:00.000Z"),
            )
        db.commit()
    await d.start()
    log = (d.home / "logs" / "wamc.log").read_text()
    assert "no longer valid" in log and "'-old'" in log and "'acme\\n'" in log
    code, body = await d.call("GET", "/api/clients/-old/status")
    assert code == 200 and body["id"] == "-old"
    code, body = await d.call("GET", "/api/clients/acme%0A/status")
    assert code == 200 and body["id"] == "acme\n"
    code, body = await d.call("POST", "/api/clients/-old/disconnect")
    assert code == 202, body
    code, body = await d.call("POST", "/api/clients/-old/connect")  # no new start under it
    assert code == 400 and body["code"] == "invalid_client_id"
    for legacy in ("-old", "acme%0A"):
        code, body = await d.call("DELETE", f"/api/clients/{legacy}")
        assert code == 202, body
    code, body = await d.call("GET", "/api/clients")
    assert body["clients"] == []

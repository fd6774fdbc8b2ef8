"""``WAMC_LOG_FORMAT=json`` with a real daemon, a real worker and its Chromium: every line of the
daemon's log, its stderr and the client's log is one JSON object with the same fields as the
text format; the client id is a field, and the right one; no message body is written."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support import Daemon, wait_for

PHONE = "5511900000301"
CONTACT = "5511955554444"
SENT = "json-logs outgoing text 7f3a"
RECEIVED = "json-logs incoming text 9c1e"
FIELDS = {"ts", "level", "client", "module", "msg"}
LEVELS = {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"}


def records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), f"{path}: the last line is cut"
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        rec = json.loads(line)  # every line, not some
        assert isinstance(rec, dict) and set(rec) >= FIELDS, (path, n, line)
        assert rec["level"] in LEVELS and isinstance(rec["msg"], str), (path, n, line)
        assert rec["ts"].endswith("Z") and datetime.fromisoformat(rec["ts"]), (path, n, line)
        assert rec["module"].split(".")[0] in ("wamc", "workers"), (path, n, line)
        assert SENT not in line and RECEIVED not in line, (path, n, line)
        out.append(rec)
    return out


async def test_every_log_line_is_json_with_the_client_as_a_field(
    make_daemon: Any, sim_http: Any
) -> None:
    daemon: Daemon = await make_daemon(
        {"WAMC_LOG_FORMAT": "json", "WAMC_LOG_LEVEL": "info", "WAMC_STOP_WORKERS_ON_EXIT": "1"}
    )
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    code, sent = await daemon.call(
        "POST", "/api/clients/acme/send-message", json={"to": CONTACT, "text": SENT}
    )
    assert code == 201, sent
    mid = await sim_http.deliver(PHONE, CONTACT, RECEIVED)

    async def stored() -> bool:
        code, body = await daemon.call("GET", f"/api/clients/acme/chats/{CONTACT}@c.us/messages")
        return code == 200 and mid in {m["id"] for m in body["messages"]}

    await wait_for(stored, 30, what="the incoming message stored")
    assert await daemon.stop() == 0  # workers stop too: every file is complete

    client_lines = records(daemon.home / "logs" / "clients" / "acme.log")
    assert client_lines and {r["client"] for r in client_lines} == {"acme"}
    assert any(r["module"].startswith("workers.") for r in client_lines)
    assert any(r["msg"].startswith("state ") for r in client_lines)  # the worker's own lines

    daemon_lines = records(daemon.home / "logs" / "wamc.log")
    assert {r["client"] for r in daemon_lines} == {None, "acme"}
    assert any(r["client"] is None and r["msg"] == "daemon stopped" for r in daemon_lines)
    # A client's lines carry it as a field, not in the text.
    acme = [r for r in daemon_lines if r["client"] == "acme"]
    assert acme and not any(r["msg"].startswith("[acme]") for r in acme)
    assert any(r["module"].startswith("wamc.daemon.") for r in acme)
    # The same lines on stderr (what supervisord keeps): JSON as well.
    stderr = [line for line in (daemon.home / "daemon.out").read_text().splitlines() if line]
    assert stderr and all(set(json.loads(line)) >= FIELDS for line in stderr)

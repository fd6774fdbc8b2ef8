"""What the dashboard needs from the API: its static files, status metrics, log tail, recent messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.support import API_KEY, Daemon, wait_for
from wamc.api.handlers.admin import redact, tail_lines
from wamc.daemon.resources import TreeSampler

PHONE_A = "5511900000201"
PHONE_X = "5511988881111"


def test_tail_lines_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    assert tail_lines(path, 10) == []  # no log yet
    lines = [f"line {i} " + "x" * 100 for i in range(5000)]  # ~550 KB: several blocks back
    path.write_text("\n".join(lines) + "\n")
    assert tail_lines(path, 3) == lines[-3:]
    assert tail_lines(path, 1000) == lines[-1000:]
    # A bounded read returns whole lines only, never more than asked.
    short = tail_lines(path, 1000, max_bytes=20_000)
    assert 0 < len(short) < 1000 and short == lines[-len(short) :]


async def test_tree_usage_counts_children_and_refreshes_in_background() -> None:
    code = (
        "import subprocess, sys, time;"
        " subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])  # noqa: ASYNC220 - returns at once
    try:
        proc = psutil.Process(parent.pid)
        kids = await wait_for(lambda: proc.children(), timeout=10, what="the child process")
        sampler = TreeSampler(ttl=0.2)
        whole = sampler.sample_now((parent.pid,))
        child = sampler.sample_now((kids[0].pid,))
        assert child["memory_bytes"] > 1_000_000 and whole["memory_bytes"] > child["memory_bytes"]
        assert whole["cpu_percent"] >= 0
        # A new tree is sampled at once; later reads come from the cache, which a background
        # thread refreshes once it is older than the ttl.
        first = sampler.usage((parent.pid, None))
        assert first["memory_bytes"] > child["memory_bytes"]
        key = (parent.pid,)
        stamp = sampler._cache[key][0]
        await wait_for(
            lambda: sampler.usage((parent.pid, None)) and sampler._cache[key][0] > stamp,
            timeout=10,
            what="a background refresh",
        )
        assert sampler.usage((parent.pid, None))["memory_bytes"] > child["memory_bytes"]
        assert sampler.usage((None, None)) == {"memory_bytes": None, "cpu_percent": None}
    finally:
        for p in psutil.Process(parent.pid).children(recursive=True):
            p.kill()
        parent.kill()
        parent.wait()


def test_redact_masks_credentials() -> None:
    key = "s3cr3t-admin-key-value"
    line = f"GET /ws?api_key={key} token=abc123 Authorization: Bearer xyz password=hunter2 ok"
    out = redact(line, [key])
    for secret in (key, "abc123", "xyz", "hunter2"):
        assert secret not in out, out
    assert out.endswith(" ok") and "[redacted]" in out


async def test_dashboard_files_are_served_safely(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as anon:  # public: no key needed for the page itself
        async with anon.get(daemon.base + "/admin", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/admin/instances"
        async with anon.get(daemon.base + "/admin/instances") as r:
            html = await r.text()
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            # Offline: every asset comes from the daemon itself.
            assert "http://" not in html and "https://" not in html and "//cdn" not in html
        for name, ctype in [
            ("app.js", "text/javascript"),
            ("common.js", "text/javascript"),  # shared with the portal
            ("app.css", "text/css"),
        ]:
            async with anon.get(f"{daemon.base}/admin/static/{name}") as r:
                body = await r.text()
                assert r.status == 200 and r.headers["Content-Type"].startswith(ctype)
                assert "https://" not in body
        for bad in ["..%2Fgateway%2Fadmin.py", "app.py", ".hidden.js", "nope.js"]:
            async with anon.get(f"{daemon.base}/admin/static/{bad}") as r:
                assert r.status == 404, bad
        # The data behind it is not public.
        async with anon.get(daemon.base + "/api/messages/recent") as r:
            assert r.status == 401


async def test_status_logs_and_recent_messages(daemon: Daemon, sim_http: Any) -> None:
    # Unknown clients are 404; bad parameters 400 with the field named.
    for path in [
        "/api/clients/ghost/logs",
        "/api/clients/ghost/messages/recent",
        "/api/messages/recent?client=ghost",
    ]:
        code, body = await daemon.call("GET", path)
        assert code == 404 and body["code"] == "client_not_found", (path, body)
    code, body = await daemon.call("GET", "/api/clients/a.b/logs")
    assert code == 400 and body["code"] == "invalid_client_id"

    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    code, _ = await daemon.call("POST", "/api/clients/idle/connect")
    assert code == 202
    for path, field in [
        ("/api/clients/acme/logs?lines=0", "lines"),
        ("/api/clients/acme/logs?lines=1001", "lines"),
        ("/api/clients/acme/logs?lines=ten", "lines"),
        ("/api/messages/recent?limit=0", "limit"),
        ("/api/messages/recent?limit=201", "limit"),
        ("/api/messages/recent?client=a.b", "client"),
        ("/api/clients/acme/messages/recent?limit=x", "limit"),
    ]:
        code, body = await daemon.call("GET", path)
        assert code == 400 and body["field"] == field, (path, body)

    # Memory and CPU cover the whole tree: the worker and its Chromium. They are
    # sampled off the event loop, so the first read of a new worker may still be null.
    async def sampled() -> dict[str, Any] | None:
        st = await daemon.status("acme")
        return st if st["memory_bytes"] is not None else None

    st = await wait_for(sampled, timeout=15, what="acme's first memory sample")
    assert st["memory_bytes"] > 50 * 1024 * 1024, st  # Chromium alone is more than that
    assert isinstance(st["cpu_percent"], float) and st["cpu_percent"] >= 0
    assert st["uptime_seconds"] > 0 and st["restarts"] == 0 and st["last_message_at"] is None
    code, listing = await daemon.call("GET", "/api/clients")
    assert {"memory_bytes", "cpu_percent", "last_message_at"} <= set(listing["clients"][0])

    ids = [await sim_http.deliver(PHONE_A, PHONE_X, f"note {i}") for i in range(3)]

    async def recent() -> list[dict[str, Any]] | None:
        code, body = await daemon.call("GET", "/api/messages/recent?limit=3")
        assert code == 200, body
        return body["messages"] if {m["id"] for m in body["messages"]} == set(ids) else None

    messages = await wait_for(recent, timeout=30, what="the three messages as the most recent")
    assert [m["body"] for m in messages] == ["note 2", "note 1", "note 0"]  # newest first
    assert all(m["client"] == "acme" and m["from_me"] is False for m in messages)
    code, body = await daemon.call("GET", "/api/clients/acme/messages/recent?limit=2")
    assert code == 200 and [m["body"] for m in body["messages"]] == ["note 2", "note 1"]
    code, body = await daemon.call("GET", "/api/messages/recent?client=idle")
    assert code == 200 and body["messages"] == []
    st = await daemon.status("acme")
    assert st["last_message_at"] == messages[0]["timestamp"], st

    # The log tail: at most N lines of this client's own log, and never the key.
    code, body = await daemon.call("GET", "/api/clients/acme/logs?lines=5")
    assert code == 200 and body["client"] == "acme"
    assert 0 < len(body["lines"]) <= 5
    code, body = await daemon.call("GET", "/api/clients/acme/logs?lines=1000")
    text = "\n".join(body["lines"])
    assert "[acme]" in text and "[idle]" not in text
    assert API_KEY not in text and "note 1" not in text  # no key, no message bodies

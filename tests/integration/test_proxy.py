"""Per-client outbound proxy (issue 11, item 10) end to end: the setting through GET/PATCH, a
restarted client whose browser reaches the simulator through an authenticating proxy on loopback
(counted) and still sends, and the password never in an answer, a log or a command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.support import Daemon, SimControl, wait_for
from tests.support.proxy import CountingProxy

PHONE = "5511900000301"
PEER = "5511900000302"
USER, PASSWORD = "gw-user", "pw-S3cret-9f1c"


def stored_proxy(daemon: Daemon, client: str) -> str | None:
    db = daemon.home / "sessions" / ".wamc" / "wamc.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT data FROM client_settings WHERE client=?", (client,)).fetchone()
    return json.loads(row[0]).get("proxy") if row else None


def files_holding(root: Path, needle: bytes) -> list[str]:
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix not in (".db", ".db-wal", ".db-shm")
        and needle in p.read_bytes()
    ]


async def send(daemon: Daemon, sim_http: SimControl, text: str) -> None:
    code, body = await daemon.call(
        "POST", "/api/clients/px/send-message", json={"to": PEER, "text": text}
    )
    assert code == 201, body

    async def arrived() -> bool:
        return any(m["id"] == body["id"] for m in await sim_http.sent(PHONE))

    await wait_for(arrived, 30, what=f"{text!r} at the simulator")


async def restart_connected(daemon: Daemon, client: str) -> dict[str, Any]:
    before = (await daemon.status(client))["pid"]
    code, _ = await daemon.call("POST", f"/api/clients/{client}/restart")
    assert code == 202

    async def new_worker_connected() -> dict[str, Any] | None:
        st = await daemon.status(client)
        return st if st["state"] == "connected" and st["pid"] not in (None, before) else None

    return await wait_for(new_worker_connected, 90, 0.2, f"{client} connected again")


async def test_client_reaches_whatsapp_through_its_proxy_and_never_shows_the_password(
    daemon: Daemon, sim_http: SimControl
) -> None:
    await daemon.connect_scanned(sim_http, "px", PHONE)
    async with CountingProxy(USER, PASSWORD) as proxy:
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{proxy.port}"
        masked = f"http://{USER}:****@127.0.0.1:{proxy.port}"
        code, answer = await daemon.call("PATCH", "/api/clients/px/settings", json={"proxy": url})
        assert code == 200, answer
        assert answer["settings"]["proxy"] == masked
        code, got = await daemon.call("GET", "/api/clients/px/settings")
        assert code == 200 and got["settings"]["proxy"] == masked
        assert proxy.requests == 0  # applies at the next browser start, not before

        status = await restart_connected(daemon, "px")
        sim_port = daemon.sim.url.rstrip("/").rsplit(":", 1)[1]
        assert proxy.requests > 0, "the browser did not go through the proxy"
        assert proxy.challenged > 0  # it authenticated: 407 first, then the credentials
        assert f"127.0.0.1:{sim_port}" in proxy.targets, proxy.targets
        through = proxy.requests
        await send(daemon, sim_http, "sent through the proxy")

        # The masked form sent back (a settings form's round-trip) keeps the stored password.
        code, answer = await daemon.call(
            "PATCH", "/api/clients/px/settings", json={"proxy": masked}
        )
        assert code == 200 and answer["settings"]["proxy"] == masked
        assert stored_proxy(daemon, "px") == url

        # Never returned, logged, or on a worker's command line or environment.
        pid = status["pid"]
        for name in ("cmdline", "environ"):
            assert PASSWORD.encode() not in Path(f"/proc/{pid}/{name}").read_bytes()
        for path in ("/api/clients/px/status", "/api/clients/px/settings", "/api/clients"):
            code, body = await daemon.call("GET", path)
            assert code == 200 and PASSWORD not in str(body), path
        assert files_holding(daemon.home / "logs", PASSWORD.encode()) == []
        assert PASSWORD not in (daemon.home / "daemon.out").read_text(errors="replace")

        # null: no proxy from the next start on; the proxy sees nothing more.
        code, answer = await daemon.call("PATCH", "/api/clients/px/settings", json={"proxy": None})
        assert code == 200 and answer["settings"]["proxy"] is None
        await restart_connected(daemon, "px")
        await send(daemon, sim_http, "sent directly")
        assert proxy.requests == through


async def test_bad_proxy_values_are_refused_with_clear_codes(daemon: Daemon) -> None:
    code, _ = await daemon.call("POST", "/api/clients/bad/connect")
    assert code == 202
    url = "/api/clients/bad/settings"
    cases = [
        ("ftp://proxy.example:21", 400, "invalid_proxy"),
        ("proxy.example:3128", 400, "invalid_proxy"),
        ("http://", 400, "invalid_proxy"),
        ("http://proxy.example:99999", 400, "invalid_proxy"),
        ("http://proxy.example:0", 400, "invalid_proxy"),
        ("http://proxy.example:3128/path", 400, "invalid_proxy"),
        ("http://proxy.example:3128?x=1", 400, "invalid_proxy"),
        ("http://proxy example:3128", 400, "invalid_proxy"),
        ("http://pro_xy!.example", 400, "invalid_proxy"),
        ("socks5://u:hunter2secret@proxy.example:1080", 422, "proxy_auth_unsupported"),
        ("socks5://u@proxy.example:1080", 422, "proxy_auth_unsupported"),
        (3128, 400, "invalid_field"),
        ("x" * 3000, 400, "invalid_field"),
    ]
    for value, status, code_ in cases:
        code, problem = await daemon.call("PATCH", url, json={"proxy": value})
        assert (code, problem["code"], problem.get("field")) == (status, code_, "proxy"), value
        assert "hunter2secret" not in str(problem)
    code, got = await daemon.call("GET", url)
    assert code == 200 and got["settings"]["proxy"] is None  # nothing refused was stored

    for good, shown in (
        ("socks5://127.0.0.1:1080", "socks5://127.0.0.1:1080"),
        ("https://a:b@Proxy.Example.net", "https://a:****@proxy.example.net:443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ):
        code, answer = await daemon.call("PATCH", url, json={"proxy": good})
        assert code == 200 and answer["settings"]["proxy"] == shown, answer
    assert "hunter2secret" not in (daemon.home / "daemon.out").read_text(errors="replace")

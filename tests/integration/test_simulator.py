"""The WhatsApp simulator through real Chromium: the fake page, the fake wa-js, the control API.

Each test starts its own Simulator and opens browser profiles the way a worker does: a persistent
context, a normal Chrome user agent, the fake wa-js injected with ``add_init_script(path=…)``.
A small recorder (also an init script) keeps every WPP event of the current page load.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright

from tests.support import session_on_disk, wait_for
from wamc.simulator import Simulator

CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
RECORDER = "window.__events = []; WPP.onAny((name, ...args) => window.__events.push({name, args}));"
PHONE_N = "5511900000001"
PHONE_M = "5511900000002"
PHONE_X = "5511988887777"  # a contact with no simulated page
FULL_CODE = re.compile(
    r"^2@[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44}$"
)
MSG_ID = re.compile(r"^(true|false)_\d+@c\.us_3EB0[0-9A-F]{16}$")

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="needs chromium-headless-shell"
)


class Profile:
    """One browser profile running the simulator's WhatsApp Web page."""

    def __init__(self, pw: Playwright, sim: Simulator, path: Path):
        self.pw, self.sim, self.path = pw, sim, path
        self.ctx: BrowserContext | None = None
        self.page: Page | None = None

    async def open(self) -> Profile:
        self.ctx = await self.pw.chromium.launch_persistent_context(
            str(self.path), executable_path=CHROMIUM, args=ARGS, headless=True, user_agent=UA
        )
        await self.ctx.add_init_script(path=self.sim.wajs_path)
        await self.ctx.add_init_script(script=RECORDER)
        self.page = self.ctx.pages[0] if self.ctx.pages else await self.ctx.new_page()
        await self.page.goto(self.sim.url)
        await wait_for(lambda: self.js("WPP.isFullReady"), timeout=15, what="WPP ready")
        return self

    async def close(self) -> None:
        if self.ctx is not None:
            with contextlib.suppress(Exception):
                await self.ctx.close()
            self.ctx = self.page = None

    def kill(self) -> list[int]:
        """SIGKILL the Chromium of this profile (ours: found by its profile dir); the pids."""
        pids = [
            proc.info["pid"]
            for proc in psutil.process_iter(["pid", "cmdline"])
            if f"--user-data-dir={self.path}" in (proc.info["cmdline"] or [])
        ]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    async def js(self, expr: str, arg: Any = None) -> Any:
        assert self.page is not None
        return await self.page.evaluate(expr, arg)

    async def events(self, name: str) -> list[list[Any]]:
        return await self.js("n => __events.filter(e => e.name === n).map(e => e.args)", name)

    async def mode(self) -> str:
        return (await self.js("WPP.conn.getStreamData()"))["mode"]

    async def auth_code(self) -> dict[str, Any] | None:
        return await self.js("WPP.conn.getAuthCode()")

    async def wait_mode(self, mode: str, timeout: float = 15) -> None:
        async def probe() -> bool:
            return await self.mode() == mode

        await wait_for(probe, timeout=timeout, what=f"stream mode {mode}")

    async def wait_event(self, name: str, count: int = 1, timeout: float = 15) -> list[list[Any]]:
        async def probe() -> list[list[Any]] | None:
            found = await self.events(name)
            return found if len(found) >= count else None

        return await wait_for(probe, timeout=timeout, what=f"{count} x {name}")


class Control:
    def __init__(self, session: aiohttp.ClientSession, sim: Simulator):
        self.session, self.sim = session, sim

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.sim.url + path.lstrip("/"), **kw) as r:
            return r.status, await r.json()

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        code, body = await self.call(method, path, **kw)
        assert code == 200, (path, code, body)
        return body


@pytest.fixture
async def sim_playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as pw:
        yield pw


class SimEnv:
    """Starts one simulator for a test; opens profiles on it; closes everything afterwards."""

    def __init__(self, pw: Playwright, tmp_path: Path):
        self.pw, self.tmp_path = pw, tmp_path
        self.sim: Simulator | None = None
        self.profiles: list[Profile] = []
        self.session: aiohttp.ClientSession | None = None

    async def start(self, **timings: Any) -> tuple[Simulator, Control]:
        self.sim = Simulator(**timings)
        await self.sim.start()
        self.session = aiohttp.ClientSession()
        return self.sim, Control(self.session, self.sim)

    def profile(self, name: str) -> Profile:
        assert self.sim is not None
        p = Profile(self.pw, self.sim, self.tmp_path / name)
        self.profiles.append(p)
        return p

    async def close(self) -> None:
        for p in self.profiles:
            await p.close()
        if self.session is not None:
            await self.session.close()
        if self.sim is not None:
            await self.sim.stop()


@pytest.fixture
async def sim_env(sim_playwright: Playwright, tmp_path: Path) -> AsyncIterator[SimEnv]:
    env = SimEnv(sim_playwright, tmp_path)
    try:
        yield env
    finally:
        await env.close()


async def pair(p: Profile, control: Control, phone: str) -> None:
    code = await wait_for(p.auth_code, timeout=15, what="a QR code")
    await control.ok("POST", "/control/scan", json={"qr": code["fullCode"], "phone": phone})
    await p.wait_mode("MAIN")


async def test_qr_codes_differ_per_profile_and_rotate(sim_env: SimEnv) -> None:
    sim, control = await sim_env.start()
    profile = sim_env.profile
    a, b = await profile("a").open(), await profile("b").open()
    code_a = await wait_for(a.auth_code, timeout=15, what="QR of a")
    code_b = await wait_for(b.auth_code, timeout=15, what="QR of b")
    assert code_a["type"] == "multidevice" and FULL_CODE.match(code_a["fullCode"])
    assert code_a["fullCode"].startswith(code_a["ref"] + ",")
    assert code_a["fullCode"] != code_b["fullCode"]
    assert await a.js("WPP.isInjected && WPP.isReady") is True
    assert await a.js("[WPP.conn.isAuthenticated(), WPP.conn.isMultiDevice()]") == [False, True]
    assert await a.mode() == "QR" and await a.js("WPP.conn.getMyUserId()") is None
    await a.wait_event("conn.require_auth")
    await a.wait_event("conn.main_ready")
    devices = (await control.ok("GET", "/control/devices"))["devices"]
    assert {d["qr"] for d in devices} == {code_a["fullCode"], code_b["fullCode"]}
    assert all(d["phone"] is None and d["connected"] and d["stream_mode"] == "QR" for d in devices)


async def test_qr_rotation_idle_refresh_and_freeze(sim_env: SimEnv) -> None:
    sim, control = await sim_env.start(qr_first_ttl=1.0, qr_ttl=0.5, max_qr_codes=3)
    profile = sim_env.profile
    p = await profile("a").open()
    await p.wait_event("conn.qrcode_idle", timeout=10)
    codes = [args[0]["fullCode"] for args in await p.events("conn.auth_code_change") if args[0]]
    assert len(codes) == 3 and len(set(codes)) == 3
    assert await p.js("WPP.conn.isIdle()") is True and await p.auth_code() is None
    devices = (await control.ok("GET", "/control/devices"))["devices"]
    assert devices[0]["qr"] is None
    code, body = await control.call(
        "POST", "/control/scan", json={"qr": codes[-1], "phone": PHONE_N}
    )
    assert code == 404 and "error" in body

    # refreshQR starts a new series; a frozen rotation keeps the code alive past its ttl.
    await control.ok("POST", "/control/qr-rotation", json={"frozen": True})
    fresh = await p.js("WPP.conn.refreshQR()")
    assert fresh["fullCode"] not in codes and await p.js("WPP.conn.isIdle()") is False

    async def rotated() -> bool:
        code = await p.auth_code()
        return code is None or code["fullCode"] != fresh["fullCode"]

    with pytest.raises(AssertionError):  # nothing changes for well over a ttl
        await wait_for(rotated, timeout=2.5, what="a rotation while frozen")
    await control.ok("POST", "/control/qr-rotation", json={"frozen": False})
    await wait_for(rotated, timeout=5, what="rotation after thaw")


async def test_pairing_messages_acks_restart_and_logout(sim_env: SimEnv) -> None:
    sim, control = await sim_env.start()
    profile = sim_env.profile
    p = await profile("n").open()
    await pair(p, control, PHONE_N)
    await p.wait_event("conn.authenticated")
    assert await p.js("WPP.conn.getMyUserId()._serialized") == f"{PHONE_N}@c.us"
    assert await p.js("WPP.conn.getMyUserId().toString()") == f"{PHONE_N}@c.us"
    assert await p.js("[WPP.conn.isAuthenticated(), WPP.conn.isMainLoaded()]") == [True, True]
    assert await p.auth_code() is None
    await p.wait_event("conn.online")
    modes = [a[0] for a in await p.events("conn.stream_mode_changed")]
    assert modes[-2:] == ["SYNCING", "MAIN"]
    assert (await p.events("conn.online"))[-1] == [True]
    assert (await control.ok("GET", "/control/devices"))["devices"][0]["phone"] == PHONE_N

    # Incoming message while the page is up.
    res = await control.ok(
        "POST",
        "/control/messages",
        json={"to": PHONE_N, "from": PHONE_X, "body": "olá", "type": "chat"},
    )
    assert res["delivered"] == "live" and MSG_ID.match(res["id"])
    (msg,) = (await p.wait_event("chat.new_message"))[0]
    assert msg["id"]["_serialized"] == res["id"] and msg["id"]["fromMe"] is False
    assert msg["id"]["remote"]["_serialized"] == f"{PHONE_X}@c.us"
    assert msg["from"] == {"server": "c.us", "user": PHONE_X, "_serialized": f"{PHONE_X}@c.us"}
    assert msg["to"]["_serialized"] == f"{PHONE_N}@c.us"
    assert msg["body"] == "olá" and msg["type"] == "chat" and msg["isNewMsg"] is True
    assert isinstance(msg["t"], int) and "fromMe" not in msg
    assert await p.js("__events.find(e => e.name === 'chat.new_message').args[0].serialize().id.id")
    chat = (await p.wait_event("chat.new_chat"))[0][0]
    assert chat["id"]["_serialized"] == f"{PHONE_X}@c.us" and chat["isUser"] is True
    history = await p.js(f"WPP.chat.getMessages('{PHONE_X}@c.us', {{count: -1}})")
    assert [m["body"] for m in history] == ["olá"]
    chats = await p.js("WPP.chat.list({count: 10})")
    assert chats[0]["unreadCount"] == 1 and chats[0]["formattedTitle"] == f"+{PHONE_X}"

    # Sending: recorded by the server, own new_message, ack changes.
    sent = await p.js(f"WPP.chat.sendTextMessage('{PHONE_X}@c.us', 'hello back')")
    assert MSG_ID.match(sent["id"]) and sent["id"].startswith(f"true_{PHONE_X}@c.us_")
    assert (
        sent["ack"] == 1 and sent["to"] == f"{PHONE_X}@c.us" and sent["from"] == f"{PHONE_N}@c.us"
    )
    assert sent["sendMsgResult"]["messageSendResult"] == "OK"
    mine = (await p.wait_event("chat.new_message", count=2))[1][0]
    assert mine["id"]["fromMe"] is True and mine["id"]["_serialized"] == sent["id"]
    records = (await control.ok("GET", f"/control/sent?phone={PHONE_N}"))["messages"]
    assert [(r["id"], r["to"], r["body"], r["ack"]) for r in records] == [
        (sent["id"], f"{PHONE_X}@c.us", "hello back", 1)
    ]
    await control.ok("POST", "/control/ack", json={"phone": PHONE_N, "id": sent["id"], "ack": 3})
    acks = await p.wait_event("chat.msg_ack_change", count=2)  # SENT, then READ
    assert [a[0]["ack"] for a in acks] == [1, 3]
    assert acks[1][0]["ids"][0]["_serialized"] == sent["id"]
    assert acks[1][0]["chat"]["_serialized"] == f"{PHONE_X}@c.us"
    with pytest.raises(Exception, match="invalid_wid|Invalid WID"):
        await p.js("WPP.chat.sendTextMessage('not-a-number', 'x')")

    # Graceful close, then a message while no page is up; it is synced silently on restart.
    await p.close()
    res = await control.ok(
        "POST", "/control/messages", json={"to": PHONE_N, "from": PHONE_X, "body": "while away"}
    )
    assert res["delivered"] == "queued"
    await p.open()
    await p.wait_mode("MAIN")
    assert await p.auth_code() is None and await p.events("conn.auth_code_change") in ([], [[None]])

    async def synced() -> list[str] | None:
        msgs = await p.js(f"WPP.chat.getMessages('{PHONE_X}@c.us', {{count: -1}})")
        return [m["body"] for m in msgs] if len(msgs) == 3 else None

    assert await wait_for(synced, timeout=10, what="history") == ["olá", "hello back", "while away"]
    assert await p.events("chat.new_message") == []
    assert (await p.js(f"WPP.chat.getMessageById('{sent['id']}')"))["ack"] == 3

    # Logout from the phone: logout events, history gone, QR again.
    await control.ok("POST", "/control/logout", json={"phone": PHONE_N})
    await p.wait_event("conn.logout")
    assert (await p.events("conn.logout_reason"))[0] == ["user_initiated"]
    await p.wait_mode("QR")
    new_code = await wait_for(p.auth_code, timeout=10, what="a QR after logout")
    assert FULL_CODE.match(new_code["fullCode"])
    assert await p.js("WPP.chat.list()") == [] and await p.js("WPP.conn.isAuthenticated()") is False
    code, _ = await control.call(
        "POST", "/control/messages", json={"to": PHONE_N, "from": PHONE_X, "body": "x"}
    )
    assert code == 404


async def test_history_survives_sigkill(sim_env: SimEnv) -> None:
    sim, control = await sim_env.start()
    profile = sim_env.profile
    p = await profile("n").open()
    await pair(p, control, PHONE_N)
    await control.ok(
        "POST", "/control/messages", json={"to": PHONE_N, "from": PHONE_X, "body": "keep me"}
    )
    await p.wait_event("chat.new_message")  # emitted once the IndexedDB write has committed
    await wait_for(lambda: session_on_disk(p.path), 30, what="the login on disk")
    assert p.kill()
    await p.close()
    await p.open()
    await p.wait_mode("MAIN")
    msgs = await p.js(f"WPP.chat.getMessages('{PHONE_X}@c.us')")
    assert [m["body"] for m in msgs] == ["keep me"]


async def test_login_survives_a_graceful_close_but_not_an_early_sigkill(sim_env: SimEnv) -> None:
    """Like WhatsApp Web, the page keeps part of its login in localStorage, which Chromium writes
    to disk lazily: closed gracefully right after linking the session is kept, SIGKILLed it is
    lost (the page starts over as an unlinked device, with new keys)."""
    sim, control = await sim_env.start()
    graceful, killed = await sim_env.profile("g").open(), await sim_env.profile("k").open()
    await pair(graceful, control, PHONE_N)
    await pair(killed, control, PHONE_M)
    old_keys = await killed.js("window.__simWA.Conn.keys")
    assert not session_on_disk(killed.path)  # still in Chromium's memory
    assert killed.kill()
    await killed.close()
    await graceful.close()
    await graceful.open()
    await graceful.wait_mode("MAIN")
    await killed.open()
    await killed.wait_mode("QR")
    assert await wait_for(killed.auth_code, timeout=15, what="a QR code")
    assert await killed.js("window.__simWA.Conn.keys") != old_keys


async def test_two_phones_conflict_and_page_logout(sim_env: SimEnv) -> None:
    sim, control = await sim_env.start()
    profile = sim_env.profile
    n, m = await profile("n").open(), await profile("m").open()
    await pair(n, control, PHONE_N)
    await pair(m, control, PHONE_M)

    # N writes to M: M receives it live; the delivery receipt moves N's ack to RECEIVED.
    sent = await n.js(f"WPP.chat.sendTextMessage('{PHONE_M}', 'hi M')")
    got = (await m.wait_event("chat.new_message"))[0][0]
    assert (
        got["body"] == "hi M"
        and got["id"]["_serialized"] == f"false_{PHONE_N}@c.us_{sent['id'].rsplit('_', 1)[1]}"
    )

    async def received() -> bool:
        return any(a[0]["ack"] == 2 for a in await n.events("chat.msg_ack_change"))

    await wait_for(received, timeout=10, what="RECEIVED ack")
    await m.js(f"WPP.chat.markIsRead('{PHONE_N}@c.us')")

    async def read() -> bool:
        return any(a[0]["ack"] == 3 for a in await n.events("chat.msg_ack_change"))

    await wait_for(read, timeout=10, what="READ ack")

    # Conflict: CONFLICT until takeover; messages meanwhile are synced on takeover.
    await control.ok("POST", "/control/conflict", json={"phone": PHONE_N})
    await n.wait_mode("CONFLICT")
    devices = {d["phone"]: d for d in (await control.ok("GET", "/control/devices"))["devices"]}
    assert devices[PHONE_N]["stream_mode"] == "CONFLICT" and not devices[PHONE_N]["connected"]
    assert devices[PHONE_M]["stream_mode"] == "MAIN" and devices[PHONE_M]["connected"]
    assert (await n.events("conn.online"))[-1] == [False]
    res = await control.ok(
        "POST",
        "/control/messages",
        json={"to": PHONE_N, "from": PHONE_X, "body": "during conflict"},
    )
    assert res["delivered"] == "queued"
    await n.js("WPP.whatsapp.Socket.takeover()")
    await n.wait_mode("MAIN")
    bodies = [x["body"] for x in await n.js(f"WPP.chat.getMessages('{PHONE_X}@c.us')")]
    assert bodies == ["during conflict"]

    # Logout from the page: server forgets the link, page shows a QR.
    assert await m.js("WPP.conn.logout()") is True
    await m.wait_mode("QR")
    await wait_for(m.auth_code, timeout=10, what="QR after page logout")
    code, _ = await control.call("POST", "/control/conflict", json={"phone": PHONE_M})
    assert code == 404


async def test_wpp_surface_and_lookups(sim_env: SimEnv) -> None:
    sim, control = await sim_env.start()
    profile = sim_env.profile
    p = await profile("n").open()
    link = await p.js(f"WPP.conn.genLinkDeviceCodeForPhoneNumber('{PHONE_N}')")
    assert re.fullmatch(r"[A-Z0-9]{8}", link)
    await control.ok("POST", "/control/link-code", json={"code": link})
    await p.wait_mode("MAIN")
    assert await p.js("WPP.conn.getMyUserId()._serialized") == f"{PHONE_N}@c.us"
    with pytest.raises(Exception, match="already"):
        await p.js(f"WPP.conn.genLinkDeviceCodeForPhoneNumber('{PHONE_N}')")
    assert (await p.js(f"WPP.contact.queryExists('{PHONE_X}@c.us')"))["wid"][
        "_serialized"
    ] == f"{PHONE_X}@c.us"
    assert await p.js("WPP.contact.queryExists('123456@c.us')") is None
    entry = await p.js(f"WPP.contact.getPnLidEntry('{PHONE_X}@c.us')")
    assert entry["phoneNumber"]["_serialized"] == f"{PHONE_X}@c.us"
    names = await p.js(
        """() => {
          const seen = [];
          const f = () => seen.push('on');
          WPP.on('x.test', f); WPP.once('x.test', () => seen.push('once'));
          WPP.ev.emit('x.test'); WPP.ev.emit('x.test'); WPP.off('x.test', f); WPP.ev.emit('x.test');
          return seen;
        }"""
    )
    assert names == ["on", "once", "on"]
    waited = "() => { setTimeout(() => WPP.ev.emit('x.wait', 7)); return WPP.waitFor('x.wait'); }"
    assert await p.js(waited) == [7]
    assert await p.js("new Promise(r => WPP.loader.onFullReady(() => r(true)))") is True
    assert await p.js("WPP.conn.setKeepAlive(true)") is True


async def test_control_api_errors(sim_env: SimEnv) -> None:
    sim, control = await sim_env.start()
    assert await control.ok("GET", "/control/health") == {"status": "ok"}
    cases = [
        ("POST", "/control/scan", {"data": b"{not json"}, 400),
        ("POST", "/control/scan", {"json": ["a list"]}, 400),
        ("POST", "/control/scan", {"json": {"qr": "2@nope,a,b,c", "phone": PHONE_N}}, 404),
        ("POST", "/control/scan", {"json": {"qr": "x", "phone": "+55 11"}}, 400),
        ("POST", "/control/messages", {"json": {"to": PHONE_N, "from": PHONE_X, "body": "x"}}, 404),
        ("POST", "/control/messages", {"json": {"to": PHONE_N, "from": PHONE_X, "body": 5}}, 400),
        ("GET", f"/control/sent?phone={PHONE_N}", {}, 404),
        ("GET", "/control/sent", {}, 400),
        ("POST", "/control/ack", {"json": {"phone": PHONE_N, "id": "x", "ack": 9}}, 400),
        ("POST", "/control/ack", {"json": {"phone": PHONE_N, "id": "x", "ack": 2}}, 404),
        ("POST", "/control/logout", {"json": {"phone": PHONE_N}}, 404),
        ("POST", "/control/conflict", {"json": {}}, 400),
        ("POST", "/control/qr-rotation", {"json": {"frozen": "yes"}}, 400),
        ("GET", "/control/nope", {}, 404),
    ]
    for method, path, kw, status in cases:
        code, body = await control.call(method, path, **kw)
        assert code == status and "error" in body, (method, path, kw, code, body)
    assert await control.ok("GET", "/control/devices") == {"devices": []}

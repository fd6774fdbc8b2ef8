"""HTTP side of the simulator: the fake WhatsApp Web files and the page WebSocket (control API: control.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from . import heavy
from .action_control import action_routes
from .actions import page_actions
from .bulk import bulk_routes
from .control import WORLD_KEY, _body, control_routes, json_errors
from .group_control import group_routes, page_groups
from .media import media_routes
from .model import Device, SimError
from .polls import poll_routes
from .world import World

log = logging.getLogger("wamc.simulator")

STATIC_DIR = Path(__file__).resolve().parent / "static"
WAJS_PATH = STATIC_DIR / "wa-js.js"
SOCKETS_KEY = web.AppKey("sockets", set[web.WebSocketResponse])
NO_STORE = {"Cache-Control": "no-store"}


class PageConnection:
    """One page WebSocket; outgoing messages go through a queue so they keep their order."""

    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.device: Device | None = None
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def push(self, msg: dict[str, Any]) -> None:
        self._queue.put_nowait(msg)

    async def _write(self) -> None:
        while (msg := await self._queue.get()) is not None:
            try:
                await self.ws.send_json(msg)
            except (ConnectionError, RuntimeError):
                return

    async def close(self) -> None:
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


def _dispatch(world: World, conn: PageConnection, msg: dict[str, Any]) -> Any:
    """Handle one message from a page; the return value answers an RPC ('rid' set)."""
    kind = msg.get("t")
    if kind == "hello":
        return world.hello(conn, msg)
    if conn.device is None:
        raise SimError("say hello first")
    handlers = {
        "state": lambda: world.report_state(conn, msg.get("mode")),
        "stored": lambda: world.stored(conn, msg.get("ids")),
        "read": lambda: world.read(conn, msg.get("chat"), msg.get("ids")),
        "send": lambda: world.send(conn, msg),
        "logout": lambda: world.logout_from_page(conn),
        "takeover": lambda: world.takeover(conn),
        "qr_refresh": lambda: world.refresh_qr(conn),
        "exists": lambda: world.exists(msg.get("phone")),
        "pn_lid": lambda: world.pn_lid(msg.get("id")),
        "link_code": lambda: world.request_link_code(conn, msg.get("phone")),
        "page_emit_done": lambda: world.page_emit_done(msg.get("nonce"), msg.get("report")),
        **page_actions(world, conn, msg),
        **page_groups(world, conn, msg),
    }
    handler = handlers.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise SimError(f"unknown message type {kind!r}")
    return handler()


async def page_socket(request: web.Request) -> web.WebSocketResponse:
    world = request.app[WORLD_KEY]
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    conn = PageConnection(ws)
    request.app[SOCKETS_KEY].add(ws)
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            msg: Any = None
            try:
                msg = json.loads(frame.data)
                if not isinstance(msg, dict):
                    raise SimError("messages are JSON objects")
                result, error = _dispatch(world, conn, msg), None
            except (SimError, ValueError) as exc:
                result, error = None, str(exc)
                log.warning("simulator: bad page message: %s", exc)
            except Exception as exc:  # a bug here must not cut the page off
                result, error = None, f"internal error: {exc}"
                log.exception("simulator: page message failed")
            if isinstance(msg, dict) and msg.get("rid") is not None:
                conn.push({"t": "res", "rid": msg["rid"], "result": result, "error": error})
    finally:
        request.app[SOCKETS_KEY].discard(ws)
        world.disconnect(conn)
        await conn.close()
    return ws


async def _close_sockets(app: web.Application) -> None:
    app[WORLD_KEY].close()
    sockets = app[SOCKETS_KEY]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulator stopping")


async def frame_page(request: web.Request) -> web.Response:
    """A same-origin page for iframes: a frame that is not the main one."""
    html = "<!doctype html><title>frame</title><p>frame</p>"
    return web.Response(text=html, content_type="text/html", headers=NO_STORE)


def _static(name: str, content_type: str):
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(
            STATIC_DIR / name, headers={**NO_STORE, "Content-Type": content_type}
        )

    return handler


def create_app(world: World, weight: str = "light") -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[WORLD_KEY] = world
    app[SOCKETS_KEY] = set()
    app.on_shutdown.append(_close_sockets)
    index = _static("index.html", "text/html; charset=utf-8")
    if weight != "light":  # the heavy page (heavy.py): its bundle before whatsapp.js
        index = heavy.index_handler(weight)
    app.add_routes(
        [
            *heavy.setup(app, weight),
            web.get("/", index),
            web.get("/whatsapp.js", _static("whatsapp.js", "text/javascript; charset=utf-8")),
            web.get("/wa-js.js", _static("wa-js.js", "text/javascript; charset=utf-8")),
            web.get("/sim/ws", page_socket),
            web.get("/sim/frame", frame_page),
            *control_routes(),
            *action_routes(),
            *group_routes(),
            *media_routes(world, app, _body),
            *bulk_routes(app),
            *poll_routes(),
        ]
    )
    return app


class Simulator:
    """A fake WhatsApp Web (page + fake wa-js) and its phones, on one local HTTP port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        qr_first_ttl: float = 60.0,
        qr_ttl: float = 20.0,
        max_qr_codes: int = 6,
        weight: str = "light",
    ):
        if weight not in heavy.WEIGHTS:
            raise ValueError(f"weight must be one of {heavy.WEIGHTS}, not {weight!r}")
        self.weight = weight  # "heavy": a WhatsApp-weight page (heavy.py, docs/simulator.md)
        self.host = host
        self.port = port
        self.timings: dict[str, Any] = {
            "qr_first_ttl": qr_first_ttl,
            "qr_ttl": qr_ttl,
            "max_qr_codes": max_qr_codes,
        }
        self.wajs_path = str(WAJS_PATH)
        self.world: World | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        self.world = World(**self.timings)
        self._runner = web.AppRunner(create_app(self.world, self.weight), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Same logic as the control API, for in-process callers.
    def _w(self) -> World:
        if self.world is None:
            raise RuntimeError("simulator not started")
        return self.world

    async def devices(self) -> list[dict[str, Any]]:
        return self._w().describe()

    async def scan(self, qr: str, phone: str) -> dict[str, Any]:
        device = self._w().scan(qr, phone)
        return {"device_id": device.device_id, "phone": device.phone}

    async def deliver(
        self, to: str, sender: str, body: str, as_lid: bool = False
    ) -> dict[str, str]:
        return self._w().deliver(to, sender, body, as_lid=as_lid)

    async def lid(self, phone: str) -> str:
        """The LID wid WhatsApp gives contact ``phone``."""
        return f"{self._w().lid_for(phone)}@lid"

    async def sent(self, phone: str) -> list[dict[str, Any]]:
        return self._w().sent(phone)

    async def set_ack(self, phone: str, msg_id: str, ack: int) -> dict[str, Any]:
        return self._w().set_ack(phone, msg_id, ack)

    async def revoke(self, phone: str, msg_id: str) -> dict[str, str]:
        return self._w().revoke(phone, msg_id)

    async def edit(self, phone: str, msg_id: str, body: str) -> dict[str, str]:
        return self._w().edit(phone, msg_id, body)

    async def react(self, phone: str, msg_id: str, reaction: str, sender: str) -> dict[str, str]:
        return self._w().react(phone, msg_id, reaction, sender)

    async def presence(self, phone: str, sender: str, state: str) -> dict[str, str]:
        return self._w().presence(phone, sender, state)

    async def call(self, phone: str, sender: str, is_video: bool = False) -> dict[str, str]:
        return self._w().call(phone, sender, is_video)

    async def logout(self, phone: str, reason: str | None = None) -> list[str]:
        return self._w().logout(phone, reason)

    async def conflict(self, phone: str) -> list[str]:
        return self._w().conflict(phone)

    async def freeze_qr(self, frozen: bool = True) -> None:
        self._w().set_qr_frozen(frozen)


def run_simulator(host: str = "127.0.0.1", port: int = 4100, **timings: Any) -> None:
    """Run the simulator in the foreground until SIGINT/SIGTERM (for the CLI)."""

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def main() -> None:
        sim = Simulator(host, port, **timings)
        await sim.start()
        print(f"WhatsApp simulator: {sim.url}", flush=True)
        print(f"  WAMC_WHATSAPP_URL={sim.url}", flush=True)
        print(f"  WAMC_WAJS_PATH={sim.wajs_path}", flush=True)
        print(f"  control API: {sim.url}control/devices", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await sim.stop()

    asyncio.run(main())

"""The simulator (WhatsApp Web + the phone) for tests and bench/: start it, call its control API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from wamc.simulator import Simulator


@contextlib.asynccontextmanager
async def running_simulator() -> AsyncIterator[Simulator]:
    """A simulator on a free loopback port, stopped on exit."""
    sim = Simulator(host="127.0.0.1", port=0)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


class SimControl:
    """Calls to the simulator's control API (it plays the phone and WhatsApp's servers)."""

    def __init__(self, sim: Simulator, http: aiohttp.ClientSession) -> None:
        self.base = sim.url.rstrip("/")
        self.http = http

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, **kw) as r:
            return r.status, await r.json()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body``; its answer, or RuntimeError unless 200."""
        code, data = await self.call("POST", path, json=body)
        if code != 200:
            raise RuntimeError(f"{path}: {code} {data}")
        return data

    async def scan(self, qr: str, phone: str) -> None:
        code, body = await self.call("POST", "/control/scan", json={"qr": qr, "phone": phone})
        assert code == 200, body

    async def deliver(self, to: str, sender: str, body: str) -> str:
        code, data = await self.call(
            "POST",
            "/control/messages",
            json={"to": to, "from": sender, "body": body, "type": "chat"},
        )
        assert code == 200, data
        return data["id"]

    async def sent(self, phone: str) -> list[dict[str, Any]]:
        code, data = await self.call("GET", f"/control/sent?phone={phone}")
        assert code == 200, data
        return data["messages"]

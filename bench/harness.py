"""Shared by the bench scripts: calls to the simulator's control API (the phone's side)."""

from __future__ import annotations

from typing import Any

import aiohttp

from wamc.simulator import Simulator


class SimControl:
    def __init__(self, sim: Simulator, http: aiohttp.ClientSession) -> None:
        self.base = sim.url.rstrip("/")
        self.http = http

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.base + path, json=body) as r:
            data = await r.json()
            if r.status != 200:
                raise RuntimeError(f"{path}: {r.status} {data}")
            return data

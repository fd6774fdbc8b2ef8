"""A webhook receiver for tests: a real loopback HTTP server that records every POST and answers
the statuses a test plans (tests/integration/conftest.py makes it the ``receiver`` fixture)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.daemon import free_port


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server; ``plan[path]`` holds the statuses to answer next (then ``default``)."""

    port: int = field(default_factory=free_port)
    plan: dict[str, list[int]] = field(default_factory=dict)
    default: dict[str, int] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        queued = self.plan.get(request.path)
        status = queued.pop(0) if queued else self.default.get(request.path, 200)
        self.hits.append(Hit(request.path, dict(request.headers), body, status))
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def to(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def ok_ids(self, path: str) -> list[str]:
        return [h.headers["X-Wamc-Event-Id"] for h in self.to(path) if h.status < 300]


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()

"""For operators and the CLI: what the daemon runs against (``/api/system``) and its own log."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from wamc import __version__
from wamc.api.handlers.admin import LOG_LINE_MAX_CHARS, redact, tail_lines
from wamc.api.keys import API_KEY, MANAGER, SETTINGS, STARTED_AT
from wamc.config import DEFAULT_WHATSAPP_URL
from wamc.validation import bounded_int

SYSTEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "backend", "whatsapp_url", "simulator", "wajs_path", "url"],
    "properties": {
        "version": {"type": "string", "examples": ["0.1.0"]},
        "backend": {"type": "string", "description": "how workers run", "examples": ["local"]},
        "whatsapp_url": {"type": "string", "examples": ["https://web.whatsapp.com/"]},
        "simulator": {
            "type": "boolean",
            "description": "true when the WhatsApp URL is not WhatsApp's (the simulator)",
        },
        "wajs_path": {"type": "string"},
        "url": {"type": "string", "description": "where the gateway listens"},
        "home": {"type": "string"},
        "logs_dir": {"type": "string"},
        "pid": {"type": "integer"},
        "started_at": {"type": "string"},
    },
}
SYSTEM_CONTENT = {"application/json": {"schema": SYSTEM_SCHEMA}}
DAEMON_LOGS_CONTENT = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["lines"],
            "properties": {"lines": {"type": "array", "items": {"type": "string"}}},
        }
    }
}


async def system_info(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    backend = type(request.app[MANAGER].supervisor.backend).__name__
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return web.json_response(
        {
            "version": __version__,
            "backend": backend.removesuffix("ProcessBackend").lower() or backend,
            "whatsapp_url": settings.whatsapp_url,
            "simulator": settings.whatsapp_url.rstrip("/") != DEFAULT_WHATSAPP_URL.rstrip("/"),
            "wajs_path": str(settings.resolved_wajs_path()),
            "url": f"http://{host}:{settings.port}",
            "home": str(settings.home),
            "logs_dir": str(settings.logs_dir),
            "pid": os.getpid(),
            "started_at": request.app[STARTED_AT],
        }
    )


async def daemon_logs(request: web.Request) -> web.Response:
    """The tail of logs/wamc.log, credentials masked (``wamc logs`` when the file is not here)."""
    count = bounded_int(request.query.get("lines"), "lines", 100, 1, 1000)
    path = request.app[SETTINGS].logs_dir / "wamc.log"
    raw = await asyncio.to_thread(tail_lines, path, count)
    secrets = [request.app[API_KEY]]
    return web.json_response(
        {"lines": [redact(line[:LOG_LINE_MAX_CHARS], secrets) for line in raw]}
    )

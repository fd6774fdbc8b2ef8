"""The admin dashboard (``/admin/instances``) and the API endpoints it needs.

The dashboard is plain HTML/CSS/JS shipped in ``wamc/dashboard/static``: no CDN, no build step.
Its files are public (they hold no data); every call it makes to ``/api`` and ``/ws`` carries the
API key, which the page keeps in the browser's sessionStorage only.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

from wamc.api.keys import API_KEY, MANAGER, SETTINGS, STORE
from wamc.errors import Refused
from wamc.log import tail_lines  # also read by a Ray node's agent (wamc/daemon/agent.py)
from wamc.storage import messages as message_rows
from wamc.validation import bounded_int, client_id

STATIC_DIR = Path(__file__).resolve().parents[2] / "dashboard" / "static"
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|css|js|svg|png|ico)$")
CONTENT_TYPES = {
    "html": "text/html",
    "css": "text/css",
    "js": "text/javascript",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

LOG_LINES_DEFAULT = 100
LOG_LINES_MAX = 1000
LOG_LINE_MAX_CHARS = 2000
RECENT_DEFAULT = 50
RECENT_MAX = 200

# Anything that looks like a credential in a log line is masked before it leaves the daemon.
SECRET_PATTERNS = [
    re.compile(
        r"(?i)\b(api[_-]?key|x-api-key|token|secret|password|passwd|authorization)"
        r"(\"?\s*[=:]\s*\"?)(bearer\s+)?[^\s\"',;&]+"
    ),
]


# --- static files -------------------------------------------------------------------------------
def _file_response(name: str) -> web.StreamResponse:
    path = STATIC_DIR / name
    if not STATIC_NAME.match(name) or not path.is_file():
        raise web.HTTPNotFound()
    ext = name.rsplit(".", 1)[1]
    headers = {**SECURITY_HEADERS, "Content-Type": f"{CONTENT_TYPES[ext]}; charset=utf-8"}
    if ext in ("png", "ico"):
        headers["Content-Type"] = CONTENT_TYPES[ext]
    return web.FileResponse(path, headers=headers)


async def index(request: web.Request) -> web.StreamResponse:
    return _file_response("index.html")


async def to_instances(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/admin/instances")


async def static(request: web.Request) -> web.StreamResponse:
    return _file_response(request.match_info["name"])


# --- logs ---------------------------------------------------------------------------------------
def redact(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            line = line.replace(secret, "[redacted]")
    for pattern in SECRET_PATTERNS:
        line = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", line)
    return line


async def client_logs(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    client = manager.get(client_id(request.match_info["id"]))
    count = bounded_int(request.query.get("lines"), "lines", LOG_LINES_DEFAULT, 1, LOG_LINES_MAX)
    raw = await manager.nodes.logs(client.id, count)  # a worker on a Ray node: from its agent
    if raw is None:
        path = request.app[SETTINGS].logs_dir / "clients" / f"{client.id}.log"
        raw = await asyncio.to_thread(tail_lines, path, count)
    secrets = [request.app[API_KEY]]
    lines = [redact(line[:LOG_LINE_MAX_CHARS], secrets) for line in raw]
    return web.json_response({"client": client.id, "lines": lines})


# --- recent messages ----------------------------------------------------------------------------
async def recent_messages(request: web.Request) -> web.Response:
    limit = bounded_int(request.query.get("limit"), "limit", RECENT_DEFAULT, 1, RECENT_MAX)
    raw = request.query.get("client")
    only = None
    if raw:
        try:
            only = client_id(raw)
        except Refused as err:
            raise Refused(err.code, err.detail, field="client") from None
        request.app[MANAGER].get(only)
    messages = await message_rows.recent(request.app[STORE], limit, only)
    return web.json_response({"messages": messages})


async def client_recent_messages(request: web.Request) -> web.Response:
    client = request.app[MANAGER].get(client_id(request.match_info["id"]))
    limit = bounded_int(request.query.get("limit"), "limit", RECENT_DEFAULT, 1, RECENT_MAX)
    messages = await message_rows.recent(request.app[STORE], limit, client.id)
    return web.json_response({"messages": messages})

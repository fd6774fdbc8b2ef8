"""JSON answers encoded by msgspec: several times faster than ``json.dumps`` on the hot read
paths (a client's status, the client list), compact, UTF-8."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web
from multidict import CIMultiDict

_encode = msgspec.json.Encoder().encode


def json_reply(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``data`` (plain JSON values) as an ``application/json; charset=utf-8`` answer."""
    return web.Response(
        body=_encode(data),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


# What the gate (wamc/api/middleware.py) puts on every answer that has not set them itself.
SECURE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# A private answer's headers, complete: copied each time, and the gate has nothing to add.
PRESET_JSON_HEADERS = CIMultiDict(
    {
        "Content-Type": "application/json; charset=utf-8",
        **SECURE_HEADERS,
        "Cache-Control": "no-store",
    }
)


class Preset(web.Response):
    """An answer built with every header the gate would add to a private answer without CORS,
    in the order it adds them, so the gate skips that step (issue 13: one step less per poll)."""


def json_body_reply(body: bytes) -> web.Response:
    """JSON already encoded (a cached answer of a private route), as ``json_reply`` would send
    it with the gate's headers."""
    return Preset(body=body, headers=PRESET_JSON_HEADERS)

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


JSON_HEADERS = CIMultiDict({"Content-Type": "application/json; charset=utf-8"})  # copied each time


def json_body_reply(body: bytes) -> web.Response:
    """JSON already encoded (a cached answer), as ``json_reply`` would send it."""
    return web.Response(body=body, headers=JSON_HEADERS)

"""The QR code to scan, or a pairing code to type on the phone: the two ways to link a client."""

from __future__ import annotations

import io
import json

import segno
from aiohttp import web

from wamc.api.keys import MANAGER, SETTINGS
from wamc.errors import Refused
from wamc.states import ClientState
from wamc.validation import PairingRequest, client_id, validate_body
from wamc.wire import commands as C

PAIRING_CODE_SECONDS = 180  # WhatsApp's link codes live about 3 minutes


def _id(request: web.Request) -> str:
    return client_id(request.match_info["id"])


async def qr(request: web.Request) -> web.Response:
    client = request.app[MANAGER].get(_id(request))
    fmt = request.query.get("format", "png")
    if fmt not in ("png", "svg", "json"):
        raise Refused("invalid_parameter", "'format' must be png, svg or json", field="format")
    if client.state != ClientState.QR or not client.qr:
        raise Refused("no_qr", f"client {client.id} is {client.state}, not waiting for a scan")
    if fmt == "json":
        return web.json_response({"id": client.id, "qr": client.qr, "updated_at": client.qr_at})
    code = segno.make(client.qr, error="l")
    buf = io.BytesIO()
    headers = {"Cache-Control": "no-store"}
    if fmt == "svg":
        code.save(buf, kind="svg", scale=6, border=4)
        return web.Response(body=buf.getvalue(), content_type="image/svg+xml", headers=headers)
    code.save(buf, kind="png", scale=8, border=4)
    return web.Response(body=buf.getvalue(), content_type="image/png", headers=headers)


async def pairing_code(request: web.Request) -> web.Response:
    """A code to type on the phone (Linked devices → Link with phone number) instead of a scan."""
    manager = request.app[MANAGER]
    client = manager.get(_id(request))
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None
    spec = validate_body(PairingRequest, body)
    assert isinstance(spec, PairingRequest)
    if client.state != ClientState.QR:
        raise Refused("no_qr", f"client {client.id} is {client.state}, not waiting to be linked")
    timeout = request.app[SETTINGS].request_timeout
    result = await manager.request(
        client, C.PAIRING_CODE, {"phone": spec.phone}, timeout, C.PairingCode
    )
    return web.json_response(
        {"id": client.id, "code": result.code, "expires_in": PAIRING_CODE_SECONDS},
        headers={"Cache-Control": "no-store"},
    )

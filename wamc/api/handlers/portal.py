"""The client owner's page (``/portal``) and the admin's invite link to it.

The page is plain HTML/CSS/JS in ``wamc/dashboard/portal`` (no CDN, no inline script), served
with the admin dashboard's security headers. It signs in with one client's token and calls only
the endpoints that token's scopes allow, so the route table and the security middleware confine
it to its client, and every action it takes is audited like any API call.

``POST /api/clients/{id}/portal-invite`` (admin) makes an expiring token with the portal's
scopes and answers the link ``…/portal#token=…``: the token rides in the fragment, which a
browser never sends to a server (no access log, proxy or Referer sees it). The page moves it to
sessionStorage and removes it from the address bar. The token is an ordinary client token:
listed and revoked with the token API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from loguru import logger

from wamc.api.handlers.admin import CONTENT_TYPES, SECURITY_HEADERS
from wamc.api.keys import MANAGER, SETTINGS, STREAMS, TOKENS
from wamc.api.middleware import principal_of
from wamc.api.portal_models import PortalInviteCreate
from wamc.api.streams import POLICY_VIOLATION
from wamc.errors import Refused
from wamc.security.auth import SCOPES
from wamc.timeutil import iso_from_unix
from wamc.validation import client_id, validate_body

PORTAL_DIR = Path(__file__).resolve().parents[2] / "dashboard" / "portal"
PORTAL_NAME = re.compile(r"^portal\.(html|css|js)$")
SWEEP_INTERVAL = 2.0  # seconds between checks for streams whose token expired


def _file_response(name: str) -> web.StreamResponse:
    path = PORTAL_DIR / name
    if not PORTAL_NAME.match(name) or not path.is_file():
        raise web.HTTPNotFound()
    ext = name.rsplit(".", 1)[1]
    headers = {**SECURITY_HEADERS, "Content-Type": f"{CONTENT_TYPES[ext]}; charset=utf-8"}
    return web.FileResponse(path, headers=headers)


async def index(request: web.Request) -> web.StreamResponse:
    return _file_response("portal.html")


async def to_index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/portal")  # the browser keeps the fragment across the redirect


async def static(request: web.Request) -> web.StreamResponse:
    return _file_response(request.match_info["name"])


async def _invite_spec(request: web.Request) -> PortalInviteCreate:
    if not request.can_read_body:
        return PortalInviteCreate()
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("invalid_json", "the body is not valid JSON") from None
    spec = validate_body(PortalInviteCreate, {} if body is None else body)
    assert isinstance(spec, PortalInviteCreate)
    return spec


async def create_invite(request: web.Request) -> web.Response:
    cid = client_id(request.match_info["id"])
    request.app[MANAGER].get(cid)  # 404 for an unknown client
    spec = await _invite_spec(request)
    expires_at = iso_from_unix(int(time.time()) + spec.expires_in)
    assert expires_at is not None
    rec, secret = await request.app[TOKENS].create(cid, spec.scopes, spec.name, expires_at)
    logger.info("portal invite {} for client {} (expires {})", rec.id, cid, expires_at)
    return web.json_response(
        {
            # The configured address, never the request's Host header (a forged or proxied
            # Host would hand the live token out on a link to another host).
            "url": f"{request.app[SETTINGS].base_url()}/portal#token={secret}",
            "token_id": rec.id,
            "client": cid,
            "scopes": rec.scopes,
            "expires_at": expires_at,
        },
        status=201,
        headers={"Cache-Control": "no-store"},
    )


async def whoami(request: web.Request) -> web.Response:
    """Who this key is: the portal shows only what the token's scopes allow (no 403 probes)."""
    principal = principal_of(request)
    if principal is None:  # the middleware authenticated this call
        raise Refused("unauthorized")
    rec = None if principal.is_admin else request.app[TOKENS].record(principal.key_id)
    return web.json_response(
        {
            "key_id": principal.key_id,
            "admin": principal.is_admin,
            "client": principal.client,
            "scopes": [s for s in SCOPES if s in principal.scopes],
            "name": rec.name if rec else None,
            "expires_at": rec.expires_at if rec else None,
        }
    )


async def close_expired_streams(app: web.Application) -> AsyncIterator[None]:
    """No event stream outlives its token: streams of an expired token end with 1008, as a
    revoked token's do (revocation closes them at once; expiry is found by this sweep)."""

    async def sweep() -> None:
        tokens, streams = app[TOKENS], app[STREAMS]
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                streams.end_where(
                    lambda p: tokens.expired(p.key_id), POLICY_VIOLATION, "token expired"
                )
            except Exception:  # the sweep must outlive any one bad pass
                logger.exception("expired-token stream sweep failed")

    task = asyncio.create_task(sweep(), name="expired-token-streams")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

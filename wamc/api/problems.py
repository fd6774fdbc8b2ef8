"""Domain refusals (wamc/errors.py) as HTTP answers: RFC 9457 problem+json with a stable ``code``.

The one place a refusal code meets an HTTP status; the OpenAPI document reads the same table.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from wamc.errors import Refused

PROBLEM_TYPE = "https://wamc.dev/problems/"
PROBLEM_JSON = "application/problem+json"

# code -> (HTTP status, title); the keys are exactly wamc.errors.CODES (a unit test checks).
HTTP: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "Malformed JSON body"),
    "invalid_field": (400, "Invalid field"),
    "invalid_client_id": (400, "Invalid client id"),
    "invalid_chat_id": (400, "Invalid chat id"),
    "invalid_parameter": (400, "Invalid query parameter"),
    "unauthorized": (401, "Missing or wrong API key"),
    "forbidden": (403, "The key may not do this"),
    "client_not_found": (404, "Unknown client"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "not_connected": (409, "Client is not connected"),
    "no_qr": (409, "No QR code available"),
    "client_busy": (409, "Client is busy"),
    "client_limit": (409, "Too many clients"),
    "idempotency_conflict": (409, "Idempotency-Key reused with another request"),
    "token_not_found": (404, "Unknown API token"),
    "webhook_not_found": (404, "Unknown webhook"),
    "webhook_url_refused": (400, "Webhook destination refused"),
    "upgrade_required": (426, "WebSocket upgrade required"),
    "rate_limited": (429, "Too many requests"),
    "send_queue_full": (429, "The client's send queue is full"),
    "too_many_streams": (429, "Too many open event streams for this key"),
    "payload_too_large": (413, "Request body too large"),
    "whatsapp_error": (502, "WhatsApp Web refused the request"),
    "worker_unavailable": (503, "Client worker is not running"),
    "worker_timeout": (504, "Client worker did not answer in time"),
    "shutting_down": (503, "The daemon is shutting down"),
    "internal_error": (500, "Internal error"),
    "invalid_message_id": (400, "Invalid message id"),
    "message_not_found": (404, "Unknown message"),
    "chat_not_found": (404, "Unknown chat"),
    "not_own_message": (409, "Not a message this client sent"),
    "edit_window_passed": (409, "Too late to edit this message"),
    # contacts, numbers and groups (issue 11)
    "contact_not_found": (404, "Unknown contact"),
    "not_group_admin": (409, "This client is not an admin of the group"),
    # media (issue 11)
    "unsupported_media_type": (415, "Unsupported or mismatched media type"),
    "media_gone": (410, "WhatsApp no longer has this media"),
    "not_on_whatsapp": (422, "The recipient is not on WhatsApp"),
    # per-client settings (issue 11): the outbound proxy
    "invalid_proxy": (400, "Invalid proxy URL"),
    "proxy_auth_unsupported": (422, "This kind of proxy cannot take credentials"),
    "node_not_found": (404, "Unknown node"),
    "node_unavailable": (409, "Node lost or draining"),
    "no_capacity": (409, "No free slot on that node"),
    "not_clustered": (409, "Not a cluster (WAMC_BACKEND is not ray)"),
}


def status_of(code: str) -> int:
    return HTTP[code][0]


def title_of(code: str) -> str:
    return HTTP[code][1]


def problem_body(err: Refused) -> dict[str, Any]:
    status, title = HTTP[err.code]
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + err.code,
        "title": title,
        "status": status,
        "detail": err.detail or title,
        "code": err.code,
    }
    if err.field is not None:
        body["field"] = err.field
    return body


def problem(err: Refused) -> web.Response:
    return web.Response(
        status=status_of(err.code),
        text=json.dumps(problem_body(err)),
        content_type=PROBLEM_JSON,
        headers={"Retry-After": str(err.retry_after)} if err.retry_after else None,
    )

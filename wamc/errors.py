"""API errors as RFC 9457 problem details, with stable machine-readable codes."""

from __future__ import annotations

from typing import Any

PROBLEM_TYPE = "https://wamc.dev/problems/"

# code -> (HTTP status, title). Every code an API answer can carry is listed here.
CODES: dict[str, tuple[int, str]] = {
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
}


class ApiError(Exception):
    def __init__(self, code: str, detail: str = "", field: str | None = None) -> None:
        status, title = CODES[code]
        super().__init__(detail or title)
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail or title
        self.field = field

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            body["field"] = self.field
        return body

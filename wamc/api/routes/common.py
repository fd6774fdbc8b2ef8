"""What several sections of the route table share: the client path, the send errors, query
parameters."""

from __future__ import annotations

from wamc.api.spec import (
    CLIENT_ERRORS,
    WORKER_ERRORS,
    Param,
    query,
)

C = "/api/clients/{id}"
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
    "repeat a send safely: a repeated key returns the first answer and sends nothing",
    example="order-1234-confirmation",
)
QR_CONTENT = {
    "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
    "image/svg+xml": {"schema": {"type": "string"}},
    "application/json": {"schema": {"$ref": "#/components/schemas/QrJson"}},
}
SEND_ERRORS = (
    *CLIENT_ERRORS,
    *("invalid_json", "invalid_field", "invalid_chat_id", "invalid_parameter"),
    *("payload_too_large", "send_queue_full", "idempotency_conflict"),
    *WORKER_ERRORS,
    *("not_on_whatsapp", "chat_not_found", "message_not_found"),  # recipient, reply_to
)

QR_FORMAT = query(
    "format",
    {"type": "string", "enum": ["png", "svg", "json"], "default": "png"},
    "image format, or json for the raw QR text",
)
API_KEY_QUERY = query(
    "api_key",
    {"type": "string"},
    "deprecated, kept for compatibility: the key in the URL (use `ticket`)",
)
LOG_LINES = query(
    "lines",
    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    "how many lines (default 100)",
)

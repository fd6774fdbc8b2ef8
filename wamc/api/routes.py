"""The one route table: routing, authorization (``scope``) and the OpenAPI document.

Each entry says method, path, handler, the scope a key needs, the request/response models
(from ``wamc/validation.py``), the error codes it may answer and its documentation. The factory
builds the router from it, the security middleware reads the scope of the matched entry, and
``openapi.py`` renders the document from it. See ``spec.Route`` for the fields.
"""

from __future__ import annotations

from wamc import validation as V
from wamc.api import stats_models as SM
from wamc.api.handlers import (
    admin,
    clients,
    docs,
    messages,
    ops,
    qr,
    sse,
    stats,
    system,
    tokens,
    webhooks,
    ws,
)
from wamc.api.spec import (
    ANY_JSON,
    CHAT_PARAM,
    CLIENT_ERRORS,
    CLIENT_PARAM,
    SINCE_PARAM,
    STREAM_CLIENTS,
    STREAM_EVENTS,
    TICKET_QUERY,
    TOKEN_PARAM,
    WORKER_ERRORS,
    Param,
    Route,
    admin_only,
    json_body,
    limit,
    page,
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

# The table is laid out by hand, one entry per block (the formatter would spread every
# argument over its own line); keep the order: aiohttp matches in this order.
STATS_DAYS = query(
    "days",
    {"type": "integer", "minimum": 1, "maximum": 90, "default": 30},
    "UTC days covered, today included (default 30)",
)
STATS_BUCKET = query(
    "bucket",
    {"type": "string", "enum": ["hour", "day"], "default": "day"},
    "sums per UTC hour or per UTC day",
)

# fmt: off
SYSTEM = [
    Route("GET", "/health", system.health, "public", "health", "Liveness and client counts",
          "system", response=V.Health),
    Route("POST", "/api/shutdown", system.shutdown, "admin", "shutdown",
          "Stop every worker, then the daemon", "system", ok=202, content=ANY_JSON),
]
OPS = [  # for operators and the CLI (wamc status, wamc simulator …, wamc logs)
    Route("GET", "/api/system", ops.system_info, "admin", "system",
          "Version, worker backend and the WhatsApp URL the daemon uses", "system",
          content=ops.SYSTEM_CONTENT,
          description="`simulator` is true when the WhatsApp URL is not WhatsApp Web's: "
          "`wamc simulator scan|deliver|…` drive that simulator's control API."),
    Route("GET", "/api/logs", ops.daemon_logs, "admin", "daemon_logs",
          "The tail of the daemon's log (credentials masked)", "system",
          content=ops.DAEMON_LOGS_CONTENT, errors=("invalid_parameter",), params=(LOG_LINES,)),
]
CLIENTS = [
    Route("GET", "/api/clients", clients.list_clients, "read", "list_clients", "List clients",
          "clients", response=V.ClientList,
          description="The admin key sees every client; a client token sees only its own."),
    Route("POST", C + "/connect", clients.connect, "control", "connect",
          "Create (if new) and start a client", "clients", ok=202, response=V.ConnectResult,
          errors=(*CLIENT_ERRORS, "client_limit"), params=(CLIENT_PARAM,),
          description="Idempotent. Creating a client beyond WAMC_MAX_CLIENTS answers 409 "
          "client_limit. A client token can only (re)start its own, existing client."),
    Route("POST", C + "/disconnect", clients.disconnect, "control", "disconnect",
          "Stop a client's worker (keeps its session)", "clients", ok=202,
          response=V.ClientStatus, errors=CLIENT_ERRORS, params=(CLIENT_PARAM,)),
    Route("POST", C + "/restart", clients.restart, "control", "restart",
          "Restart a client's worker", "clients", ok=202, response=V.ClientStatus,
          errors=CLIENT_ERRORS, params=(CLIENT_PARAM,)),
    Route("POST", C + "/logout", clients.logout, "control", "logout",
          "Log a client out of WhatsApp (a new QR follows)", "clients", ok=202,
          response=V.ClientStatus, errors=(*CLIENT_ERRORS, *WORKER_ERRORS),
          params=(CLIENT_PARAM,)),
    Route("DELETE", C, clients.delete, "control", "delete_client",
          "Delete a client, its session, messages and tokens", "clients", ok=202,
          response=V.Deleted, errors=CLIENT_ERRORS, params=(CLIENT_PARAM,)),
    Route("GET", C + "/status", clients.status, "read", "status", "A client's state",
          "clients", response=V.ClientStatus, errors=CLIENT_ERRORS, params=(CLIENT_PARAM,)),
    Route("GET", C + "/dead-events", clients.dead_events, "admin", "dead_events",
          "Worker events that were acknowledged but not applied", "clients",
          response=V.DeadEvents, errors=(*CLIENT_ERRORS, "invalid_parameter"),
          params=(CLIENT_PARAM, limit(100, 1000)),
          description="An event from a client's worker whose shape is wrong, or that failed "
          "while being stored, is acknowledged (never retried forever) and kept here for an "
          "operator."),
    Route("GET", C + "/qr", qr.qr, "read", "qr", "The QR code to scan (PNG, SVG or JSON)",
          "clients", errors=(*CLIENT_ERRORS, "no_qr", "invalid_parameter"),
          params=(CLIENT_PARAM, QR_FORMAT), content=QR_CONTENT),
    Route("POST", C + "/pairing-code", qr.pairing_code, "control", "pairing_code",
          "A pairing code to link by phone number instead of a QR scan", "clients",
          response=V.PairingCode, request=V.PairingRequest,
          errors=(*CLIENT_ERRORS, "no_qr", "invalid_json", "invalid_field", *WORKER_ERRORS),
          params=(CLIENT_PARAM,),
          description="Only while the client is in `qr`. The phone opens Linked devices → "
          "Link with phone number and types the code (valid about 3 minutes)."),
]
MESSAGES = [
    Route("POST", C + "/send-message", messages.send_message, "send", "send_message",
          "Send a text message", "messages", ok=201, response=V.SendResult,
          request=V.SendMessage, errors=SEND_ERRORS, params=(CLIENT_PARAM, IDEMPOTENCY_KEY),
          description="The send waits in its client's queue, paced by WAMC_SEND_INTERVAL plus "
          "a random 0..WAMC_SEND_JITTER seconds between two sends (to reduce the risk of a ban), "
          "and answers 201 once WhatsApp Web accepted the message. A full queue answers 429 "
          "send_queue_full with Retry-After; a worker that does not answer within "
          "WAMC_REQUEST_TIMEOUT answers 504 worker_timeout (the message may still go out: "
          "retry with the same Idempotency-Key)."),
    Route("GET", C + "/chats", messages.chats, "read", "chats", "A client's chats", "messages",
          response=V.ChatList, errors=(*CLIENT_ERRORS, "invalid_parameter", *WORKER_ERRORS),
          params=(CLIENT_PARAM, limit(100, 500))),
    Route("GET", C + "/chats/{chatId}/messages", messages.chat_messages, "read",
          "chat_messages", "Stored messages of one chat, newest first", "messages",
          response=V.MessagePage, errors=(*CLIENT_ERRORS, "invalid_chat_id", "invalid_parameter"),
          params=(CLIENT_PARAM, CHAT_PARAM, limit(50, 500),
                  query("before", {"type": "string"}, "cursor from a previous next_before"))),
]
EVENTS = [
    Route("GET", "/ws", ws.websocket, "read", "events", "Event stream (WebSocket)", "events",
          ok=101,
          errors=("invalid_parameter", "upgrade_required", "too_many_streams", "shutting_down"),
          params=(STREAM_CLIENTS, STREAM_EVENTS, TICKET_QUERY, API_KEY_QUERY, SINCE_PARAM),
          description="Upgrade to a WebSocket; every message is one JSON `Event` (see the "
          "schemas `Event` and `Event.*`). A client token receives only its own client's events. "
          "Each key holds at most WAMC_MAX_STREAMS_PER_KEY streams (WebSocket and SSE together; "
          "429 too_many_streams beyond). Close codes: 1001 the daemon is stopping, 1008 the "
          "token was revoked, its client deleted, or the consumer read too slowly."),
    Route("GET", "/api/events", sse.server_sent_events, "read", "eventsSse",
          "Event stream (Server-Sent Events)", "events",
          errors=("invalid_parameter", "too_many_streams", "shutting_down"),
          params=(STREAM_CLIENTS, STREAM_EVENTS, TICKET_QUERY, SINCE_PARAM),
          content={"text/event-stream": {"schema": {"type": "string"}}},
          description="The WebSocket's stream for consumers without WebSocket: each SSE `data` "
          "is one JSON `Event`, its SSE `event` the event name and its SSE `id` the stream "
          "position (`acme:41,shop_2:7`), so `Last-Event-ID` on reconnect resumes without a "
          "gap. The daemon ends the stream with a final `event: shutdown` when it stops, "
          "`event: error` when the token is revoked or its client deleted."),
    Route("POST", "/api/stream-tickets", tokens.create_stream_ticket, "any",
          "create_stream_ticket", "A single-use ticket to open one event stream", "events",
          ok=201, response=V.StreamTicket,
          description="For browsers, which cannot send headers on a WebSocket: open "
          "`/ws?ticket=…` or `/api/events?ticket=…` within 30 s, once. The stream has the "
          "identity and scopes of the key that asked for the ticket; revoking that token voids "
          "its tickets."),
]
TOKENS = [
    Route("GET", C + "/tokens", tokens.list_tokens, "admin", "list_tokens",
          "A client's API tokens (never their secrets)", "tokens", response=V.TokenList,
          errors=CLIENT_ERRORS, params=(CLIENT_PARAM,)),
    Route("POST", C + "/tokens", tokens.create_token, "admin", "create_token",
          "Create an API token for one client", "tokens", ok=201, response=V.TokenCreated,
          request=V.TokenCreate,
          errors=(*CLIENT_ERRORS, "invalid_json", "invalid_field", "payload_too_large"),
          params=(CLIENT_PARAM,),
          description="The secret is in this answer only; the daemon keeps its SHA-256."),
    Route("DELETE", C + "/tokens/{tokenId}", tokens.revoke_token, "admin", "revoke_token",
          "Revoke an API token (effective at once)", "tokens", response=V.TokenRevoked,
          errors=(*CLIENT_ERRORS, "token_not_found"), params=(CLIENT_PARAM, TOKEN_PARAM)),
    Route("GET", "/api/audit", system.audit, "admin", "audit", "The audit log, newest first",
          "system", response=V.AuditPage, errors=("invalid_parameter", "invalid_client_id"),
          params=(query("client", {"type": "string", "pattern": V.CLIENT_ID.pattern}),
                  query("key_id", {"type": "string", "maxLength": 64}, "'admin' or a token id"),
                  limit(100, 1000),
                  query("before", {"type": "integer", "minimum": 1}, "next_before of a page"))),
]
DOCS = [
    Route("GET", "/openapi.json", docs.openapi_json, "public", "openapi",
          "This OpenAPI document", "system", content=ANY_JSON),
    page("/api-docs", docs.api_docs),
    page("/api-docs/", docs.api_docs_redirect),
    page("/api-docs/{name}", docs.api_docs_file),
]
DASHBOARD = [  # the admin dashboard (static, public) and the API calls it needs
    page("/admin", admin.to_instances),
    page("/admin/", admin.to_instances),
    page("/admin/instances", admin.index),
    page("/admin/static/{name}", admin.static),
    Route("GET", C + "/logs", admin.client_logs, "admin", "client_logs",
          "The tail of a client's log (credentials masked)", "system",
          content=json_body("ClientLogs"), errors=(*CLIENT_ERRORS, "invalid_parameter"),
          params=(CLIENT_PARAM, LOG_LINES)),
    Route("GET", C + "/messages/recent", admin.client_recent_messages, "read",
          "client_recent_messages", "A client's newest stored messages across all chats",
          "messages", content=json_body("RecentMessages"),
          errors=(*CLIENT_ERRORS, "invalid_parameter"), params=(CLIENT_PARAM, limit(50, 200))),
    Route("GET", "/api/messages/recent", admin.recent_messages, "admin", "recent_messages",
          "Newest stored messages of every client (dashboard feed)", "messages",
          content=json_body("RecentMessages"), errors=("invalid_parameter", "invalid_client_id"),
          params=(limit(50, 200), query("client", {"type": "string"}, "only this client"))),
]
ANALYTICS = [  # pre-aggregated counters (wamc/storage/stats.py); the dashboard's analytics view
    Route("GET", C + "/stats", stats.client_stats, "read", "client_stats",
          "A client's messages in/out, send failures, restarts and uptime per hour or day",
          "analytics", response=SM.ClientStats,
          errors=(*CLIENT_ERRORS, "invalid_parameter"),
          params=(CLIENT_PARAM, STATS_DAYS, STATS_BUCKET),
          description="Days are UTC days; uptime % is the time connected over the time the "
          "client was desired running (time the daemon did not run is not counted). A client "
          "token reads only its own client."),
    Route("GET", "/api/stats", stats.overall_stats, "admin", "stats",
          "Every client's analytics summed, per hour or day, with each client's totals",
          "analytics", response=SM.OverallStats, errors=("invalid_parameter",),
          params=(STATS_DAYS, STATS_BUCKET)),
]
WEBHOOKS = [  # documented generically for now (admin key only)
    admin_only("GET", "/api/webhooks", webhooks.list_all),
    admin_only("POST", "/api/webhooks", webhooks.create_global),
    admin_only("GET", C + "/webhooks", webhooks.list_for_client),
    admin_only("POST", C + "/webhooks", webhooks.create_for_client),
    admin_only("GET", "/api/webhooks/{wid}", webhooks.get),
    admin_only("PATCH", "/api/webhooks/{wid}", webhooks.update),
    admin_only("DELETE", "/api/webhooks/{wid}", webhooks.delete),
    admin_only("GET", "/api/webhooks/{wid}/deliveries", webhooks.deliveries),
    admin_only("GET", "/api/webhooks/{wid}/dead-letters", webhooks.dead_letters),
    admin_only("POST", "/api/webhooks/{wid}/dead-letters/redeliver", webhooks.redeliver),
]
# fmt: on

ROUTES: tuple[Route, ...] = (
    *SYSTEM,
    *OPS,
    *CLIENTS,
    *MESSAGES,
    *EVENTS,
    *TOKENS,
    *DOCS,
    *DASHBOARD,
    *ANALYTICS,
    *WEBHOOKS,
)

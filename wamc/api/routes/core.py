"""The route table's core sections: system, clients, messages, events, tokens, docs, the
dashboard, exports and webhooks."""

from __future__ import annotations

from wamc import validation as V
from wamc.api import portal_models as P
from wamc.api import stats_models as SM
from wamc.api.handlers import (
    admin,
    clients,
    docs,
    export,
    messages,
    metrics,
    ops,
    portal,
    qr,
    settings,
    sse,
    stats,
    system,
    tokens,
    webhooks,
    ws,
)
from wamc.api.routes.common import (
    API_KEY_QUERY,
    IDEMPOTENCY_KEY,
    LOG_LINES,
    QR_CONTENT,
    QR_FORMAT,
    SEND_ERRORS,
    C,
)
from wamc.api.settings_models import ClientSettingsAnswer
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
    Route,
    admin_only,
    json_body,
    limit,
    page,
    query,
)
from wamc.storage.client_settings import ClientSettings

# The table is laid out by hand, one entry per block (the formatter would spread every
# argument over its own line); the order of ROUTES (wamc/api/routes/__init__.py) is the order
# aiohttp matches in.
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
    Route("GET", "/metrics", metrics.metrics, "metrics", "metrics",
          "Prometheus metrics (text format)", "system",
          content={"text/plain": {"schema": {"type": "string"}}},
          description="The admin key, or the token WAMC_METRICS_TOKEN (`Authorization: Bearer`; "
          "it opens this endpoint only). Names are prefixed `wamc_`; HTTP routes are labelled "
          "by their template. See the README's Metrics section."),
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
EXPORT = [  # issue 11: conversation export (backup) and per-client settings (retention)
    Route("GET", C + "/export", export.export, "read", "export",
          "Export a client's stored messages (JSON Lines, or a tar with media)", "messages",
          errors=(*CLIENT_ERRORS, "invalid_chat_id", "invalid_parameter"),
          params=(CLIENT_PARAM,
                  query("after", {"type": "string", "format": "date-time"},
                        "only messages after this ISO 8601 time (no zone: UTC)"),
                  query("chat", {"type": "string", "pattern": V.CHAT_ID.pattern},
                        "only this chat"),
                  query("media", {"type": "string", "enum": ["0", "1"], "default": "0"},
                        "1: a tar with the cached media files")),
          content={"application/x-ndjson": {"schema": {"type": "string"}},
                   "application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
          description="Streamed (chunked) as it is read, oldest first: one message per line, "
          "in the shape of the history endpoint (`Message`). `X-Wamc-Export-Count` says how many "
          "messages matched when it started. With `media=1` a tar (POSIX, streamed): "
          "`messages.jsonl`, `media/<sha256>` for each media file already in the client's "
          "cache, and `missing.jsonl` listing the media messages whose file is not (fetch them "
          "with the media download endpoint). A truncated transfer ends without the final "
          "chunk, so it cannot pass for a complete one. Scheduled exports: "
          "WAMC_EXPORT_EVERY_HOURS into `sessions/<id>/exports/`."),
    Route("GET", C + "/settings", settings.get_settings, "control", "get_settings",
          "A client's own settings and its effective retention", "clients",
          response=ClientSettingsAnswer, errors=CLIENT_ERRORS, params=(CLIENT_PARAM,)),
    Route("PATCH", C + "/settings", settings.patch_settings, "control", "patch_settings",
          "Change a client's own settings (retention, proxy)", "clients",
          response=ClientSettingsAnswer, request=ClientSettings,
          errors=(*CLIENT_ERRORS, "invalid_json", "invalid_field", "invalid_proxy",
                  "proxy_auth_unsupported"), params=(CLIENT_PARAM,),
          description="A merge: the fields given are set, null puts one back to the global "
          "default, the others stay. Retention (days, 0 = forever) applies at once, in the "
          "background: messages (WAMC_MESSAGE_RETENTION_DAYS), cached media files "
          "(WAMC_MEDIA_RETENTION_DAYS) and logged events (WAMC_EVENT_RETENTION_DAYS). Deleted "
          "messages are not fetched again by the backfill after a restart. `proxy` applies at "
          "the client's next browser start (`POST …/restart`); a malformed one is 400 "
          "`invalid_proxy`, a `socks5://` one with credentials 422 `proxy_auth_unsupported`."),
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
WEBHOOKS = [  # documented generically for now (admin key only), but a client's own (below)
    admin_only("GET", "/api/webhooks", webhooks.list_all),
    admin_only("POST", "/api/webhooks", webhooks.create_global),
    Route("GET", C + "/webhooks", webhooks.list_for_client, "webhooks", "list_client_webhooks",
          "A client's own webhooks (with delivery counts)", "webhooks", content=ANY_JSON,
          errors=CLIENT_ERRORS, params=(CLIENT_PARAM,)),
    Route("POST", C + "/webhooks", webhooks.create_for_client, "webhooks",
          "create_client_webhook", "Add a webhook for one client's events", "webhooks", ok=201,
          content=ANY_JSON, params=(CLIENT_PARAM,),
          errors=(*CLIENT_ERRORS, "invalid_json", "invalid_field", "webhook_url_refused"),
          description="Body `{\"url\", \"events\"?, \"secret\"?, \"headers\"?, "
          "\"retry\"?, \"timeout\"?, \"enabled\"?}`; the answer holds the signing `secret` "
          "(shown only here)."),
    Route("GET", C + "/webhooks/{wid}", webhooks.get_for_client, "webhooks",
          "get_client_webhook", "One of a client's webhooks", "webhooks", content=ANY_JSON,
          errors=(*CLIENT_ERRORS, "webhook_not_found"), params=(CLIENT_PARAM,)),
    Route("DELETE", C + "/webhooks/{wid}", webhooks.delete_for_client, "webhooks",
          "delete_client_webhook", "Remove one of a client's webhooks with its outbox",
          "webhooks", ok=204, errors=(*CLIENT_ERRORS, "webhook_not_found"),
          params=(CLIENT_PARAM,)),
    Route("GET", C + "/webhooks/{wid}/deliveries", webhooks.deliveries_for_client, "webhooks",
          "client_webhook_deliveries", "The newest delivery attempts of a client's webhook",
          "webhooks", content=ANY_JSON, errors=(*CLIENT_ERRORS, "webhook_not_found",
          "invalid_parameter"), params=(CLIENT_PARAM, limit(20, 200))),
    admin_only("GET", "/api/webhooks/{wid}", webhooks.get),
    admin_only("PATCH", "/api/webhooks/{wid}", webhooks.update),
    admin_only("DELETE", "/api/webhooks/{wid}", webhooks.delete),
    admin_only("GET", "/api/webhooks/{wid}/deliveries", webhooks.deliveries),
    admin_only("GET", "/api/webhooks/{wid}/dead-letters", webhooks.dead_letters),
    admin_only("POST", "/api/webhooks/{wid}/dead-letters/redeliver", webhooks.redeliver),
]
PORTAL = [  # the client owner's page (static, public) and its invite link (admin)
    page("/portal", portal.index),
    page("/portal/", portal.to_index),
    page("/portal/static/{name}", portal.static),
    Route("GET", "/api/whoami", portal.whoami, "any", "whoami",
          "The calling key: its client, scopes and expiry", "tokens", response=P.WhoAmI,
          description="Lets a page show only what its token may do (the portal uses it)."),
    Route("POST", C + "/portal-invite", portal.create_invite, "admin", "create_portal_invite",
          "An invite link to the client owner's page", "tokens", ok=201,
          response=P.PortalInvite, request=P.PortalInviteCreate,
          errors=(*CLIENT_ERRORS, "invalid_json", "invalid_field"), params=(CLIENT_PARAM,),
          description="Creates an expiring client token with the portal's scopes (`read`, "
          "`send`, `control`, `webhooks`; a body may narrow them and set `expires_in`) and "
          "answers the link `…/portal#token=…`: the token rides in the URL fragment, never sent "
          "to a server. Revoke it like any token; it is listed with its `expires_at`."),
]
# fmt: on

"""The one route table: routing, authorization (``scope``) and the OpenAPI document.

Each entry says method, path, handler, the scope a key needs, the request/response models
(from ``wamc/validation/``), the error codes it may answer and its documentation. The factory
builds the router from it, the security middleware reads the scope of the matched entry, and
``openapi.py`` renders the document from it. See ``spec.Route`` for the fields.
"""

from __future__ import annotations

from wamc import validation as V
from wamc.api import group_models as GM
from wamc.api import message_models as MM
from wamc.api.handlers import (
    admin,
    clients,
    contacts,
    docs,
    export,
    groups,
    media,
    message_actions,
    messages,
    metrics,
    ops,
    qr,
    settings,
    sse,
    system,
    tokens,
    webhooks,
    ws,
)
from wamc.api.media_models import SendMedia, SendMediaResult
from wamc.api.settings_models import ClientSettingsAnswer
from wamc.api.spec import (
    ANY_JSON,
    CHAT_PARAM,
    CLIENT_ERRORS,
    CLIENT_PARAM,
    MESSAGE_PARAM,
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
from wamc.storage.client_settings import ClientSettings

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

# The table is laid out by hand, one entry per block (the formatter would spread every
# argument over its own line); keep the order: aiohttp matches in this order.
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
          "Change a client's own settings (retention)", "clients",
          response=ClientSettingsAnswer, request=ClientSettings,
          errors=(*CLIENT_ERRORS, "invalid_json", "invalid_field"), params=(CLIENT_PARAM,),
          description="A merge: the fields given are set, null puts one back to the global "
          "default, the others stay. Retention (days, 0 = forever) applies at once, in the "
          "background: messages (WAMC_MESSAGE_RETENTION_DAYS), cached media files "
          "(WAMC_MEDIA_RETENTION_DAYS) and logged events (WAMC_EVENT_RETENTION_DAYS). Deleted "
          "messages are not fetched again by the backfill after a restart."),
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
# Replies, reactions, read, typing, edits, deletes, locations and contacts (issue 11). After
# DASHBOARD: GET …/messages/recent is matched first, and "recent" is no message id anyway.
MSG = C + "/messages/{msgId}"
ACTION_ERRORS = (*CLIENT_ERRORS, "invalid_message_id", "message_not_found", *WORKER_ERRORS)
PACED_ERRORS = ("send_queue_full", "idempotency_conflict", "invalid_parameter")
MESSAGE_ACTIONS = [
    Route("POST", MSG + "/reaction", message_actions.react, "send", "react",
          "React to a message (or remove your reaction)", "messages", response=MM.ReactionResult,
          request=MM.Reaction,
          errors=(*ACTION_ERRORS, "invalid_json", "invalid_field", *PACED_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `sendReactionToMessage`. An empty emoji removes your reaction. "
          "It goes out through the client's paced send queue; the `message.reaction` event "
          "follows (with `sender` your own id)."),
    Route("PATCH", MSG, message_actions.edit, "send", "edit_message", "Edit a message you sent",
          "messages", response=MM.EditResult, request=MM.EditMessage,
          errors=(*ACTION_ERRORS, "invalid_json", "invalid_field", "not_own_message",
                  "edit_window_passed", *PACED_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `editMessage`: your own text messages, within WhatsApp's edit "
          "window (15 minutes; later: 409 edit_window_passed; someone else's message: 409 "
          "not_own_message). The `message.edited` event follows and the history shows the new "
          "text."),
    Route("DELETE", MSG, message_actions.delete, "send", "delete_message",
          "Delete a message for everyone or for this account only", "messages",
          response=MM.DeleteResult, errors=(*ACTION_ERRORS, "not_own_message", *PACED_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM, IDEMPOTENCY_KEY,
                  query("for", {"type": "string", "enum": ["everyone", "me"]},
                        "everyone (the default for your own messages) or me (any message; the "
                        "default for others')")),
          description="wa-js `deleteMessage`. For everyone: only your own messages (409 "
          "not_own_message); the history keeps it as type `revoked` and `message.revoked` "
          "follows. For me: it leaves this account's history and `message.deleted` follows."),
    Route("POST", C + "/chats/{chatId}/read", message_actions.mark_read, "send", "mark_read",
          "Mark a chat read (blue ticks for its messages)", "messages",
          response=MM.ReadResult, errors=(*CLIENT_ERRORS, "invalid_chat_id", "chat_not_found",
                                          *WORKER_ERRORS),
          params=(CLIENT_PARAM, CHAT_PARAM), description="wa-js `markIsRead`."),
    Route("POST", C + "/chats/{chatId}/typing", message_actions.typing, "send", "typing",
          "Show typing…, recording… or stop (paused) in a chat", "messages",
          response=MM.TypingResult, request=MM.Typing,
          errors=(*CLIENT_ERRORS, "invalid_chat_id", "chat_not_found", "invalid_json",
                  "invalid_field", *WORKER_ERRORS),
          params=(CLIENT_PARAM, CHAT_PARAM),
          description="wa-js `markIsComposing`, `markIsRecording`, `markIsPaused`."),
    Route("POST", C + "/send-location", message_actions.send_location, "send", "send_location",
          "Send a location", "messages", ok=201, response=MM.KindResult,
          request=MM.SendLocation,
          errors=SEND_ERRORS,
          params=(CLIENT_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `sendLocationMessage`; paced like a text. `reply_to` quotes a "
          "message."),
    Route("POST", C + "/send-contact", message_actions.send_contact, "send", "send_contact",
          "Send one or more contact cards", "messages", ok=201, response=MM.KindResult,
          request=MM.SendContact,
          errors=SEND_ERRORS,
          params=(CLIENT_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `sendVCardContactMessage`: each contact is a phone number or "
          "chat id with an optional display name; paced like a text."),
]
MEDIA = [  # issue 11
    Route("POST", C + "/send-media", media.send_media, "send", "send_media",
          "Send an image, video, audio, voice note, document or sticker", "messages", ok=201,
          response=SendMediaResult, request=SendMedia, params=(CLIENT_PARAM,),
          errors=(*SEND_ERRORS, "unsupported_media_type", "not_on_whatsapp", "message_not_found"),
          description="`multipart/form-data` with the fields `file`, `to` and optionally "
          "`caption`, `filename`, `reply_to`, `as` (image, video, audio, voice, document, "
          "sticker; default: from the type sniffed from the bytes), streamed to disk; or the "
          "JSON body below with `media.data` in base64 (at most 16 MB) or `media.url` (fetched "
          "by the gateway: public http(s) addresses only). Limits per kind: "
          "WAMC_MEDIA_MAX_IMAGE_MB (images, stickers), WAMC_MEDIA_MAX_VIDEO_MB, "
          "WAMC_MEDIA_MAX_AUDIO_MB (audio, voice), WAMC_MEDIA_MAX_DOCUMENT_MB: 413 "
          "payload_too_large beyond. 415 unsupported_media_type when the bytes are not an "
          "allowed type of the kind (a voice note must be OGG/Opus, a sticker WebP; documents "
          "take any type; nothing is transcoded). Paced like send-message; `type` is WhatsApp's "
          "(`ptt` for a voice note). Idempotency-Key is not honoured here: a retried upload is "
          "sent again."),
    Route("GET", C + "/messages/{msgId}/media", media.message_media, "read", "message_media",
          "Download a message's media", "messages",
          errors=(*CLIENT_ERRORS, "invalid_message_id", "message_not_found", "media_gone",
                  *WORKER_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM,
                  query("download", {"type": "string", "enum": ["0", "1"]},
                        "1: as an attachment with its file name (Content-Disposition)")),
          content={"*/*": {"schema": {"type": "string", "format": "binary"}}},
          description="The file with its content type, fetched from WhatsApp through the "
          "client's worker on first request and kept in a per-client cache "
          "(WAMC_MEDIA_CACHE_MB, least recently used out). 410 media_gone when WhatsApp no "
          "longer has it. The message must be stored (history)."),
]
# fmt: on

ROUTES: tuple[Route, ...] = (
    *SYSTEM,
    *OPS,
    *CLIENTS,
    *MESSAGES,
    *MEDIA,
    *EVENTS,
    *TOKENS,
    *DOCS,
    *DASHBOARD,
    *EXPORT,
    *WEBHOOKS,
    *MESSAGE_ACTIONS,
)

# --- Contacts, numbers and groups (issue 11) ----------------------------------------------------
GROUP_PARAM = Param(
    "gid",
    "path",
    {"type": "string", "pattern": V.GROUP_ID.pattern},
    "a group's id",
    True,
    "120363012345678901@g.us",
)
CONTACT_PARAM = Param(
    "contactId",
    "path",
    {"type": "string"},
    "a contact's id (`<number>@c.us` or `<lid>@lid`) or a phone number with its country code",
    True,
    "5511988887777@c.us",
)
PHONE_PARAM = Param(
    "phone",
    "path",
    {"type": "string", "pattern": V.PHONE.pattern},
    "a phone number with its country code (digits, optional +)",
    True,
    "5511988887777",
)
ONLINE = (*CLIENT_ERRORS, *WORKER_ERRORS)
GROUP_ERRORS = (*ONLINE, "invalid_chat_id", "chat_not_found")
GROUP_CHANGE_ERRORS = (
    *GROUP_ERRORS,
    "not_group_admin",
    "invalid_json",
    "invalid_field",
    "send_queue_full",
)
# fmt: off
CONTACT_ROUTES = [
    Route("GET", C + "/contacts", contacts.list_contacts, "read", "list_contacts",
          "The contacts WhatsApp Web knows", "contacts", response=GM.ContactListOut,
          errors=(*ONLINE, "invalid_parameter"),
          params=(CLIENT_PARAM, limit(1000, 5000),
                  query("only_my_contacts", {"type": "boolean", "default": False},
                        "only those saved in the phone's address book")),
          description="`WPP.contact.list`: people in the address book and people the account "
          "has talked to or shares a group with, without their profile pictures."),
    Route("GET", C + "/contacts/{contactId}", contacts.get_contact, "read", "get_contact",
          "One contact, with its profile picture URL", "contacts", response=GM.ContactDetail,
          errors=(*ONLINE, "invalid_chat_id", "contact_not_found"),
          params=(CLIENT_PARAM, CONTACT_PARAM),
          description="`WPP.contact.get` and `WPP.contact.getProfilePictureUrl` (WhatsApp's URL "
          "expires after a while; null when the contact shows no picture to this account). 404 "
          "contact_not_found when WhatsApp Web does not know the contact."),
    Route("POST", C + "/contacts/{contactId}/block", contacts.block_contact, "send",
          "block_contact", "Block a contact", "contacts", response=GM.BlockResult,
          errors=(*ONLINE, "invalid_chat_id"), params=(CLIENT_PARAM, CONTACT_PARAM),
          description="`WPP.blocklist.blockContact`. Idempotent."),
    Route("POST", C + "/contacts/{contactId}/unblock", contacts.unblock_contact, "send",
          "unblock_contact", "Unblock a contact", "contacts", response=GM.BlockResult,
          errors=(*ONLINE, "invalid_chat_id"), params=(CLIENT_PARAM, CONTACT_PARAM),
          description="`WPP.blocklist.unblockContact`. Idempotent."),
    Route("GET", C + "/numbers/{phone}", contacts.number_exists, "read", "number_exists",
          "Whether a phone number is on WhatsApp", "contacts", response=GM.NumberExists,
          errors=(*ONLINE, "invalid_parameter", "rate_limited"),
          params=(CLIENT_PARAM, PHONE_PARAM),
          description="`WPP.contact.queryExists`. Rate limited per client "
          "(WAMC_NUMBER_LOOKUPS_PER_MINUTE, bursts of WAMC_NUMBER_LOOKUP_BURST; 429 rate_limited "
          "with Retry-After beyond): checking many numbers is a known reason for a ban."),
]
GROUP_ROUTES = [
    Route("GET", C + "/groups", groups.list_groups, "send", "list_groups",
          "The groups the account is in", "groups", response=GM.GroupListOut, errors=ONLINE,
          params=(CLIENT_PARAM,), description="`WPP.group.getAllGroups`."),
    Route("POST", C + "/groups", groups.create_group, "send", "create_group", "Create a group",
          "groups", ok=201, response=GM.GroupCreatedOut, request=GM.GroupCreate,
          errors=(*ONLINE, "invalid_json", "invalid_field", "not_on_whatsapp",
                  "send_queue_full"),
          params=(CLIENT_PARAM,),
          description="`WPP.group.create`. Each participant is checked first "
          "(`WPP.contact.queryExists`): one not on WhatsApp is left out and reported with error "
          "`not_on_whatsapp` in `participants`; when none is on WhatsApp nothing is created "
          "(422 not_on_whatsapp). Paced like sends."),
    Route("GET", C + "/groups/{gid}", groups.group_info, "send", "group_info",
          "A group: subject, description, participants with their admin flags", "groups",
          response=GM.GroupInfoOut, errors=GROUP_ERRORS, params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.getParticipants` and the group's metadata. 404 chat_not_found "
          "for a group WhatsApp Web does not have."),
    Route("POST", C + "/groups/{gid}/participants", groups.change_participants, "send",
          "group_participants", "Add, remove, promote or demote participants", "groups",
          response=GM.ParticipantsChanged, request=GM.ParticipantsChange,
          errors=GROUP_CHANGE_ERRORS, params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.addParticipants`, `removeParticipants`, "
          "`promoteParticipants`, `demoteParticipants`, in that order. Needs the client to be "
          "an admin of the group (409 not_group_admin). Every id gets its outcome in "
          "`participants` (`ok`, or an `error`: not_on_whatsapp, already_participant, "
          "not_participant, already_admin, not_admin, privacy_restricted with an "
          "`invite_code`, pending_approval). Each change is also a `group.participant_changed` "
          "event. Paced like sends."),
    Route("POST", C + "/groups/{gid}/leave", groups.leave_group, "send", "leave_group",
          "Leave a group", "groups", response=GM.GroupLeftOut,
          errors=(*GROUP_ERRORS, "send_queue_full"), params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.leave`. Idempotent: `was_member` is false when the client "
          "had already left."),
    Route("GET", C + "/groups/{gid}/invite", groups.group_invite, "send", "group_invite",
          "The group's invite link", "groups", response=GM.GroupInviteOut,
          errors=(*GROUP_ERRORS, "not_group_admin"), params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.getInviteCode`; only admins may see it (409 "
          "not_group_admin)."),
    Route("POST", C + "/groups/{gid}/invite/revoke", groups.revoke_group_invite, "send",
          "revoke_group_invite", "Revoke the invite link (a new one replaces it)", "groups",
          response=GM.GroupInviteOut, errors=(*GROUP_ERRORS, "not_group_admin",
                                              "send_queue_full"),
          params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.revokeInviteCode`: the old link stops working; the answer "
          "is the new one."),
]
# fmt: on
ROUTES = (*ROUTES, *CONTACT_ROUTES, *GROUP_ROUTES)

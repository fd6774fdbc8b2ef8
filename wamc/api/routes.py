"""The one route table of the gateway."""

from __future__ import annotations

from aiohttp import web

from wamc.gateway import (
    admin,
    clients,
    messages,
    openapi,
    system,
    tokens_api,
    webhooks_api,
    ws,
)

ROUTES = [
    web.get("/health", system.health),
    web.post("/api/shutdown", system.shutdown),
    web.get("/api/clients", clients.list_clients),
    web.post("/api/clients/{id}/connect", clients.connect),
    web.post("/api/clients/{id}/disconnect", clients.disconnect),
    web.post("/api/clients/{id}/restart", clients.restart),
    web.post("/api/clients/{id}/logout", clients.logout),
    web.delete("/api/clients/{id}", clients.delete),
    web.get("/api/clients/{id}/status", clients.status),
    web.get("/api/clients/{id}/dead-events", clients.dead_events),
    web.get("/api/clients/{id}/qr", clients.qr),
    web.post("/api/clients/{id}/pairing-code", clients.pairing_code),
    web.post("/api/clients/{id}/send-message", messages.send_message),
    web.get("/api/clients/{id}/chats", messages.chats),
    web.get("/api/clients/{id}/chats/{chatId}/messages", messages.chat_messages),
    web.get("/ws", ws.websocket),
    web.get("/api/events", ws.server_sent_events),
    web.post("/api/stream-tickets", tokens_api.create_stream_ticket),
    # per-client tokens, audit log, the OpenAPI document and Swagger UI (issue 5)
    web.get("/api/clients/{id}/tokens", tokens_api.list_tokens),
    web.post("/api/clients/{id}/tokens", tokens_api.create_token),
    web.delete("/api/clients/{id}/tokens/{tokenId}", tokens_api.revoke_token),
    web.get("/api/audit", tokens_api.audit),
    web.get("/openapi.json", openapi.openapi_json),
    web.get("/api-docs", openapi.api_docs),
    web.get("/api-docs/", openapi.api_docs_redirect),
    web.get("/api-docs/{name}", openapi.api_docs_file),
    # admin dashboard (static, public) and the API calls it needs
    web.get("/admin", admin.to_instances),
    web.get("/admin/", admin.to_instances),
    web.get("/admin/instances", admin.index),
    web.get("/admin/static/{name}", admin.static),
    web.get("/api/clients/{id}/logs", admin.client_logs),
    web.get("/api/clients/{id}/messages/recent", admin.client_recent_messages),
    web.get("/api/messages/recent", admin.recent_messages),
    # webhooks (issue 4)
    web.get("/api/webhooks", webhooks_api.list_all),
    web.post("/api/webhooks", webhooks_api.create_global),
    web.get("/api/clients/{id}/webhooks", webhooks_api.list_for_client),
    web.post("/api/clients/{id}/webhooks", webhooks_api.create_for_client),
    web.get("/api/webhooks/{wid}", webhooks_api.get),
    web.patch("/api/webhooks/{wid}", webhooks_api.update),
    web.delete("/api/webhooks/{wid}", webhooks_api.delete),
    web.get("/api/webhooks/{wid}/deliveries", webhooks_api.deliveries),
    web.get("/api/webhooks/{wid}/dead-letters", webhooks_api.dead_letters),
    web.post("/api/webhooks/{wid}/dead-letters/redeliver", webhooks_api.redeliver),
]

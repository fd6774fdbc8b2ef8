"""The one route table of the gateway."""

from __future__ import annotations

from aiohttp import web

from wamc.gateway import admin, clients, messages, system, ws

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
    web.get("/api/clients/{id}/qr", clients.qr),
    web.post("/api/clients/{id}/send-message", messages.send_message),
    web.get("/api/clients/{id}/chats", messages.chats),
    web.get("/api/clients/{id}/chats/{chatId}/messages", messages.chat_messages),
    web.get("/ws", ws.websocket),
    # admin dashboard (static, public) and the API calls it needs
    web.get("/admin", admin.to_instances),
    web.get("/admin/", admin.to_instances),
    web.get("/admin/instances", admin.index),
    web.get("/admin/static/{name}", admin.static),
    web.get("/api/clients/{id}/logs", admin.client_logs),
    web.get("/api/clients/{id}/messages/recent", admin.client_recent_messages),
    web.get("/api/messages/recent", admin.recent_messages),
]

"""The one route table of the gateway."""

from __future__ import annotations

from aiohttp import web

from wamc.gateway import clients, messages, system, ws

ROUTES = [
    web.get("/health", system.health),
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
]

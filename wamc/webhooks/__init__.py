"""Webhooks: signed, retried, durable delivery of events to HTTP endpoints."""

from wamc.webhooks.service import (
    Webhook,
    WebhookIn,
    WebhookService,
    blocked_address,
    check_url,
    sign,
)

__all__ = ["Webhook", "WebhookIn", "WebhookService", "blocked_address", "check_url", "sign"]

"""Webhooks: signed, retried, durable delivery of events to HTTP endpoints."""

from wamc.webhooks.guard import blocked_address, check_url
from wamc.webhooks.models import Webhook, WebhookIn
from wamc.webhooks.service import WebhookService
from wamc.webhooks.signing import sign

__all__ = ["Webhook", "WebhookIn", "WebhookService", "blocked_address", "check_url", "sign"]

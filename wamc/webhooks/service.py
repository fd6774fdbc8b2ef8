"""Webhooks: signed, retried, durable delivery of events to HTTP endpoints.

* Configuration lives in the ``webhooks`` table (global ones have ``client`` NULL).
* Every event a webhook wants is put in ``webhook_outbox`` by the statement that writes the
  event to the log (wamc/storage/events.py), so nothing is lost to a crash or a restart; :mod:`wamc.webhooks.dispatcher` delivers it, :mod:`wamc.webhooks.signing` signs it,
  :mod:`wamc.webhooks.guard` keeps it away from private addresses.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from loguru import logger

from wamc.errors import Refused
from wamc.events.bus import EventBus
from wamc.storage import Database
from wamc.storage import webhooks as rows
from wamc.timeutil import utc_now_iso
from wamc.webhooks.dispatcher import Dispatcher
from wamc.webhooks.guard import ALLOW_PRIVATE_ENV, check_destination
from wamc.webhooks.models import Webhook, WebhookIn
from wamc.webhooks.signing import new_secret


class WebhookService:
    """CRUD of webhooks; wakes the dispatcher for the outbox rows events queue.

    ``allow_private``: ``Settings.webhook_allow_private`` (destinations may be private)."""

    def __init__(
        self, db: Database, bus: EventBus, allow_private: bool, concurrency: int = 64
    ) -> None:
        self.db = db
        self.bus = bus
        self.allow_private = allow_private
        self.hooks: dict[str, Webhook] = {}
        self.dispatcher = Dispatcher(db, self.hooks, allow_private, concurrency)

    async def start(self) -> None:
        for r in await rows.load_hooks(self.db):
            self.hooks[r.id] = Webhook.from_row(r)
        self.dispatcher.start()
        self.bus.on_queued(self._queued)
        if self.allow_private:
            logger.warning("webhooks may reach private addresses ({}=1)", ALLOW_PRIVATE_ENV)

    async def stop(self, grace: float = 5.0) -> None:
        """Let attempts in flight finish (bounded), then stop; pending rows wait in the outbox."""
        await self.dispatcher.stop(grace)

    def _queued(self, client_key: str, hook_ids: list[str]) -> None:
        """Committed outbox rows (wamc/storage/events.py queues them with their event)."""
        self.dispatcher.notify({(wid, client_key) for wid in hook_ids})

    async def create(self, client: str | None, spec: WebhookIn) -> tuple[Webhook, str]:
        url = await check_destination(spec.url, self.allow_private)
        secret = spec.secret or new_secret()
        hook = Webhook(
            id="wh_" + uuid.uuid4().hex[:20],
            client=client,
            url=url,
            events=frozenset(spec.events) if spec.events is not None else None,
            secret=secret,
            headers=dict(spec.headers),
            max_attempts=spec.retry.max_attempts,
            backoff_base=spec.retry.backoff_base,
            backoff_max=max(spec.retry.backoff_max, spec.retry.backoff_base),
            timeout=spec.timeout,
            enabled=spec.enabled,
            created_at=utc_now_iso(),
        )
        await rows.save_hook(self.db, hook.row())
        self.hooks[hook.id] = hook
        self.dispatcher.rescan()  # rows queued before it was known here
        logger.info(
            "webhook {} created for {}", hook.id, f"client {client}" if client else "all clients"
        )
        return hook, secret

    async def update(self, wid: str, changes: dict[str, Any]) -> Webhook:
        hook = self.get(wid)
        merged = WebhookIn.model_validate({**hook.spec(), **changes})
        if "url" in changes:
            hook.url = await check_destination(merged.url, self.allow_private)
        hook.apply(merged)
        await rows.save_hook(self.db, hook.row())
        self.dispatcher.rescan()
        return hook

    def get(self, wid: str) -> Webhook:
        hook = self.hooks.get(wid)
        if hook is None:
            raise Refused("webhook_not_found", f"no webhook {wid[:80]!r}")
        return hook

    def listing(self, client: str | None = None, scoped: bool = False) -> list[Webhook]:
        hooks = sorted(self.hooks.values(), key=lambda h: h.created_at)
        return [h for h in hooks if not scoped or h.client == client]

    async def delete(self, wid: str) -> None:
        self.get(wid)
        del self.hooks[wid]
        self.dispatcher.cancel_lanes(wid)
        await rows.delete_hook(self.db, wid)
        logger.info("webhook {} deleted", wid)

    async def delete_client(self, client: str) -> int:
        """A deleted client's webhooks go with their outbox and dead letters: a client created
        later under the same id must not send to the old owner's URL."""
        gone = [h.id for h in self.hooks.values() if h.client == client]
        for wid in gone:
            await self.delete(wid)
        return len(gone)

    async def counts(self, wid: str) -> dict[str, int]:
        return await rows.counts(self.db, wid)

    async def deliveries(self, wid: str, limit: int) -> list[dict[str, Any]]:
        self.get(wid)
        return await rows.deliveries(self.db, wid, limit)

    async def dead_letters(self, wid: str, limit: int) -> list[dict[str, Any]]:
        self.get(wid)
        return await rows.dead_letters(self.db, wid, limit)

    async def redeliver(self, wid: str, ids: list[int] | None) -> int:
        """Put dead letters (all, or those ``ids``) back in the outbox with fresh attempts."""
        self.get(wid)
        n = await rows.redeliver(self.db, wid, ids, time.time())
        if n:
            self.dispatcher.rescan()
            logger.info("webhook {}: {} dead letter(s) queued again", wid, n)
        return n

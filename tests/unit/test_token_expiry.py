"""Expiring client tokens (portal invites): refused from their ``expires_at`` on, also after a
restart reloads them from SQLite; their stream tickets die with them; old rows never expire."""

from __future__ import annotations

import time
from pathlib import Path

from wamc.security import StreamTickets, Tokens
from wamc.storage import Database
from wamc.timeutil import iso_from_unix

ADMIN_KEY = "admin-key-0123456789-0123456789-0123"


async def test_an_expiring_token_works_until_its_time_then_is_refused(tmp_path: Path) -> None:
    store = Database(tmp_path / "t.db")
    await store.open()
    try:
        tokens = Tokens(store, ADMIN_KEY)
        await tokens.load()
        deadline = int(time.time()) + 60
        rec, secret = await tokens.create(
            "acme", ["webhooks", "read"], "invite", iso_from_unix(deadline)
        )
        forever, forever_secret = await tokens.create("acme", ["read"], "plain")
        assert rec.scopes == ["read", "webhooks"] and rec.public()["expires_at"]
        principal = tokens.authenticate(secret)
        assert principal is not None and principal.scopes == {"read", "webhooks"}
        assert tokens.active(rec.id) and not tokens.expired(rec.id)
        assert tokens.expired(rec.id, now=deadline) and not tokens.expired(rec.id, deadline - 1)
        assert not tokens.expired(forever.id, now=deadline + 10**9)
        tickets = StreamTickets(tokens)
        ticket = tickets.issue(principal)

        # A restarted daemon reads the deadline back from SQLite.
        fresh = Tokens(store, ADMIN_KEY)
        await fresh.load()
        reloaded = fresh.record(rec.id)
        assert reloaded is not None and reloaded.expires_at == rec.expires_at
        assert fresh.expired(rec.id, now=deadline) and fresh.record(forever.id) is not None

        # Past the deadline (moved here instead of waiting): refused, and so are its tickets.
        tokens._deadline[rec.id] = time.time() - 1  # test-only: the deadline has passed
        assert tokens.authenticate(secret) is None and not tokens.active(rec.id)
        assert tickets.redeem(ticket) is None
        assert tokens.authenticate(forever_secret) is not None
        # Still listed (with its expires_at) and revocable by the admin.
        assert {r.id for r in tokens.list("acme")} == {rec.id, forever.id}
        assert await tokens.revoke("acme", rec.id) and tokens.record(rec.id) is None
    finally:
        await store.close()

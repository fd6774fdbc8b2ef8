"""Who is calling: the admin key, or a per-client API token limited to scopes.

The admin key (``WAMC_API_KEY`` or the 0600 file under ``sessions/.wamc/``) may do everything.
A token belongs to one client and carries scopes: ``read`` (status, QR, chats, history, events),
``send`` (send messages), ``control`` (connect, disconnect, restart, logout, delete) and
``webhooks`` (its own client's webhooks). A token may expire (portal invites do): after its
``expires_at`` it is refused like a revoked one.
Tokens are random 32-byte secrets shown once at creation; only their SHA-256 is stored (in the
``api_tokens`` table of the daemon's SQLite store). Token ids (``tok_…``) name them in the audit
log; the secret itself is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from wamc.errors import Refused
from wamc.storage import Database
from wamc.storage import tokens as token_rows
from wamc.storage.tokens import TokenRecord
from wamc.timeutil import utc_now_iso

SCOPES = ("read", "send", "control", "webhooks")
ADMIN_ID = "admin"
TOKEN_PREFIX = "wamc_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    key_id: str  # "admin" or a token id; safe to log
    client: str | None  # None: every client (admin)
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return self.client is None

    def check(self, scope: str, client: str | None) -> None:
        """Raise 403 unless this key may use ``scope`` on ``client``."""
        if self.is_admin:
            return
        if scope == "admin":
            raise Refused("forbidden", "this endpoint needs the admin key")
        if scope not in self.scopes:
            raise Refused("forbidden", f"this token lacks the '{scope}' scope")
        if client is not None and client != self.client:
            raise Refused("forbidden", "this token belongs to another client")


ADMIN = Principal(ADMIN_ID, None, frozenset(SCOPES))
METRICS_SCOPE = "metrics"
# WAMC_METRICS_TOKEN's caller: no client (not even its own), only the metrics scope.
METRICS = Principal("metrics", "", frozenset({METRICS_SCOPE}))


class Tokens:
    """Token registry: SQLite is the truth, an in-memory index by hash answers each request.

    Revocation updates the index before it returns, so a revoked token fails at once.
    """

    def __init__(self, db: Database, admin_key: str, metrics_token: str = "") -> None:
        self.db = db
        self._admin = admin_key.encode()
        self._metrics = metrics_token.encode()
        self._by_hash: dict[str, TokenRecord] = {}
        self._deadline: dict[str, float] = {}  # token id -> unix time it expires at

    async def load(self) -> None:
        self._by_hash.clear()
        self._deadline.clear()
        for rec in await token_rows.active(self.db):
            self._index(rec)

    def _index(self, rec: TokenRecord) -> None:
        self._by_hash[rec.hash] = rec
        if rec.expires_at:
            self._deadline[rec.id] = datetime.fromisoformat(rec.expires_at).timestamp()

    def expired(self, token_id: str, now: float | None = None) -> bool:
        deadline = self._deadline.get(token_id)
        return deadline is not None and (time.time() if now is None else now) >= deadline

    def authenticate(self, presented: str | None) -> Principal | None:
        if not presented:
            return None
        raw = presented.encode("utf-8", "surrogatepass")
        if hmac.compare_digest(raw, self._admin):
            return ADMIN
        if not presented.startswith(TOKEN_PREFIX):
            return None
        digest = hash_token(presented)
        rec = self._by_hash.get(digest)
        # The index is keyed by a hash of the secret: the lookup reveals nothing about the token
        # by its timing; the final compare is constant-time anyway.
        if rec is None or not hmac.compare_digest(rec.hash, digest) or self.expired(rec.id):
            return None
        return Principal(rec.id, rec.client, frozenset(rec.scopes))

    def authenticate_metrics(self, presented: str | None) -> Principal | None:
        """For ``GET /metrics`` only: WAMC_METRICS_TOKEN (if set), else any key as usual."""
        raw = (presented or "").encode("utf-8", "surrogatepass")
        if self._metrics and raw and hmac.compare_digest(raw, self._metrics):
            return METRICS
        return self.authenticate(presented)

    async def create(
        self, client: str, scopes: list[str], name: str, expires_at: str | None = None
    ) -> tuple[TokenRecord, str]:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        rec = TokenRecord(
            id="tok_" + secrets.token_hex(8),
            client=client,
            name=name,
            scopes=[s for s in SCOPES if s in scopes],
            created_at=utc_now_iso(),
            hash=hash_token(secret),
            expires_at=expires_at,
        )
        await token_rows.add(self.db, rec)
        self._index(rec)
        return rec, secret

    def record(self, token_id: str) -> TokenRecord | None:
        return next((r for r in self._by_hash.values() if r.id == token_id), None)

    def list(self, client: str) -> list[TokenRecord]:
        found = [r for r in self._by_hash.values() if r.client == client]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def revoke(self, client: str, token_id: str) -> bool:
        for digest, rec in list(self._by_hash.items()):
            if rec.id == token_id and rec.client == client:
                del self._by_hash[digest]  # effective before the database write
                self._deadline.pop(token_id, None)
                await token_rows.revoke(self.db, token_id, utc_now_iso())
                return True
        return False

    def active(self, key_id: str) -> bool:
        """Is this key id (``admin`` or a token id) still valid (not revoked, not expired)?"""
        if key_id == ADMIN_ID:
            return True
        return not self.expired(key_id) and any(r.id == key_id for r in self._by_hash.values())

    async def revoke_client(self, client: str) -> int:
        """Revoke every token of a deleted client (a later client of that id starts clean)."""
        gone = [d for d, r in self._by_hash.items() if r.client == client]
        for digest in gone:
            self._deadline.pop(self._by_hash.pop(digest).id, None)
        await token_rows.revoke_client(self.db, client, utc_now_iso())
        return len(gone)


TICKET_PREFIX = "wst_"
TICKET_TTL = 30.0
MAX_TICKETS = 10_000
MAX_TICKETS_PER_KEY = 50


class StreamTickets:
    """Single-use tickets that open one event stream (``?ticket=`` on ``/ws`` and
    ``/api/events``), so a browser never puts a key in a URL (URLs end up in logs and history).

    A ticket carries the identity and scopes of the key that asked for it, lives ``TICKET_TTL``
    seconds, works once, and dies with its token. Only hashes are kept, in memory: a restart
    voids them all.
    """

    def __init__(self, tokens: Tokens, ttl: float = TICKET_TTL) -> None:
        self.tokens = tokens
        self.ttl = ttl
        self._live: dict[str, tuple[Principal, float]] = {}

    def _prune(self, now: float) -> None:
        for digest in [d for d, (_, exp) in self._live.items() if exp <= now]:
            del self._live[digest]

    def issue(self, principal: Principal, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        self._prune(now)
        mine = sum(1 for p, _ in self._live.values() if p.key_id == principal.key_id)
        if mine >= MAX_TICKETS_PER_KEY or len(self._live) >= MAX_TICKETS:
            # Per key first: one key's unused tickets never lock the others out of streams.
            raise Refused("rate_limited", "too many unused stream tickets: try again shortly")
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        self._live[hash_token(ticket)] = (principal, now + self.ttl)
        return ticket

    def redeem(self, ticket: str | None, now: float | None = None) -> Principal | None:
        if not ticket or not ticket.startswith(TICKET_PREFIX) or len(ticket) > 100:
            return None
        now = time.monotonic() if now is None else now
        found = self._live.pop(hash_token(ticket), None)  # single use, valid or not
        if found is None:
            return None
        principal, expires = found
        if expires <= now or not self.tokens.active(principal.key_id):
            return None
        return principal

"""Who is calling: the admin key, or a per-client API token limited to scopes.

The admin key (``WAMC_API_KEY`` or the 0600 file under ``sessions/.wamc/``) may do everything.
A token belongs to one client and carries scopes: ``read`` (status, QR, chats, history, events),
``send`` (send messages) and ``control`` (connect, disconnect, restart, logout, delete).
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
from typing import Any

from wamc.errors import ApiError
from wamc.store import Store
from wamc.timeutil import utc_now_iso

SCOPES = ("read", "send", "control")
ADMIN_ID = "admin"
TOKEN_PREFIX = "wamc_"

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS api_tokens_by_client ON api_tokens (client);
CREATE TABLE IF NOT EXISTS audit (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    key_id TEXT,
    action TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    client TEXT,
    status INTEGER NOT NULL,
    result TEXT NOT NULL,
    remote TEXT,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS audit_by_client ON audit (client, n);
CREATE TABLE IF NOT EXISTS idempotency (
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (client, key)
);
"""


async def init_schema(store: Store) -> None:
    """Create the tables of tokens, audit entries and idempotent sends (idempotent)."""
    await store.conn.executescript(SCHEMA)
    async with store.conn.execute("PRAGMA table_info(audit)") as cur:
        columns = {r[1] for r in await cur.fetchall()}
    if "count" not in columns:  # additive upgrade: failed sign-ins are counted, not one row each
        await store.conn.execute("ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1")
    await store.conn.execute("CREATE INDEX IF NOT EXISTS audit_by_time ON audit (timestamp)")
    await store.conn.commit()


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
            raise ApiError("forbidden", "this endpoint needs the admin key")
        if scope not in self.scopes:
            raise ApiError("forbidden", f"this token lacks the '{scope}' scope")
        if client is not None and client != self.client:
            raise ApiError("forbidden", "this token belongs to another client")


ADMIN = Principal(ADMIN_ID, None, frozenset(SCOPES))


@dataclass
class TokenRecord:
    id: str
    client: str
    name: str
    scopes: list[str]
    created_at: str
    hash: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client": self.client,
            "name": self.name,
            "scopes": self.scopes,
            "created_at": self.created_at,
        }


class Tokens:
    """Token registry: SQLite is the truth, an in-memory index by hash answers each request.

    Revocation updates the index before it returns, so a revoked token fails at once.
    """

    def __init__(self, store: Store, admin_key: str) -> None:
        self.store = store
        self._admin = admin_key.encode()
        self._by_hash: dict[str, TokenRecord] = {}

    async def load(self) -> None:
        await init_schema(self.store)
        self._by_hash.clear()
        sql = "SELECT * FROM api_tokens WHERE revoked_at IS NULL"
        async with self.store.conn.execute(sql) as cur:
            for r in await cur.fetchall():
                rec = TokenRecord(
                    r["id"],
                    r["client"],
                    r["name"],
                    r["scopes"].split(","),
                    r["created_at"],
                    r["hash"],
                )
                self._by_hash[rec.hash] = rec

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
        if rec is None or not hmac.compare_digest(rec.hash, digest):
            return None
        return Principal(rec.id, rec.client, frozenset(rec.scopes))

    async def create(self, client: str, scopes: list[str], name: str) -> tuple[TokenRecord, str]:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        rec = TokenRecord(
            id="tok_" + secrets.token_hex(8),
            client=client,
            name=name,
            scopes=[s for s in SCOPES if s in scopes],
            created_at=utc_now_iso(),
            hash=hash_token(secret),
        )
        await self.store.write(
            "INSERT INTO api_tokens (id, client, name, scopes, hash, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (rec.id, rec.client, rec.name, ",".join(rec.scopes), rec.hash, rec.created_at),
        )
        self._by_hash[rec.hash] = rec
        return rec, secret

    def list(self, client: str) -> list[TokenRecord]:
        found = [r for r in self._by_hash.values() if r.client == client]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def revoke(self, client: str, token_id: str) -> bool:
        for digest, rec in list(self._by_hash.items()):
            if rec.id == token_id and rec.client == client:
                del self._by_hash[digest]  # effective before the database write
                await self.store.write(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (utc_now_iso(), token_id)
                )
                return True
        return False

    def active(self, key_id: str) -> bool:
        """Is this key id (``admin`` or a token id) still valid?"""
        return key_id == ADMIN_ID or any(r.id == key_id for r in self._by_hash.values())

    async def revoke_client(self, client: str) -> int:
        """Revoke every token of a deleted client (a later client of that id starts clean)."""
        gone = [d for d, r in self._by_hash.items() if r.client == client]
        for digest in gone:
            del self._by_hash[digest]
        await self.store.write(
            "UPDATE api_tokens SET revoked_at = ? WHERE client = ? AND revoked_at IS NULL",
            (utc_now_iso(), client),
        )
        return len(gone)


TICKET_PREFIX = "wst_"
TICKET_TTL = 30.0
MAX_TICKETS = 10_000


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
        if len(self._live) >= MAX_TICKETS:
            raise ApiError("rate_limited", "too many unused stream tickets: try again shortly")
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

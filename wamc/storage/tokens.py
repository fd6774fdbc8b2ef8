"""API tokens: only the SHA-256 of each secret is stored; revoked rows are kept, marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wamc.storage.db import Database


@dataclass
class TokenRecord:
    id: str
    client: str
    name: str
    scopes: list[str]
    created_at: str
    hash: str
    expires_at: str | None = None  # ISO 8601 UTC; None: never expires

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client": self.client,
            "name": self.name,
            "scopes": self.scopes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


async def active(db: Database) -> list[TokenRecord]:
    """Every token not revoked."""
    rows = await db.fetchall("SELECT * FROM api_tokens WHERE revoked_at IS NULL")
    return [
        TokenRecord(
            r["id"],
            r["client"],
            r["name"],
            r["scopes"].split(","),
            r["created_at"],
            r["hash"],
            r["expires_at"],
        )
        for r in rows
    ]


async def add(db: Database, rec: TokenRecord) -> None:
    await db.write(
        "INSERT INTO api_tokens (id, client, name, scopes, hash, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            rec.id,
            rec.client,
            rec.name,
            ",".join(rec.scopes),
            rec.hash,
            rec.created_at,
            rec.expires_at,
        ),
    )


async def revoke(db: Database, token_id: str, at: str) -> None:
    await db.write("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (at, token_id))


async def revoke_client(db: Database, client: str, at: str) -> None:
    """Revoke every token of one client still active."""
    await db.write(
        "UPDATE api_tokens SET revoked_at = ? WHERE client = ? AND revoked_at IS NULL",
        (at, client),
    )

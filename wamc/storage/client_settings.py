"""Per-client settings (issue 11): one typed object of optional fields, stored as JSON.

A field left out (or null) follows the daemon's global default (``wamc/config.py``); a value
overrides it for that client. New settings are one more optional field here (e.g. ``proxy``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from wamc.config import Settings
from wamc.storage.db import Database

MAX_DAYS = 36500.0  # a hundred years: larger values are typos
Days = Annotated[float, Field(ge=0, le=MAX_DAYS, allow_inf_nan=False, strict=True)]


class ClientSettings(BaseModel):
    """A client's own settings; null (or absent) = the global default."""

    model_config = ConfigDict(extra="forbid")

    message_retention_days: Days | None = Field(
        default=None,
        examples=[90],
        description="delete stored messages older than this; 0 = keep forever "
        "(default WAMC_MESSAGE_RETENTION_DAYS)",
    )
    media_retention_days: Days | None = Field(
        default=None,
        examples=[30],
        description="delete cached media files older than this; 0 = keep until the cache's "
        "size cap evicts them (default WAMC_MEDIA_RETENTION_DAYS)",
    )
    event_retention_days: Days | None = Field(
        default=None,
        examples=[7],
        description="delete logged events older than this (resume with ?since= reaches back "
        "that far); 0 = keep forever (default WAMC_EVENT_RETENTION_DAYS)",
    )
    proxy: str | None = Field(
        default=None,
        max_length=2048,
        examples=["http://user:secret@proxy.example.net:3128"],
        description="the outbound proxy of the client's browser, `http://`, `https://` or "
        "`socks5://` (credentials only for http/https: Chromium cannot authenticate to SOCKS5); "
        "applies at the next browser start (restart the client); answers show it with the "
        "password masked as `****` (sending that masked form back keeps the stored password); "
        "null = no proxy",
    )


class Retention(BaseModel):
    """The retention a client gets: its own values, else the global defaults (0 = forever)."""

    message_days: float = Field(examples=[90])
    media_days: float = Field(examples=[0])
    event_days: float = Field(examples=[30])


def effective_retention(settings: Settings, own: ClientSettings) -> Retention:
    def pick(value: float | None, default: float) -> float:
        return max(0.0, default if value is None else value)

    return Retention(
        message_days=pick(own.message_retention_days, settings.message_retention_days),
        media_days=pick(own.media_retention_days, settings.media_retention_days),
        event_days=pick(own.event_retention_days, settings.event_retention_days),
    )


def _decode(raw: str) -> ClientSettings:
    """A stored object; fields unknown to this version (written by a newer one) are ignored."""
    data: dict[str, Any] = json.loads(raw)
    known = {k: v for k, v in data.items() if k in ClientSettings.model_fields}
    return ClientSettings.model_validate(known)


async def get(db: Database, client_id: str) -> ClientSettings:
    row = await db.fetchone("SELECT data FROM client_settings WHERE client=?", (client_id,))
    return _decode(row["data"]) if row is not None else ClientSettings()


async def all_settings(db: Database) -> dict[str, ClientSettings]:
    rows = await db.fetchall("SELECT client, data FROM client_settings")
    return {r["client"]: _decode(r["data"]) for r in rows}


async def patch(db: Database, client_id: str, change: ClientSettings) -> ClientSettings:
    """Apply the fields ``change`` names (null: back to the default); the merged object."""
    async with db.transaction():
        current = await get(db, client_id)
        merged = current.model_copy(update={k: getattr(change, k) for k in change.model_fields_set})
        data = json.dumps(merged.model_dump(exclude_none=True), separators=(",", ":"))
        await db.conn.execute(
            "INSERT INTO client_settings (client, data) VALUES (?, ?)"
            " ON CONFLICT (client) DO UPDATE SET data = excluded.data",
            (client_id, data),
        )
    return merged


async def forget_client(db: Database, client_id: str) -> None:
    await db.write("DELETE FROM client_settings WHERE client=?", (client_id,))

"""Placements (Ray backend): each client's node and epoch, and the drained nodes."""

from __future__ import annotations

from wamc.storage.db import Database


async def all_placements(db: Database) -> dict[str, tuple[str, int]]:
    """client → (node, epoch)."""
    rows = await db.fetchall("SELECT client, node, epoch FROM placements")
    return {r[0]: (r[1], int(r[2])) for r in rows}


async def save(db: Database, client: str, node: str, epoch: int) -> None:
    await db.write(
        "INSERT INTO placements (client, node, epoch) VALUES (?, ?, ?)"
        " ON CONFLICT (client) DO UPDATE SET node = excluded.node, epoch = excluded.epoch",
        (client, node, epoch),
    )


async def forget(db: Database, client: str) -> None:
    await db.write("DELETE FROM placements WHERE client = ?", (client,))


async def drained(db: Database) -> set[str]:
    return {r[0] for r in await db.fetchall("SELECT node FROM node_drains")}


async def set_drain(db: Database, node: str, on: bool, since: str) -> None:
    if on:
        await db.write(
            "INSERT INTO node_drains (node, since) VALUES (?, ?) ON CONFLICT (node) DO NOTHING",
            (node, since),
        )
    else:
        await db.write("DELETE FROM node_drains WHERE node = ?", (node,))

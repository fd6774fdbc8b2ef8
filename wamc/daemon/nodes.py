"""The operator's view of the cluster (Ray backend): nodes, moving a client, draining a node.

The backend is seen through :class:`Clustered` only, so this module never imports Ray; with the
local backend every operation is refused with ``not_clustered``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

from loguru import logger

from wamc.daemon.backend import Backend
from wamc.daemon.control import Control
from wamc.daemon.placement import NodeView
from wamc.daemon.registry import DESIRED_RUNNING, Client, Registry
from wamc.errors import Refused


@runtime_checkable
class Clustered(Protocol):
    """What a placing backend (wamc/daemon/ray_backend.py) offers the operator."""

    @property
    def views(self) -> dict[str, NodeView]: ...
    def describe(self) -> list[dict[str, Any]]: ...
    def check_target(self, node_id: str) -> NodeView: ...
    def pin(self, client_id: str, node_id: str) -> None: ...
    def node_of(self, client_id: str) -> str | None: ...
    async def set_drain(self, node_id: str, on: bool) -> None: ...
    async def logs(self, client_id: str, count: int) -> list[str] | None: ...


class Nodes:
    def __init__(self, registry: Registry, control: Control, backend: Backend) -> None:
        self.registry = registry
        self.control = control
        self.cluster = backend if isinstance(backend, Clustered) else None
        self._tasks: set[asyncio.Task[None]] = set()

    def _need(self) -> Clustered:
        if self.cluster is None:
            raise Refused("not_clustered", "nodes exist with WAMC_BACKEND=ray only")
        return self.cluster

    def listing(self) -> dict[str, Any]:
        if self.cluster is None:
            return {"backend": "local", "nodes": []}
        return {"backend": "ray", "nodes": self.cluster.describe()}

    async def logs(self, client_id: str, count: int) -> list[str] | None:
        """A remote client's log lines through its agent; None: read them here."""
        return None if self.cluster is None else await self.cluster.logs(client_id, count)

    def node(self, node_id: str) -> dict[str, Any]:
        for row in self._need().describe():
            if row["id"] == node_id:
                return row
        raise Refused("node_not_found", f"no node {node_id!r} offers wamc slots")

    async def move(self, client_id: str, node_id: str) -> Client:
        """Clean stop, then start on ``node_id`` (the profile store's hooks run around it)."""
        cluster = self._need()
        client = self.registry.get(client_id)
        if cluster.node_of(client_id) == node_id and client.handle is not None:
            return client  # already there
        cluster.check_target(node_id)
        cluster.pin(client_id, node_id)
        logger.bind(client=client_id).info("moving to node {}", node_id[:12])
        return await self.control.restart(client_id)

    async def drain(self, node_id: str, on: bool) -> dict[str, Any]:
        """Keep new clients off ``node_id`` and move its clients elsewhere, one at a time (in
        the background); undone with ``on=False`` (clients stay where they are)."""
        cluster = self._need()
        await cluster.set_drain(node_id, on)
        if on:
            clients = sorted(cluster.views[node_id].clients)
            logger.info("draining node {}: moving {} clients", node_id[:12], len(clients))
            task = asyncio.create_task(self._move_off(node_id, clients), name=f"drain:{node_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self.node(node_id)

    async def _move_off(self, node_id: str, clients: list[str]) -> None:
        cluster = self._need()
        for client_id in clients:
            if node_id not in cluster.views or not cluster.views[node_id].draining:
                return  # the drain was undone
            client = self.registry.clients.get(client_id)
            if client is None or cluster.node_of(client_id) != node_id:
                continue
            if client.desired != DESIRED_RUNNING:
                continue  # stopped meanwhile by its user: a drain never starts a client
            try:
                await self.control.restart(client_id)
            except Exception:
                logger.bind(client=client_id).exception("drain: moving the client failed")

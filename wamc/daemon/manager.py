"""The daemon's parts wired together, and the thin face the API sees (``app[MANAGER]``)."""

from __future__ import annotations

from typing import Any

from wamc.config import Settings
from wamc.daemon.backend import Backend
from wamc.daemon.control import Control
from wamc.daemon.exports import ExportSchedule
from wamc.daemon.inbox import Inbox
from wamc.daemon.ingest import Ingest
from wamc.daemon.link import Transport
from wamc.daemon.media import MediaFiles
from wamc.daemon.nodes import Nodes
from wamc.daemon.registry import Client, Registry
from wamc.daemon.retention import RetentionService
from wamc.daemon.supervision import Supervisor
from wamc.events import EventBus
from wamc.storage import Database


class ClientManager:
    """What the API calls: the registry's records and the control operations."""

    def __init__(
        self,
        registry: Registry,
        supervisor: Supervisor,
        inbox: Inbox,
        ingest: Ingest,
        control: Control,
    ) -> None:
        self.registry = registry
        self.supervisor = supervisor
        self.inbox = inbox  # the link's connection sink
        self.ingest = ingest  # the link's event sink
        self.control = control
        self.settings = registry.settings
        self.store = registry.store
        self.clients: dict[str, Client] = registry.clients
        self.media = MediaFiles(self.settings, self.store, control)  # issue 11
        ingest.on_media = self.media.hook()
        self.retention = RetentionService(registry)  # issue 11: retention and exports
        self.exports = ExportSchedule(registry)
        self.analytics = registry.analytics
        self.nodes = Nodes(registry, control, supervisor.backend)  # issue 14: Ray nodes

    @classmethod
    def build(
        cls, settings: Settings, store: Database, bus: EventBus, backend: Backend, link: Transport
    ) -> ClientManager:
        registry = Registry(settings, store, bus)
        supervisor = Supervisor(registry, backend, link)
        inbox = Inbox(registry, link)
        ingest = Ingest(registry, link, inbox)
        return cls(registry, supervisor, inbox, ingest, Control(registry, supervisor, link))

    def get(self, client_id: str) -> Client:
        return self.registry.get(client_id)

    async def connect(self, client_id: str) -> tuple[Client, bool]:
        return await self.control.connect(client_id)

    async def disconnect(self, client_id: str) -> Client:
        return await self.control.disconnect(client_id)

    async def restart(self, client_id: str) -> Client:
        return await self.control.restart(client_id)

    async def logout(self, client_id: str) -> Client:
        return await self.control.logout(client_id)

    async def delete(self, client_id: str) -> None:
        await self.control.delete(client_id)

    async def request(
        self,
        client: Client,
        cmd: str,
        args: dict[str, Any],
        timeout: float,
        result_type: Any = Any,
    ) -> Any:
        return await self.control.request(client, cmd, args, timeout, result_type)

"""The operations the API calls: connect, disconnect, restart, logout, delete, request.

Each is idempotent: it records what is desired and wakes the client's supervision loop, which
does the work. Errors are ``Refused`` codes (wamc/errors.py), never HTTP responses."""

from __future__ import annotations

import shutil
from typing import Any

from wamc.daemon.link import Transport
from wamc.daemon.profiles.snapshots import LINEAGE
from wamc.daemon.recycle import RESTART_REQUESTED
from wamc.daemon.registry import DESIRED_RUNNING, DESIRED_STOPPED, Client, Registry, client_log
from wamc.daemon.supervision import Supervisor
from wamc.errors import Refused
from wamc.events import CLIENT_DELETED
from wamc.states import ClientState
from wamc.storage import clients as client_rows
from wamc.timeutil import utc_now_iso
from wamc.wire import commands as C
from wamc.wire import frames as F


class Control:
    def __init__(self, registry: Registry, supervisor: Supervisor, link: Transport) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.store = registry.store
        self.supervisor = supervisor
        self.link = link

    async def connect(self, client_id: str) -> tuple[Client, bool]:
        """The client, created if new (and whether it was), desired running."""
        client = self.registry.clients.get(client_id)
        created = client is None
        if client is None:
            client = await self._create(client_id)
        await self.registry.set_desired(client, DESIRED_RUNNING)
        if client.state == ClientState.FAILED:
            client.backoff.reset()
        if (
            client.state in (ClientState.STOPPED, ClientState.FAILED)
            and not self.supervisor.closing
        ):
            await self.registry.set_state(client, ClientState.STARTING)
        self.supervisor.ensure_runner(client)
        return client, created

    async def _create(self, client_id: str) -> Client:
        clients = self.registry.clients
        limit = self.settings.max_clients
        if limit and len(clients) >= limit:
            raise Refused("client_limit", f"this gateway is limited to {limit} clients")
        now = utc_now_iso()
        client = self.registry.new_client(client_id, now)
        clients[client_id] = client  # before the await: the limit holds under races
        try:
            await client_rows.add(self.store, client_id, now)
        except BaseException:
            clients.pop(client_id, None)
            raise
        client_log(client).info("client created")
        return client

    async def disconnect(self, client_id: str) -> Client:
        client = self.registry.get(client_id)
        await self.registry.set_desired(client, DESIRED_STOPPED)
        client.wake.set()
        self.supervisor.ensure_runner(client)
        return client

    async def restart(self, client_id: str) -> Client:
        client = self.registry.get(client_id)
        await self.registry.set_desired(client, DESIRED_RUNNING)
        client.backoff.reset()
        if client.handle is not None:
            client.kill_reason = RESTART_REQUESTED
            await self.supervisor.stop_worker(client)
        client.wake.set()
        self.supervisor.ensure_runner(client)
        return client

    async def logout(self, client_id: str) -> Client:
        client = self.registry.get(client_id)
        if client.state == ClientState.CONNECTED or (
            client.state == ClientState.DISCONNECTED and client.handle
        ):
            await self.request(client, C.LOGOUT, {}, timeout=self.settings.request_timeout)
        elif client.handle is None:
            self.wipe_profile(client)
            await self._wipe_nodes(client.id, everything=False)
        await self.supervisor.profiles.forget(client.id)  # a logged-out session never returns
        client.me = None
        await client_rows.set_me(self.store, client.id, None)
        return client

    async def delete(self, client_id: str) -> None:
        client = self.registry.get(client_id)
        client.desired = DESIRED_STOPPED
        client.wake.set()
        await self.supervisor.cancel(client)
        await self.supervisor.stop_worker(client)
        client.settled.set()  # a start slot it held is free at once
        del self.registry.clients[client_id]
        await client_rows.delete(self.store, client_id)  # with its placement (Ray)
        forget = getattr(self.supervisor.backend, "forget", None)  # a placing backend's memory
        if forget is not None:
            forget(client_id)
        await self._wipe_nodes(client_id, everything=True)
        shutil.rmtree(self.settings.client_dir(client_id), ignore_errors=True)
        await self.supervisor.profiles.forget(client_id)
        client_log(client).info("client deleted with its data")
        await self.registry.bus.publish(client_id, CLIENT_DELETED, {})

    async def _wipe_nodes(self, client_id: str, everything: bool) -> None:
        """A backend running clients on other hosts removes their files there too."""
        wipe = getattr(self.supervisor.backend, "wipe", None)
        if wipe is not None:
            await wipe(client_id, everything)

    def wipe_profile(self, client: Client) -> None:
        shutil.rmtree(self.settings.client_dir(client.id) / "profile", ignore_errors=True)
        (self.settings.client_dir(client.id) / LINEAGE).unlink(missing_ok=True)
        client_log(client).info("session wiped: the next connect shows a QR")

    async def request(
        self,
        client: Client,
        cmd: str,
        args: dict[str, Any],
        timeout: float,
        result_type: Any = Any,
        route: str | None = None,
    ) -> Any:
        """A command to the client's worker; its result decoded as ``result_type``. ``route``:
        the worker connection it must go to (a media transfer is bound to it), if not the
        client's current one."""
        if client.handle is None or client.route is None or route not in (None, client.route):
            raise Refused("worker_unavailable", f"client {client.id} has no running worker")
        client.inflight += 1
        try:
            raw = await self.link.request(client.route, cmd, args, timeout)
            return F.decode_raw(raw, result_type)
        except F.WireError as exc:
            client_log(client).warning("{} answered with the wrong shape: {}", cmd, exc)
            raise Refused(
                "whatsapp_error", f"the worker's answer to {cmd} had the wrong shape"
            ) from None
        except C.RemoteError as exc:
            code = exc.code if exc.code in C.PASSTHROUGH_ERRORS else "whatsapp_error"
            raise Refused(code, exc.message) from None
        finally:
            client.inflight -= 1

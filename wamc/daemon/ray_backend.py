"""The Ray backend (WAMC_BACKEND=ray): each worker runs on a node's host agent; the daemon
places clients (wamc/daemon/placement.py) and counts slots itself.

Behind the same seam as the local backend (wamc/daemon/backend.py ``Backend``): supervision,
the link and the API do not know where a worker runs. A start goes to the placed node's agent,
which makes the worker's secret there (see wamc/daemon/agent.py: it never crosses Ray) and
returns what the daemon keeps of it. Every placement has a new epoch, stored before the spawn;
the worker says it in its hello and a stale one is refused (wamc/daemon/inbox.py).

Profiles live on the nodes: the profile store's site here is the agent of the client's node
(:class:`AgentSite`): a spawn restores a missing profile there and returns what happened; a
snapshot after a clean stop runs there too. Only the client id and the keep count cross Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
import ray
from loguru import logger

from wamc.config import Settings
from wamc.daemon.backend import (
    ORPHAN_GRACE,
    TERM_GRACE,
    NoCapacity,
    StopOutcome,
    WorkerHandle,
)
from wamc.daemon.placement import NodeView, choose
from wamc.daemon.profiles import Manifest, ProfileStore, Restore
from wamc.daemon.ray_cluster import CALL_TIMEOUT, RayCluster, call
from wamc.errors import Refused
from wamc.storage import Database
from wamc.storage import placements as rows
from wamc.timeutil import utc_now_iso
from wamc.wire.launch import LaunchOptions, encode_launch

SPAWN_TIMEOUT = 30.0  # a restore of a large profile is part of the spawn: see RESTORE_TIMEOUT
RESTORE_TIMEOUT = 120.0
SNAPSHOT_TIMEOUT = 300.0
# A client's node that Ray still lists alive but whose agent does not answer (Ray restarting it)
# is waited for this long before the client goes elsewhere: its profile is there (the newest
# snapshot may be older, or missing after a crash), and its old worker may still be stopping.
STICKY_WAIT = 20.0


class AgentSite:
    """The profile store's site for the Ray backend: the agent of the client's node."""

    def __init__(self, cluster: RayCluster) -> None:
        self.cluster = cluster

    async def restore(self, store: ProfileStore, client_id: str) -> Restore | None:
        return None  # done by the spawn, on the placed node (HostAgent.spawn)

    async def snapshot(
        self, store: ProfileStore, client_id: str, node: str | None, keep: int
    ) -> Manifest:
        agent = self.cluster.agent(node or "")
        if agent is None:
            raise RuntimeError(f"node {(node or '?')[:12]} is gone: its profile cannot be read")
        got = await call(agent.snapshot.remote(client_id, keep), SNAPSHOT_TIMEOUT)
        return msgspec.convert(got, Manifest)


def abandon(agent: Any, ref: Any, client_id: str) -> None:
    """A spawn given up on must not leave a worker behind that starts later (a slow restore):
    the call is cancelled and whatever of the client runs on that node is ended. Its epoch is
    stale already, but a browser running meanwhile would fight the next placement's."""
    if ref is not None:
        with contextlib.suppress(Exception):
            ray.cancel(ref)
    if agent is not None:
        with contextlib.suppress(Exception):
            agent.drop.remote(client_id)


class RayBackend:
    def __init__(self, settings: Settings, cluster: RayCluster, store: Database) -> None:
        self.settings = settings
        self.cluster = cluster
        self.store = store
        self.profile_site = AgentSite(cluster)  # the profile store works on the client's node
        self.capacity_listeners: list[Callable[[], None]] = []
        self.placed: dict[str, tuple[str, int]] = {}  # client → (node, epoch), stored
        self.running: dict[str, WorkerHandle] = {}
        self.pinned: dict[str, str] = {}  # a move's target, taken by the client's next start
        self.drained: set[str] = set()
        cluster.on_capacity.append(self._tell_capacity)
        cluster.on_report.append(self._reported)

    async def load(self) -> None:
        self.placed = await rows.all_placements(self.store)
        self.drained = await rows.drained(self.store)

    @property
    def views(self) -> dict[str, NodeView]:
        for node_id, view in self.cluster.views.items():
            view.draining = node_id in self.drained
        return self.cluster.views

    # --- placement -------------------------------------------------------------------------------
    def node_of(self, client_id: str) -> str | None:
        handle = self.running.get(client_id)
        if handle is not None:
            return handle.node
        return self.placed.get(client_id, (None, 0))[0]

    def _choose(self, client_id: str, tried: set[str]) -> NodeView | None:
        nodes = [v for v in self.views.values() if v.id not in tried]
        pinned = self.pinned.pop(client_id, None)
        if pinned is not None:
            target = choose([v for v in nodes if v.id == pinned])
            if target is not None:
                return target
        return choose(nodes, sticky=self.placed.get(client_id, (None, 0))[0])

    async def start(
        self, client_id: str, secret: str, launch: LaunchOptions | None = None
    ) -> WorkerHandle:
        """Place and spawn. ``secret`` is not used: the agent makes one on its node. ``launch``
        travels as an actor argument, so never with credentials (Ray's traffic is not
        encrypted): a proxy with a password is refused here."""
        del secret
        proxy = launch.proxy if launch is not None else None
        if proxy is not None and (proxy.username or proxy.password):
            raise Refused(
                "proxy_auth_unsupported",
                "a proxy with credentials is not supported on the Ray backend (Ray's traffic is "
                "not encrypted): use a proxy without credentials, allowed by address",
            )
        launch_line = encode_launch(launch or LaunchOptions()).decode()
        await self._await_sticky(client_id)
        tried: set[str] = set()
        while True:
            node = self._choose(client_id, tried)
            if node is None:
                raise NoCapacity("no node has a free wamc slot")
            tried.add(node.id)
            node.clients.add(client_id)
            epoch = max(self.placed.get(client_id, ("", 0))[1], 0) + 1
            self.placed[client_id] = (node.id, epoch)
            await rows.save(self.store, client_id, node.id, epoch)  # before the spawn: never reused
            agent, ref = self.cluster.agent(node.id), None
            try:
                ref = agent.spawn.remote(client_id, epoch, launch_line)
                got = await call(
                    ref, SPAWN_TIMEOUT + (RESTORE_TIMEOUT if self.settings.profile_store else 0)
                )
            except BaseException as exc:  # timed out, failed, or cancelled (a delete)
                node.clients.discard(client_id)
                abandon(agent, ref, client_id)
                if not isinstance(exc, Exception):
                    raise
                self.cluster.suspect(node.id, f"spawn failed ({str(exc)[:200]})")
                continue
            handle = WorkerHandle(
                client_id=client_id,
                pid=int(got["pid"]),
                started=float(got["started"]),
                node=node.id,
                epoch=epoch,
                secret_hash=str(got["secret_hash"]),
                curve_public=str(got["curve_public"]),
                restore=got.get("profile"),
            )
            self.running[client_id] = handle
            logger.bind(client=client_id).info("placed on node {} (epoch {})", node.id[:12], epoch)
            return handle

    async def _await_sticky(self, client_id: str) -> None:
        """Up to STICKY_WAIT for the client's node when it is only suspect (its agent did not
        answer, Ray did not declare it dead): an agent crash brings its clients back there."""
        node_id = self.placed.get(client_id, ("", 0))[0]
        view, info = self.views.get(node_id), self.cluster.info.get(node_id)
        if client_id in self.pinned or view is None or info is None:
            return
        deadline = asyncio.get_running_loop().time() + STICKY_WAIT
        if not (view.alive or view.draining or info.lost.is_set()):
            logger.bind(client=client_id).info(
                "node {} does not answer: waiting up to {:.0f}s for it", node_id[:12], STICKY_WAIT
            )
        while not (view.alive or view.draining or info.lost.is_set()):
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.2)

    def forget(self, client_id: str) -> None:
        """A deleted client (its row went with its client row, wamc/storage/clients.py)."""
        self.placed.pop(client_id, None)
        self.pinned.pop(client_id, None)

    async def wipe(self, client_id: str, everything: bool) -> None:
        """A deleted client's files (``everything``) or a logged-out one's profile, on every
        node that answers: a node down now keeps its copy (see docs/scale-out.md)."""
        agents = list(self.cluster.agents.values())
        calls = [call(a.wipe.remote(client_id, everything), CALL_TIMEOUT) for a in agents]
        done = await asyncio.gather(*calls, return_exceptions=True)
        wiped = sum(1 for d in done if d is True)
        logger.bind(client=client_id).info(
            "{} wiped on {} of {} nodes", "files" if everything else "profile", wiped, len(agents)
        )

    def _release(self, handle: WorkerHandle) -> None:
        if self.running.get(handle.client_id) is handle:
            del self.running[handle.client_id]
        view = self.cluster.views.get(handle.node or "")
        if view is not None and handle.client_id not in self.running:
            view.clients.discard(handle.client_id)
        self._tell_capacity()

    def _reported(self, node_id: str, report: dict[str, Any]) -> None:
        """Each client's memory and CPU, as its agent measured them on its node."""
        figures = report.get("clients", {})
        for client_id, handle in self.running.items():
            got = figures.get(client_id)
            if handle.node == node_id and got is not None and got.get("pid") == handle.pid:
                handle.usage = got

    def _tell_capacity(self) -> None:
        for listener in self.capacity_listeners:
            listener()

    # --- the Backend protocol --------------------------------------------------------------------
    def adopt(self, client_id: str, pid: int, started: float) -> WorkerHandle | None:
        """A worker a previous daemon placed, if its node's agent still runs it."""
        node_id, epoch = self.placed.get(client_id, ("", 0))
        agent = self.cluster.agent(node_id)
        if agent is None:
            return None
        try:
            alive = ray.get(agent.has.remote(client_id, pid, started), timeout=5)
        except Exception:
            return None
        if not alive:
            return None
        handle = WorkerHandle(client_id, pid, started, node=node_id, epoch=epoch)
        self.running[client_id] = handle
        self.cluster.views[node_id].clients.add(client_id)
        return handle

    async def wait(self, handle: WorkerHandle) -> int:
        """The worker's exit code; -1 when its node (or its agent) is lost."""
        agent = self.cluster.agent(handle.node or "")
        info = self.cluster.info.get(handle.node or "")
        if agent is None or info is None:
            self._release(handle)
            return -1
        exited = asyncio.ensure_future(call(agent.wait.remote(handle.client_id, handle.pid), None))
        lost = asyncio.ensure_future(info.lost.wait())
        try:
            await asyncio.wait({exited, lost}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done() and exited.exception() is None:
                return int(exited.result())
            if not info.lost.is_set():  # the agent failed (Ray restarts it): a new handshake
                self.cluster.suspect(handle.node or "", "its agent failed")
            logger.bind(client=handle.client_id).warning(
                "node {}: its agent is gone: the worker counts as exited", (handle.node or "")[:12]
            )
            return -1
        finally:
            for task in (exited, lost):
                task.cancel()
            self._release(handle)

    def poll(self, handle: WorkerHandle) -> bool:
        return self.running.get(handle.client_id) is handle

    async def stop(
        self, handle: WorkerHandle, timeout: float, browser_pid: int | None, asked: bool
    ) -> StopOutcome:
        agent = self.cluster.agent(handle.node or "")
        if agent is None:
            return "kill"  # its node is gone: the worker was fenced with its agent
        ref = agent.stop.remote(handle.client_id, handle.pid, timeout, browser_pid, asked)
        try:
            outcome: StopOutcome = await call(ref, timeout + TERM_GRACE + ORPHAN_GRACE + 10)
        except Exception:
            return "kill"
        return outcome

    def kill(self, handle: WorkerHandle, browser_pid: int | None) -> None:
        """Fire and forget (the watchdog's loop calls it: a Ray error must not end it)."""
        agent = self.cluster.agent(handle.node or "")
        if agent is not None:
            with contextlib.suppress(Exception):
                agent.kill.remote(handle.client_id, handle.pid, browser_pid)

    def kill_browser(self, client_id: str, browser_pid: int | None) -> bool:
        """A worker that could not be adopted: whatever of it runs on its node is ended."""
        agent = self.cluster.agent(self.placed.get(client_id, ("", 0))[0])
        if agent is not None:
            with contextlib.suppress(Exception):
                agent.drop.remote(client_id)
        return False

    async def end_browser(self, client_id: str, browser_pid: int | None) -> bool:
        agent = self.cluster.agent(self.node_of(client_id) or "")
        if agent is None:
            return False
        with contextlib.suppress(Exception):
            return bool(await call(agent.end_browser.remote(client_id, browser_pid), 15.0))
        return False

    # --- operator actions (wamc/daemon/nodes.py) -------------------------------------------------
    def check_target(self, node_id: str) -> NodeView:
        view = self.views.get(node_id)
        if view is None:
            raise Refused("node_not_found", f"no node {node_id!r} offers wamc slots")
        if not view.usable:
            raise Refused("node_unavailable", f"node {node_id!r} is lost or draining")
        if view.free <= 0:
            raise Refused("no_capacity", f"node {node_id!r} has no free slot")
        return view

    def pin(self, client_id: str, node_id: str) -> None:
        self.pinned[client_id] = node_id

    async def set_drain(self, node_id: str, on: bool) -> None:
        if node_id not in self.cluster.views:
            raise Refused("node_not_found", f"no node {node_id!r} offers wamc slots")
        await rows.set_drain(self.store, node_id, on, utc_now_iso())
        (self.drained.add if on else self.drained.discard)(node_id)
        if not on:
            self._tell_capacity()

    async def logs(self, client_id: str, count: int) -> list[str] | None:
        """The client's log lines as its node's agent reads them; None: not on a live node."""
        agent = self.cluster.agent(self.node_of(client_id) or "")
        if agent is None:
            return None
        try:
            return list(await call(agent.logs.remote(client_id, count)))
        except Exception:
            return None

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for view in sorted(self.views.values(), key=lambda v: v.id):
            info = self.cluster.info[view.id]
            report = info.report
            out.append(
                {
                    "id": view.id,
                    "address": info.address,
                    "host": info.host,
                    "alive": view.alive,
                    "draining": view.draining,
                    "slots": view.slots,
                    "free": view.free if view.alive else 0,
                    "clients": sorted(view.clients),
                    "agent_pid": info.agent_pid,
                    "memory_available_bytes": report.get("memory_available_bytes"),
                    "memory_total_bytes": report.get("memory_total_bytes"),
                    "cpu_percent": report.get("cpu_percent"),
                    "cpus": report.get("cpus"),
                }
            )
        return out

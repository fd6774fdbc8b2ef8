"""The Ray cluster as the daemon sees it (WAMC_BACKEND=ray): nodes, their host agents, reports.

Imported only with the Ray backend (wamc/serve.py), so nothing else ever loads Ray. Every call
to Ray is bounded. A node counts when it carries the custom resource ``wamc_slots``; on each,
one detached, named agent actor (wamc/daemon/agent.py) pinned to it with hard node affinity,
``num_cpus=0`` (it only waits on processes) and ``max_restarts=-1`` (an agent crash while its
node lives is repaired by Ray; its workers were fenced, the daemon starts them again). A node Ray
reports dead, or that is gone from its list, is lost: its clients' waits end and they are placed
elsewhere.

What crosses Ray (unencrypted): node ids, the worker settings below (paths, URLs, the daemon's
public Curve key), process ids, hashes, public keys, memory figures. Never a secret.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from loguru import logger
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from wamc.config import Settings
from wamc.daemon.agent import AGENT_PROTOCOL, HostAgent
from wamc.daemon.backend import project_root
from wamc.daemon.placement import NodeView

SLOTS = "wamc_slots"
INIT_TIMEOUT = 10.0  # ray.init: a clear error naming WAMC_RAY_ADDRESS past this
CALL_TIMEOUT = 10.0  # a handshake, a report, a node list
AGENT_START_TIMEOUT = 60.0  # a new agent: Ray starts a worker process for it
REFRESH_INTERVAL = 2.0


class RayUnavailable(RuntimeError):
    pass


@dataclass
class NodeInfo:
    """What the API shows of a node beyond placement's view."""

    address: str = ""
    host: str = ""
    agent_pid: int | None = None
    report: dict[str, Any] = field(default_factory=dict)
    lost: asyncio.Event = field(default_factory=asyncio.Event)


def worker_env(settings: Settings, server_key: bytes | None) -> dict[str, str]:
    """The settings a node's workers need (all public): given to its agent."""
    s = settings
    env = {
        "WAMC_HOME": str(s.home),  # a node's own WAMC_HOME wins (wamc/daemon/agent.py)
        "WAMC_ZMQ_ENDPOINT": s.advertised_endpoint(),
        "WAMC_WHATSAPP_URL": s.whatsapp_url,
        "WAMC_WAJS_PATH": str(s.resolved_wajs_path()),
        "WAMC_HEARTBEAT_INTERVAL": str(s.heartbeat_interval),
        "WAMC_HEARTBEAT_TIMEOUT": str(s.heartbeat_timeout),
        "WAMC_WORKER_GRACE": str(s.worker_grace),
        "WAMC_LOG_FORMAT": s.log_format,
        "WAMC_LOG_LEVEL": s.log_level,
        "WAMC_ALLOW_ROOT": str(s.allow_root),
        "WAMC_TAKEOVER": str(s.takeover),
        "WAMC_QR_MAX_CODES": str(s.qr_max_codes),
        "WAMC_PAGE_EVENT_RATE": str(s.page_event_rate),
    }
    if s.browser_path:
        env["WAMC_BROWSER_PATH"] = s.browser_path
    if s.profile_store is not None:  # a shared mount, the same path on every node
        env["WAMC_PROFILE_STORE"] = str(s.profile_store)
    if server_key is not None:
        env["WAMC_ZMQ_SERVER_KEY"] = server_key.decode()
    return env


async def call(ref: Any, timeout: float | None = CALL_TIMEOUT) -> Any:
    """The result of a Ray call, awaited on the loop, bounded by ``timeout``."""
    fut = asyncio.wrap_future(ref.future())
    return await (asyncio.wait_for(fut, timeout) if timeout else fut)


async def in_thread(fn: Any, timeout: float) -> Any:
    """``fn()`` on a daemon thread: one that hangs (Ray unreachable) never blocks the exit."""
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(fn())
        except BaseException as exc:
            done.set_exception(exc)

    threading.Thread(target=run, name="ray-call", daemon=True).start()
    return await asyncio.wait_for(asyncio.wrap_future(done), timeout)


class RayCluster:
    def __init__(self, settings: Settings, server_key: bytes | None) -> None:
        self.settings = settings
        self.env = worker_env(settings, server_key)
        self.views: dict[str, NodeView] = {}
        self.info: dict[str, NodeInfo] = {}
        self.agents: dict[str, Any] = {}
        self.on_capacity: list[Any] = []  # called when a node becomes usable
        self.on_report: list[Any] = []  # called with (node id, its agent's report)
        self._actor: Any = None
        self._lock = asyncio.Lock()
        self.refreshed = 0.0

    async def connect(self) -> None:
        """``ray.init`` within INIT_TIMEOUT, else an error that names WAMC_RAY_ADDRESS."""
        s = self.settings
        address = s.ray_address or "auto"

        def init() -> None:
            ray.init(
                address=address,
                namespace=s.ray_namespace,
                log_to_driver=False,
                logging_level=logging.WARNING,
                # Agents import this checkout's wamc (every node has wamc at the same path).
                runtime_env={"env_vars": {"PYTHONPATH": str(project_root())}},
            )

        try:
            await in_thread(init, INIT_TIMEOUT)
        except TimeoutError:
            raise RayUnavailable(
                f"Ray did not answer within {INIT_TIMEOUT:.0f}s at WAMC_RAY_ADDRESS={address!r}"
            ) from None
        except Exception as exc:
            raise RayUnavailable(
                f"cannot connect to Ray at WAMC_RAY_ADDRESS={address!r}: {str(exc)[:300]}"
            ) from None
        self._actor = ray.remote(HostAgent)
        logger.info("connected to Ray at {} (namespace {})", address, s.ray_namespace)

    def agent(self, node_id: str) -> Any:
        return self.agents.get(node_id)

    async def refresh(self) -> None:
        """Nodes from Ray: new ones get their agent (handshake), lost ones are marked."""
        async with self._lock:
            nodes = await in_thread(ray.nodes, CALL_TIMEOUT)
            seen: set[str] = set()
            pending = []
            for node in nodes:
                slots = int(node.get("Resources", {}).get(SLOTS, 0))
                if slots <= 0:
                    continue  # a node without wamc_slots is not ours
                node_id = str(node["NodeID"])
                seen.add(node_id)
                view = self.views.setdefault(node_id, NodeView(node_id, slots, alive=False))
                info = self.info.setdefault(node_id, NodeInfo())
                view.slots = slots
                info.address = str(node.get("NodeManagerAddress", ""))
                if not node.get("Alive"):
                    self._lost(view, "Ray reports it dead")
                elif not view.alive or node_id not in self.agents:
                    pending.append(self._open(view, info))
                else:
                    pending.append(self._report(view, info))
            await asyncio.gather(*pending)  # each bounded, each catches its own failure
            for node_id, view in self.views.items():
                if node_id not in seen:
                    self._lost(view, "gone from Ray's node list")
            self.refreshed = time.monotonic()

    async def _open(self, view: NodeView, info: NodeInfo) -> None:
        """The node's agent (created if missing) and the protocol handshake."""
        try:
            agent = await in_thread(lambda: self._create(view.id), CALL_TIMEOUT)
            # A new agent's first call waits for its process to start: a longer bound.
            bound = CALL_TIMEOUT if view.id in self.agents else AGENT_START_TIMEOUT
            hello = await call(agent.hello.remote(AGENT_PROTOCOL, self.env), bound)
            if hello.get("protocol") != AGENT_PROTOCOL:
                raise RuntimeError(f"agent speaks protocol {hello.get('protocol')}")
        except Exception as exc:
            logger.warning("node {}: agent not ready: {}", view.id[:12], str(exc)[:300])
            return
        self.agents[view.id] = agent
        info.host, info.agent_pid = str(hello.get("host", "")), hello.get("pid")
        if info.lost.is_set():
            info.lost = asyncio.Event()
        view.alive = True
        logger.info(
            "node {} ready ({} slots, agent pid {})", view.id[:12], view.slots, info.agent_pid
        )
        await self._report(view, info)
        self._tell_capacity()

    def _create(self, node_id: str) -> Any:
        return self._actor.options(
            name=f"wamc-agent-{node_id}",
            namespace=self.settings.ray_namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_restarts=-1,
            max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(node_id, self.env, AGENT_PROTOCOL)

    async def _report(self, view: NodeView, info: NodeInfo) -> None:
        try:
            info.report = await call(self.agents[view.id].report.remote(), 5.0)
            view.memory_available = int(info.report.get("memory_available_bytes", 0))
            for listener in self.on_report:
                listener(view.id, info.report)
            if info.report.get("pid") != info.agent_pid:
                # Ray rebuilt it with the settings it was first created with: a new handshake
                # gives it the current ones before it spawns again.
                info.agent_pid = info.report.get("pid")
                self.suspect(view.id, "its agent was restarted by Ray")
        except Exception as exc:
            self.suspect(view.id, f"no report from its agent: {str(exc)[:200]}")

    def suspect(self, node_id: str, why: str) -> None:
        """Its agent did not answer: no new clients go there until a handshake succeeds again
        (its clients stay: only Ray's word that the node is dead ends their waits)."""
        view = self.views.get(node_id)
        if view is not None and view.alive:
            logger.warning("node {}: {}: no new clients until its agent answers", node_id[:12], why)
            view.alive = False

    def _lost(self, view: NodeView, why: str) -> None:
        if view.alive or not self.info[view.id].lost.is_set():
            logger.warning("node {} lost ({}): its clients go elsewhere", view.id[:12], why)
        view.alive = False
        self.agents.pop(view.id, None)
        self.info[view.id].lost.set()

    def _tell_capacity(self) -> None:
        for listener in self.on_capacity:
            listener()

    async def monitor(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL)
            try:
                await self.refresh()
            except Exception as exc:
                logger.warning("Ray node refresh failed: {}", str(exc)[:300])

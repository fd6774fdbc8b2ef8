"""A real Ray cluster on this machine for the Ray backend's tests (issue 14), loopback only.

``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` with ``node_ip_address="127.0.0.1"`` for the head and
every node keeps every Ray process on 127.0.0.1; token authentication is on, as docs/scale-out.md
asks of a real cluster. The head carries no ``wamc_slots`` (it is ignored); nodes do.

Each node keeps its own files, as hosts would: its raylet (so its agent and workers) has its own
``WAMC_HOME`` (``homes``); the profile store is one shared folder (``store``), as a shared mount.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.support.daemon import Daemon, free_port

OBJECT_STORE = 80 * 1024 * 1024  # the smallest Ray accepts comfortably
SLOTS = 4
# One token per test process: Ray caches the first one it reads, so every cluster this process
# starts must use the same.
TOKEN = secrets.token_hex(32)
# Set for the whole test session before anything imports Ray (tests/conftest.py): Ray reads its
# auth mode once, so a module importing Ray at collection would otherwise fix it at "disabled".
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": TOKEN,
    "RAY_USAGE_STATS_ENABLED": "0",
}


class LocalCluster:
    def __init__(self, root: Path) -> None:
        from ray.cluster_utils import Cluster

        self.root = root
        self.store = root / "store"
        self.store.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.homes: dict[str, Path] = {}  # node id → its own WAMC_HOME
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "node_ip_address": "127.0.0.1",
                "include_dashboard": False,
                "object_store_memory": OBJECT_STORE,
                "num_cpus": 1,
            },
        )
        self.nodes: list[Any] = []

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add(self, slots: int = SLOTS) -> str:
        """One more node offering ``slots`` clients, with its own WAMC_HOME; its Ray node id."""
        home = self.root / f"node-{len(self.homes) + 1}"
        home.mkdir(mode=0o700)
        node = self.cluster.add_node(
            node_ip_address="127.0.0.1",
            resources={"wamc_slots": slots},
            object_store_memory=OBJECT_STORE,
            num_cpus=1,
            env_vars={"WAMC_HOME": str(home)},  # the raylet's, so its workers' (the agent's)
        )
        self.cluster.wait_for_nodes()
        self.nodes.append(node)
        self.homes[str(node.node_id)] = home
        return str(node.node_id)

    def remove(self, node_id: str) -> None:
        """Its raylet killed (no graceful exit): the node is lost."""
        node = next(n for n in self.nodes if n.node_id == node_id)
        self.cluster.remove_node(node, allow_graceful=False)
        self.nodes.remove(node)

    def shutdown(self) -> None:
        self.cluster.shutdown()


@contextlib.contextmanager
def local_cluster(root: Path, nodes: int = 3) -> Iterator[LocalCluster]:
    """``root``: the nodes' homes and the shared profile store."""
    env = RAY_ENV
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import ray

    made = LocalCluster(root)
    try:
        for _ in range(nodes):
            made.add()
        ray.init(address=made.address, logging_level="WARNING", log_to_driver=False)
        yield made
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        made.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ray_env(cluster: LocalCluster) -> dict[str, str]:
    """A daemon's settings for the Ray backend on ``cluster`` (a namespace of its own), with
    the cluster's shared profile store."""
    return {
        "WAMC_PROFILE_STORE": str(cluster.store),
        "WAMC_BACKEND": "ray",
        "WAMC_RAY_ADDRESS": cluster.address,
        "WAMC_RAY_NAMESPACE": f"wamc-test-{uuid.uuid4().hex[:8]}",
        "WAMC_ZMQ_ENDPOINT": f"tcp://127.0.0.1:{free_port()}",
        "WAMC_STOP_WORKERS_ON_EXIT": "1",
        "WAMC_START_CONCURRENCY": "3",
    }


def end_agents(daemon: Daemon) -> None:
    """Kill the daemon's agents (their workers stop with their pipes: fencing)."""
    import ray

    namespace = daemon.env["WAMC_RAY_NAMESPACE"]
    for node in ray.nodes():
        with contextlib.suppress(Exception):
            ray.kill(ray.get_actor(f"wamc-agent-{node['NodeID']}", namespace=namespace))


async def nodes_of(daemon: Daemon) -> dict[str, dict[str, Any]]:
    code, body = await daemon.call("GET", "/api/nodes")
    assert code == 200, body
    return {n["id"]: n for n in body["nodes"]}


def gone(pid: int, started: float) -> bool:
    """That process (pid and start time: a pid can be reused) has ended, or is a zombie."""
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - started) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True

"""Failover on a real Ray cluster on this machine (issue 14, item 5): a node's raylet killed →
its clients are placed on the other nodes and connected again; a message delivered during the
outage is in history exactly once; nothing of the lost node's workers is left.
Run alone with ``pytest tests/integration/test_ray_failover.py``.

Pending (the profile store, item 4, is another branch): "back WITHOUT a QR" across hosts. Here
every node shares this machine's WAMC_HOME, so a profile is found wherever the client lands;
the test accepts a QR scan when one shows and records whether one was needed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psutil
import pytest

from tests.integration.test_ray_placement import exactly_once, ready_nodes
from tests.support import Daemon, wait_for
from tests.support.ray_cluster import LocalCluster, end_agents, local_cluster, ray_env

pytestmark = pytest.mark.timeout(300)
PHONES = {"fa": "5511900001501", "fb": "5511900001502", "fz": "5511900001504"}
CONTACT = "5511955551501"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster(3) as made:
        yield made


@pytest.fixture
async def ray_daemon(make_daemon: Any, cluster: LocalCluster) -> AsyncIterator[Daemon]:
    daemon = await make_daemon(ray_env(cluster))
    try:
        yield daemon
    finally:
        end_agents(daemon)


def gone(pid: int, started: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - started) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


async def test_a_lost_node_s_clients_come_back_on_the_others(
    ray_daemon: Daemon, cluster: LocalCluster, sim_http: Any
) -> None:
    daemon = ray_daemon
    await ready_nodes(daemon, 3)
    before = {c: await daemon.connect_scanned(sim_http, c, p) for c, p in PHONES.items()}
    lost = str(before["fa"]["node"])
    # fb joins fa on the node about to be lost; fz stays elsewhere.
    code, body = await daemon.call("POST", "/api/clients/fb/move", json={"node": lost})
    assert code == 202, body

    async def joined() -> dict[str, Any] | None:
        st = await daemon.status("fb")
        return st if st["state"] == "connected" and st["node"] == lost else None

    before["fb"] = await wait_for(joined, 120, 0.3, what="fb moved onto fa's node")
    assert before["fz"]["node"] != lost
    old = []
    for client in ("fa", "fb"):
        for pid in (before[client]["pid"], before[client]["browser_pid"]):
            if pid:
                old.append((pid, psutil.Process(pid).create_time()))

    began = time.monotonic()
    cluster.remove(lost)
    during = {c: f"outage-{c}-{secrets.token_hex(6)}" for c in ("fa", "fb")}
    for client, text in during.items():
        await sim_http.deliver(PHONES[client], CONTACT, text)

    scanned: set[str] = set()

    async def back() -> bool:
        for client in ("fa", "fb"):
            st = await daemon.status(client)
            if st["node"] in (None, lost):
                return False
            if st["state"] == "qr" and client not in scanned:  # needs the profile store
                code, body = await daemon.call("GET", f"/api/clients/{client}/qr?format=json")
                if code == 200:
                    await sim_http.scan(body["qr"], PHONES[client])
                    scanned.add(client)
            if st["state"] != "connected":
                return False
        return True

    await wait_for(back, 120, 0.3, what="fa and fb connected on other nodes")
    took = time.monotonic() - began
    print(
        f"failover: 2 clients connected on other nodes {took:.1f}s after their node was lost "
        f"(QR needed: {sorted(scanned) or 'none'})"
    )
    for client, text in during.items():
        st = await daemon.status(client)
        assert st["node"] != lost and st["pid"] != before[client]["pid"]
        await exactly_once(daemon, client, text)
    await wait_for(lambda: all(gone(p, t) for p, t in old), 60, 0.3, what="lost workers gone")
    st_z = await daemon.status("fz")
    assert st_z["state"] == "connected" and st_z["pid"] == before["fz"]["pid"]  # untouched
    code, body = await daemon.call("GET", "/api/nodes")
    lost_row = next(n for n in body["nodes"] if n["id"] == lost)
    assert lost_row["alive"] is False and lost_row["clients"] == [] and lost_row["free"] == 0


async def test_an_agent_crash_fences_its_workers_and_ray_brings_it_back(
    ray_daemon: Daemon, cluster: LocalCluster, sim_http: Any
) -> None:
    """The agent's process dies while its node lives: its worker stops on its own (the pipe
    closed), Ray restarts the agent (max_restarts=-1), the client starts again there."""
    import ray

    daemon = ray_daemon
    await ready_nodes(daemon, len(cluster.nodes))
    before = await daemon.connect_scanned(sim_http, "fc", "5511900001503")
    node = str(before["node"])
    worker = (before["pid"], psutil.Process(before["pid"]).create_time())
    agent = ray.get_actor(f"wamc-agent-{node}", namespace=daemon.env["WAMC_RAY_NAMESPACE"])
    agent_pid = (await daemon.call("GET", "/api/nodes"))[1]
    ray.kill(agent, no_restart=False)  # the actor's process is killed; Ray restarts it
    await wait_for(lambda: gone(*worker), 60, 0.2, what="the fenced worker gone")

    async def again() -> dict[str, Any] | None:
        st = await daemon.status("fc")
        return st if st["state"] == "connected" and st["pid"] != before["pid"] else None

    status = await wait_for(again, 120, 0.3, what="fc connected again")
    assert status["node"] == node  # sticky: the node lives
    rows = {n["id"]: n for n in (await daemon.call("GET", "/api/nodes"))[1]["nodes"]}
    old_pid = {n["id"]: n["agent_pid"] for n in agent_pid["nodes"]}[node]
    assert rows[node]["alive"] and rows[node]["agent_pid"] != old_pid

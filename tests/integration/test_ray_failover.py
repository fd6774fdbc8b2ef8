"""Failover on a real Ray cluster on this machine (issue 14, items 4 and 5): a node's raylet
killed → its clients are placed on the other nodes, restored there from their newest snapshot
and connected again WITHOUT a QR; a message delivered during the outage is in history exactly
once; nothing of the lost node's workers is left. The control: the same loss with the client's
snapshots gone ends at a QR. Every node has its own WAMC_HOME (tests/support/ray_cluster.py), so
a profile is found on another node only through the profile store.
Run alone with ``pytest tests/integration/test_ray_failover.py``.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.test_profile_store import snapshot_ids, state_log, stop
from tests.integration.test_ray_placement import exactly_once, ready_nodes
from tests.support import Daemon, session_on_disk, wait_for
from tests.support.ray_cluster import (
    LocalCluster,
    end_agents,
    gone,
    local_cluster,
    nodes_of,
    ray_env,
)

pytestmark = pytest.mark.timeout(300)
PHONES = {"fa": "5511900001501", "fb": "5511900001502", "fz": "5511900001504"}
CONTACT = "5511955551501"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("ray"), 3) as made:
        yield made


@pytest.fixture
async def ray_daemon(make_daemon: Any, cluster: LocalCluster) -> AsyncIterator[Daemon]:
    daemon = await make_daemon(ray_env(cluster))
    try:
        yield daemon
    finally:
        end_agents(daemon)


def profile_on(home: Path, client: str) -> bool:
    """The client's linked session is in that home's profile."""
    return session_on_disk(home / "sessions" / client / "profile")


async def reconnect(daemon: Daemon, client: str) -> dict[str, Any]:
    """A clean stop (a snapshot, taken on the client's node) and a start (sticky: same node)."""
    await stop(daemon, client)
    code, body = await daemon.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body
    return await daemon.wait_state(client, "connected", timeout=120)


async def test_a_lost_node_s_clients_come_back_on_the_others_without_a_qr(
    ray_daemon: Daemon, cluster: LocalCluster, sim_http: Any
) -> None:
    daemon = ray_daemon
    await ready_nodes(daemon, 3)
    before = {c: await daemon.connect_scanned(sim_http, c, p) for c, p in PHONES.items()}
    lost = str(before["fa"]["node"])
    # fa: a clean stop and start on its node: a snapshot there, its profile kept there.
    before["fa"] = await reconnect(daemon, "fa")
    # Its first start had nothing to restore; the second found its profile on disk there.
    assert before["fa"]["node"] == lost and before["fa"]["profile"]["restore"] == "fresh"
    assert before["fa"]["profile"]["last_snapshot"]["id"] == snapshot_ids(cluster.store, "fa")[0]
    # fb joins fa's node by a move: a snapshot on its first node, restored on fa's (item 4).
    code, body = await daemon.call("POST", "/api/clients/fb/move", json={"node": lost})
    assert code == 202, body

    async def joined() -> dict[str, Any] | None:
        st = await daemon.status("fb")
        return st if st["state"] == "connected" and st["node"] == lost else None

    before["fb"] = await wait_for(joined, 120, 0.3, what="fb moved onto fa's node")
    assert before["fb"]["profile"]["restore"] == "restored"
    assert before["fb"]["profile"]["restored_from"] == snapshot_ids(cluster.store, "fb")[0]
    assert before["fz"]["node"] != lost
    # Each node has its own files: the profiles are in the lost node's home, not the daemon's.
    assert profile_on(cluster.homes[lost], "fa") and profile_on(cluster.homes[lost], "fb")
    assert not (daemon.home / "sessions" / "fa" / "profile").exists()
    old = []
    for client in ("fa", "fb"):
        for pid in (before[client]["pid"], before[client]["browser_pid"]):
            if pid:
                old.append((pid, psutil.Process(pid).create_time()))

    async with state_log(daemon, "fa") as fa_states, state_log(daemon, "fb") as fb_states:
        began = time.monotonic()
        cluster.remove(lost)
        during = {c: f"outage-{c}-{secrets.token_hex(6)}" for c in ("fa", "fb")}
        for client, text in during.items():
            await sim_http.deliver(PHONES[client], CONTACT, text)

        async def back() -> bool:
            for client in ("fa", "fb"):
                st = await daemon.status(client)
                assert st["state"] != "qr", st  # never: restored from its snapshot
                if st["node"] in (None, lost) or st["state"] != "connected":
                    return False
            return True

        await wait_for(back, 60, 0.3, what="fa and fb connected on other nodes")
        took = time.monotonic() - began
    print(f"failover: 2 clients connected on other nodes {took:.1f}s after their node was lost")
    assert "qr" not in fa_states and "qr" not in fb_states, (fa_states, fb_states)
    st_a = await daemon.status("fa")
    assert st_a["profile"]["restore"] == "restored"  # "fresh" before: restored on its new node
    assert st_a["profile"]["restored_from"] == snapshot_ids(cluster.store, "fa")[0]
    assert profile_on(cluster.homes[st_a["node"]], "fa")
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


async def test_the_control_a_lost_node_s_client_without_snapshots_ends_at_a_qr(
    ray_daemon: Daemon, cluster: LocalCluster, sim_http: Any
) -> None:
    """The same loss, the client's snapshots deleted first: what brought the others back
    without a QR was the profile store, not a profile left somewhere."""
    daemon = ray_daemon
    while len(cluster.nodes) < 3:
        cluster.add()
    await ready_nodes(daemon, len(cluster.nodes))
    await daemon.connect_scanned(sim_http, "fq", "5511900001505")
    st = await reconnect(daemon, "fq")  # a snapshot exists...
    assert snapshot_ids(cluster.store, "fq")
    shutil.rmtree(cluster.store / "fq")  # ...and is emptied
    lost = str(st["node"])
    cluster.remove(lost)

    async def settled() -> dict[str, Any] | None:
        now = await daemon.status("fq")
        good = now["node"] not in (None, lost) and now["state"] in ("qr", "connected")
        return now if good else None

    after = await wait_for(settled, 60, 0.3, what="fq placed elsewhere at a QR")
    assert after["state"] == "qr", after
    assert (after["profile"]["restore"], after["profile"]["reason"]) == ("fresh", "no snapshot")


async def test_a_client_moved_back_takes_the_newest_snapshot_not_the_profile_left_there(
    ray_daemon: Daemon, cluster: LocalCluster, sim_http: Any
) -> None:
    """A→B→A: the profile left on A is older than the snapshot B's clean stop took; A replaces
    it with that snapshot before the worker starts."""
    daemon = ray_daemon
    await ready_nodes(daemon, len(cluster.nodes))
    first = await daemon.connect_scanned(sim_http, "fr", "5511900001506")
    home = str(first["node"])

    async def move(node: str | None, after: dict[str, Any]) -> dict[str, Any]:
        nodes = [
            k for k, v in (await nodes_of(daemon)).items() if v["alive"] and k != after["node"]
        ]
        code, body = await daemon.call(
            "POST", "/api/clients/fr/move", json={"node": node or nodes[0]}
        )
        assert code == 202, body

        async def moved() -> dict[str, Any] | None:
            st = await daemon.status("fr")
            assert st["state"] != "qr", st
            return st if st["state"] == "connected" and st["pid"] != after["pid"] else None

        return await wait_for(moved, 120, 0.3, what="fr moved")

    away = await move(None, first)
    assert away["node"] != home and away["profile"]["restore"] == "restored"
    await sim_http.deliver("5511900001506", CONTACT, f"while-away-{secrets.token_hex(4)}")
    back = await move(home, away)
    newest = snapshot_ids(cluster.store, "fr")[0]
    assert back["node"] == home and newest != away["profile"]["restored_from"]
    assert back["profile"]["restored_from"] == newest  # not the profile left on its first node
    lineage = cluster.homes[home] / "sessions" / "fr" / "profile.snapshot"
    assert lineage.read_text() == newest


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

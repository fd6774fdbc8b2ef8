"""The Ray backend on a real 3-node Ray cluster on this machine (issue 14): placement, no free
slot, move and drain. Run alone with ``pytest tests/integration/test_ray_placement.py``.

One module-scoped cluster (loopback only, token auth, dashboard off, small object stores); each
test has its own daemon and Ray namespace (its own agents). At most 8 browsers at once.
"""

from __future__ import annotations

import collections
import contextlib
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psutil
import pytest

from tests.support import Daemon, wait_for
from tests.support.ray_cluster import LocalCluster, end_agents, local_cluster, nodes_of, ray_env

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("ray"), 3) as made:
        yield made


async def ready_nodes(daemon: Daemon, count: int) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]] | None:
        nodes = await nodes_of(daemon)
        alive = {k: v for k, v in nodes.items() if v["alive"]}
        return alive if len(alive) == count else None

    return await wait_for(probe, 90, 0.3, what=f"{count} nodes with their agents")


@pytest.fixture
async def ray_daemon(make_daemon: Any, cluster: LocalCluster) -> AsyncIterator[Daemon]:
    daemon = await make_daemon(ray_env(cluster))
    try:
        yield daemon
    finally:
        end_agents(daemon)


async def connect(daemon: Daemon, client: str) -> None:
    code, body = await daemon.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body


async def placed(daemon: Daemon, client: str, state: str = "qr") -> str:
    """The node ``client`` runs on once it reached ``state``."""
    status = await daemon.wait_state(client, state, timeout=120)
    assert status["node"], status
    return str(status["node"])


async def all_placed(daemon: Daemon, clients: list[str]) -> bool:
    return all([(await daemon.status(c))["node"] for c in clients])


async def history(daemon: Daemon, client: str) -> list[str]:
    code, body = await daemon.call("GET", f"/api/clients/{client}/messages/recent?limit=100")
    assert code == 200, body
    return [m["body"] for m in body["messages"]]


async def exactly_once(daemon: Daemon, client: str, text: str) -> None:
    async def probe() -> bool:
        return text in await history(daemon, client)

    await wait_for(probe, 90, 0.3, what=f"{text!r} in {client}'s history")
    assert (await history(daemon, client)).count(text) == 1


async def test_nine_clients_spread_3_3_3_and_a_new_node_takes_the_next(
    ray_daemon: Daemon, cluster: LocalCluster
) -> None:
    daemon = ray_daemon
    first = await ready_nodes(daemon, 3)
    clients = [f"c{i}" for i in range(1, 10)]
    began = time.monotonic()
    for client in clients:
        await connect(daemon, client)
    await wait_for(lambda: all_placed(daemon, clients), 60, 0.05, what="9 clients placed")
    print(
        f"placement: 9 clients placed (worker spawned) {time.monotonic() - began:.2f}s after the first connect"
    )
    where = {client: await placed(daemon, client) for client in clients}
    assert sorted(collections.Counter(where.values()).values()) == [3, 3, 3]
    assert set(where.values()) == set(first)
    nodes = await nodes_of(daemon)
    agents = [psutil.Process(n["agent_pid"]).memory_full_info() for n in nodes.values()]
    rss, pss = (sum(getattr(m, k) for m in agents) / len(agents) / 2**20 for k in ("rss", "pss"))
    print(f"agent memory per node: RSS {rss:.0f} MB, PSS {pss:.0f} MB (mean of {len(agents)})")
    for node_id in first:
        assert sorted(nodes[node_id]["clients"]) == sorted(
            c for c in clients if where[c] == node_id
        )
        assert nodes[node_id]["free"] == 1 and nodes[node_id]["slots"] == 4
        assert nodes[node_id]["memory_total_bytes"] > 0

    async def reported() -> bool:  # a remote client's memory comes from its agent
        return ((await daemon.status("c1"))["memory_bytes"] or 0) > 10 * 2**20

    await wait_for(reported, 30, 0.3, what="c1's memory as its agent reports it")

    # One client off each node (slots free: 2 each), then a fourth node: it has the most.
    for node_id in first:
        leaving = next(c for c in clients if where[c] == node_id)
        code, _ = await daemon.call("POST", f"/api/clients/{leaving}/disconnect")
        assert code == 202
        await daemon.wait_state(leaving, "stopped")
    new = cluster.add()
    now = await ready_nodes(daemon, 4)
    assert new in now and now[new]["free"] == 4
    for client in ("n1", "n2"):
        await connect(daemon, client)
        assert await placed(daemon, client) == new  # 4 then 3 free there, 2 elsewhere


async def test_no_free_slot_keeps_the_client_stopped_until_a_drain_is_undone(
    ray_daemon: Daemon, cluster: LocalCluster
) -> None:
    daemon = ray_daemon
    nodes = await ready_nodes(daemon, len(cluster.nodes))
    for node_id in nodes:
        code, body = await daemon.call("POST", f"/api/nodes/{node_id}/drain")
        assert code == 202 and body["draining"] is True, body
    code, body = await daemon.call("POST", "/api/clients/w1/connect")
    assert code == 202, body

    async def waiting() -> dict[str, Any] | None:
        st = await daemon.status("w1")
        return st if st["last_error"] == "no_capacity" and st["state"] == "stopped" else None

    status = await wait_for(waiting, 60, 0.2, what="w1 stopped with no_capacity")
    assert status["desired"] == "running" and status["pid"] is None

    # The drains are kept across a restart of the daemon.
    await daemon.stop()
    await daemon.start()
    again = await ready_nodes(daemon, len(nodes))
    assert all(n["draining"] for n in again.values())

    back = sorted(nodes)[0]
    code, body = await daemon.call("DELETE", f"/api/nodes/{back}/drain")
    assert code == 202 and body["draining"] is False, body
    assert await placed(daemon, "w1") == back
    assert (await daemon.status("w1"))["last_error"] is None
    code, body = await daemon.call(
        "POST", f"/api/nodes/{sorted(nodes)[1]}/drain", json={"drain": False}
    )
    assert code == 202 and body["draining"] is False, body
    code, body = await daemon.call("POST", "/api/nodes/zz/drain")
    assert code == 404 and body["code"] == "node_not_found", body


async def test_move_then_drain_lose_no_message(
    ray_daemon: Daemon, cluster: LocalCluster, sim_http: Any
) -> None:
    daemon = ray_daemon
    nodes = await ready_nodes(daemon, len(cluster.nodes))
    a = await daemon.connect_scanned(sim_http, "ma", "5511900001401")
    b = await daemon.connect_scanned(sim_http, "mb", "5511900001402")
    assert a["node"] != b["node"]

    # Move ma onto mb's node, a message arriving meanwhile.
    code, body = await daemon.call("POST", "/api/clients/ma/move", json={"node": b["node"]})
    assert code == 202, body
    during_move = f"move-{secrets.token_hex(6)}"
    await sim_http.deliver("5511900001401", "5511955551401", during_move)

    async def moved() -> bool:
        st = await daemon.status("ma")
        return st["state"] == "connected" and st["node"] == b["node"] and st["pid"] != a["pid"]

    await wait_for(moved, 120, 0.3, what="ma connected on mb's node")
    await exactly_once(daemon, "ma", during_move)
    code, body = await daemon.call("POST", "/api/clients/ma/move", json={"node": "ffff"})
    assert code == 404 and body["code"] == "node_not_found", body

    # Drain that node: both leave it, messages sent meanwhile arrive once.
    drained = str(b["node"])
    code, body = await daemon.call("POST", f"/api/nodes/{drained}/drain", json={"drain": True})
    assert code == 202, body
    texts = {c: f"drain-{c}-{secrets.token_hex(6)}" for c in ("ma", "mb")}
    await sim_http.deliver("5511900001401", "5511955551401", texts["ma"])
    await sim_http.deliver("5511900001402", "5511955551402", texts["mb"])

    async def off() -> bool:
        sts = [await daemon.status(c) for c in ("ma", "mb")]
        return all(st["state"] == "connected" and st["node"] not in (None, drained) for st in sts)

    await wait_for(off, 180, 0.3, what="both clients connected off the drained node")
    for client, text in texts.items():
        await exactly_once(daemon, client, text)
    after = await nodes_of(daemon)
    assert after[drained]["clients"] == [] and after[drained]["draining"] is True
    assert sum(len(n["clients"]) for n in after.values()) == 2 and set(after) == set(nodes)


async def test_a_restarted_daemon_adopts_the_workers_on_the_nodes(
    make_daemon: Any, cluster: LocalCluster, sim_http: Any
) -> None:
    daemon = await make_daemon({**ray_env(cluster), "WAMC_STOP_WORKERS_ON_EXIT": "0"})
    try:
        await ready_nodes(daemon, len(cluster.nodes))
        before = await daemon.connect_scanned(sim_http, "ad", "5511900001403")
        await daemon.stop()  # SIGTERM: workers stay with their agents for the next daemon
        await daemon.start()
        after = await daemon.wait_state("ad", "connected")
        assert (after["pid"], after["node"]) == (before["pid"], before["node"])
        text = f"adopted-{secrets.token_hex(6)}"
        await sim_http.deliver("5511900001403", "5511955551403", text)
        await exactly_once(daemon, "ad", text)
        code, body = await daemon.call("GET", "/api/clients/ad/logs?lines=200")  # via its agent
        assert code == 200 and any("browser started" in line for line in body["lines"]), body
    finally:
        end_agents(daemon)


def placement_row(daemon: Daemon, client: str) -> tuple[str, int] | None:
    """The client's stored placement (node, epoch), read from the daemon's database."""
    with contextlib.closing(sqlite3.connect(daemon.home / "sessions" / ".wamc" / "wamc.db")) as db:
        row = db.execute(
            "SELECT node, epoch FROM placements WHERE client = ?", (client,)
        ).fetchone()
    return (str(row[0]), int(row[1])) if row else None


def daemon_log(daemon: Daemon) -> str:
    files = [daemon.home / "daemon.out", *(daemon.home / "logs").rglob("*.log")]
    return "\n".join(p.read_text(errors="replace") for p in files if p.is_file())


async def test_a_worker_saying_a_stale_epoch_is_refused_and_stopped(
    make_daemon: Any, cluster: LocalCluster, sim_http: Any
) -> None:
    """The daemon stored a new placement (its epoch is stored before the spawn) and died before
    spawning; the worker of the older placement still runs there and says its epoch in its hello
    to the next daemon: refused and told to stop, then the client starts anew (a newer epoch)."""
    daemon = await make_daemon({**ray_env(cluster), "WAMC_STOP_WORKERS_ON_EXIT": "0"})
    try:
        await ready_nodes(daemon, len(cluster.nodes))
        before = await daemon.connect_scanned(sim_http, "se", "5511900001404")
        worker = (before["pid"], psutil.Process(before["pid"]).create_time())
        await daemon.stop()  # SIGTERM: the worker stays with its agent
        stored = placement_row(daemon, "se")
        assert stored is not None and stored[0] == before["node"]
        node, epoch = stored
        with contextlib.closing(
            sqlite3.connect(daemon.home / "sessions" / ".wamc" / "wamc.db")
        ) as db:
            db.execute("UPDATE placements SET epoch = ? WHERE client = 'se'", (epoch + 1,))
            db.commit()
        await daemon.start()

        def stopped() -> bool:
            try:
                return psutil.Process(worker[0]).create_time() != worker[1]
            except psutil.Error:
                return True

        await wait_for(stopped, 60, 0.2, what="the stale worker stopped")
        said = f"hello of a stale placement (epoch {epoch}, current {epoch + 1}): refused"
        assert said in daemon_log(daemon)

        async def anew() -> dict[str, Any] | None:
            st = await daemon.status("se")
            return st if st["state"] == "connected" and st["pid"] != before["pid"] else None

        after = await wait_for(anew, 120, 0.3, what="se connected again by a new worker")
        assert after["node"] == node  # sticky: its node lives, its profile is there
        assert placement_row(daemon, "se") == (node, epoch + 2)
    finally:
        end_agents(daemon)


async def test_a_deleted_client_s_placement_goes_with_it(
    ray_daemon: Daemon, cluster: LocalCluster
) -> None:
    daemon = ray_daemon
    await ready_nodes(daemon, len(cluster.nodes))
    await connect(daemon, "dl")
    node = await placed(daemon, "dl")
    assert placement_row(daemon, "dl") == (node, 1)
    folder = cluster.homes[node] / "sessions" / "dl"
    assert (folder / "profile").is_dir()  # on its node, in the node's own home
    code, body = await daemon.call("DELETE", "/api/clients/dl")
    assert code == 202, body
    await wait_for(lambda: placement_row(daemon, "dl") is None, 30, 0.2, what="the row deleted")
    await wait_for(lambda: not folder.exists(), 30, 0.2, what="its files on its node deleted")
    await connect(daemon, "dl")  # the same id again: a new client, a first placement
    again = await placed(daemon, "dl")
    assert placement_row(daemon, "dl") == (again, 1)

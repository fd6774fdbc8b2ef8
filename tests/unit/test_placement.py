"""Placement (wamc/daemon/placement.py), the stale-epoch check, the hello's epoch, and that the
daemon never imports Ray unless WAMC_BACKEND=ray (issue 14)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from wamc.daemon.inbox import stale_epoch
from wamc.daemon.placement import MEMORY_STEP, NodeView, choose
from wamc.wire import frames as F

GB = 1024**3


def nodes() -> list[NodeView]:
    return [
        NodeView("b", 4, memory_available=8 * GB),
        NodeView("a", 4, memory_available=8 * GB),
        NodeView("c", 4, memory_available=8 * GB),
    ]


def pick(ns: list[NodeView], sticky: str | None = None) -> str:
    node = choose(ns, sticky=sticky)
    assert node is not None
    return node.id


def test_most_free_slots_then_memory_then_node_id() -> None:
    ns = nodes()
    placed = []
    for i in range(9):
        node = choose(ns)
        assert node is not None
        node.clients.add(f"c{i}")
        placed.append(node.id)
    assert placed == ["a", "b", "c"] * 3  # equal: by node id, every round
    ns[0].memory_available = 9 * GB  # b: one step more memory wins among equals
    for n in ns:
        n.clients.clear()
    assert pick(ns) == "b"
    ns[0].memory_available = 8 * GB + MEMORY_STEP // 2  # within a step: a tie again
    assert pick(ns) == "a"
    ns[1].clients.update({"x", "y"})  # a: 2 free; b and c: 4 free
    assert pick(ns) == "b"


def test_sticky_drained_lost_and_full_nodes() -> None:
    ns = nodes()
    assert pick(ns, sticky="c") == "c"
    ns[2].draining = True
    assert pick(ns, sticky="c") == "a"
    ns[1].alive = False
    assert pick(ns, sticky="c") == "b"
    assert choose(ns, avoid="b") is None
    ns[0].clients.update({"1", "2", "3", "4"})
    assert choose(ns) is None  # no free slot anywhere: no_capacity
    assert choose([NodeView("z", 0)]) is None  # a node without wamc_slots is ignored


def test_stale_epoch_and_the_hello_field() -> None:
    assert not stale_epoch(None, None) and not stale_epoch(None, 3)  # local backend
    assert not stale_epoch(4, 4)
    assert stale_epoch(4, 3) and stale_epoch(4, None)
    hello = F.Hello(client="acme", boot="b1", pid=10, state="starting", epoch=7)
    assert F.decode_from_worker(F.encode(hello)) == hello
    old = msgspec.msgpack.encode(
        {"v": 1, "t": "hello", "client": "a", "boot": "b", "pid": 1, "state": "s"}
    )
    decoded = F.decode_from_worker(old)
    assert isinstance(decoded, F.Hello) and decoded.epoch is None
    bad = msgspec.msgpack.encode(
        {"v": 1, "t": "hello", "client": "a", "boot": "b", "pid": 1, "state": "s", "epoch": -1}
    )
    with pytest.raises(F.WireError):
        F.decode_from_worker(bad)


def test_the_daemon_never_imports_ray_with_the_local_backend() -> None:
    code = (
        "import sys, wamc.serve, wamc.daemon.manager, wamc.daemon.supervision, wamc.daemon.nodes, "
        "wamc.daemon.agent, wamc.api.app, wamc.cli; "
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_the_agent_handshake_checks_the_protocol_both_ways(tmp_path: Path) -> None:
    from wamc.daemon.agent import AGENT_PROTOCOL, HostAgent, ProtocolMismatch

    env = {"WAMC_HOME": str(tmp_path), "WAMC_ZMQ_SERVER_KEY": "k" * 40}
    agent = HostAgent("abc123", env, AGENT_PROTOCOL)
    hello = await agent.hello(AGENT_PROTOCOL, env)
    assert hello["protocol"] == AGENT_PROTOCOL and hello["node"] == "abc123"
    assert hello["workers"] == {}
    with pytest.raises(ProtocolMismatch):
        await agent.hello(AGENT_PROTOCOL + 1, env)
    assert await agent.wait("nobody", 12345) == -1  # not a worker of this agent
    assert await agent.stop("nobody", 12345, 1.0, None, False) == "clean"
    report = await agent.report()
    assert report["memory_total_bytes"] > 0 and report["clients"] == {}


class _Drained:
    """A placing backend as wamc/daemon/nodes.py sees it (its Clustered protocol)."""

    def __init__(self) -> None:
        self.views = {"n1": NodeView("n1", 4, clients={"a", "b", "c"})}
        self.drained: set[str] = set()

    def describe(self) -> list[dict[str, object]]:
        return [{"id": v.id, "draining": v.draining} for v in self.views.values()]

    def check_target(self, node_id: str) -> NodeView:
        return self.views[node_id]

    def pin(self, client_id: str, node_id: str) -> None: ...

    def node_of(self, client_id: str) -> str | None:
        return "n1"

    async def set_drain(self, node_id: str, on: bool) -> None:
        self.views[node_id].draining = on

    async def logs(self, client_id: str, count: int) -> list[str] | None:
        return None


async def test_a_drain_moves_running_clients_and_never_starts_one_stopped_meanwhile() -> None:
    from types import SimpleNamespace

    from wamc.daemon.nodes import Nodes

    clients = {c: SimpleNamespace(id=c, desired="running") for c in ("a", "b", "c")}
    restarted: list[str] = []

    class Control:
        async def restart(self, client_id: str) -> object:
            restarted.append(client_id)
            clients["b"].desired = "stopped"  # its user stops b while a is being moved
            return clients[client_id]

    nodes_ = Nodes(SimpleNamespace(clients=clients), Control(), _Drained())  # type: ignore[arg-type]  # fakes of Registry, Control, Backend
    await nodes_.drain("n1", True)
    await asyncio.gather(*nodes_._tasks)
    assert restarted == ["a", "c"]
    assert clients["b"].desired == "stopped"

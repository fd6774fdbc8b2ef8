"""bench/bench_ray.py's bookkeeping: what it counts as Ray's, the agent's and the clients' memory
on a node; whether a restore ran at failover; how the memory rows are grouped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from bench.bench_ray import memory_table, node_memory, restore_at_failover

SLEEP = "import time; time.sleep(60)"
# A stand-in raylet: one child of Ray's own, and an "agent" with a client process of its own.
RAYLET = textwrap.dedent(
    f"""
    import subprocess, sys, time
    other = subprocess.Popen([sys.executable, "-c", {SLEEP!r}])
    agent = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SLEEP!r}]); "
        "time.sleep(60)"])
    print(other.pid, agent.pid, flush=True)
    time.sleep(60)
    """
)


def test_node_memory_counts_the_agent_and_its_clients_apart_from_ray() -> None:
    raylet = subprocess.Popen([sys.executable, "-c", RAYLET], stdout=subprocess.PIPE, text=True)
    try:
        assert raylet.stdout is not None
        other, agent = (int(x) for x in raylet.stdout.readline().split())
        deadline = time.monotonic() + 20
        while not psutil.Process(agent).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        got = node_memory(raylet.pid, agent)
        other_kind = psutil.Process(other).name()
        assert set(got["pss"]) == {"raylet", "agent", other_kind}
        assert got["pss"]["agent"] > 0 and got["clients_pss"] > 0  # the client: under the agent
        assert got["ray_pss"] == pytest.approx(got["pss"]["raylet"] + got["pss"][other_kind])
        assert got["ray_rss"] == pytest.approx(got["rss"]["raylet"] + got["rss"][other_kind])
    finally:
        for proc in psutil.Process(raylet.pid).children(recursive=True):
            proc.kill()
        raylet.kill()
        raylet.wait()


def status(restore: str | None, seconds: float | None = None) -> dict[str, object]:
    return {"profile": {"restore": restore, "restored_from": "s1", "seconds": seconds}}


def test_restore_at_failover_is_none_unless_a_restore_ran_since() -> None:
    assert restore_at_failover(status("fresh"), status("fresh")) == "none"
    assert restore_at_failover({"profile": None}, {"profile": None}) == "none"
    assert restore_at_failover(status("restored", 0.1), status("restored", 0.2)) == "restored"
    assert restore_at_failover({"profile": None}, status("fresh")) == "fresh"


def row(when: str, clients: int, agent: float, raylet: float) -> dict[str, object]:
    pss = {"agent": agent, "raylet": raylet, "DashboardAgent": 50.0}
    return {
        "when": when,
        "node": "n",
        "clients": clients,
        "pss": pss,
        "rss": {k: 2 * v for k, v in pss.items()},
        "ray_pss": raylet + 50.0,
        "ray_rss": 2 * (raylet + 50.0),
        "clients_pss": 100.0 * clients,
    }


def test_memory_table_groups_nodes_with_and_without_clients() -> None:
    md = memory_table(
        [
            row("0 clients", 0, 50.0, 10.0),
            row("0 clients", 0, 54.0, 12.0),
            row("3 on one node", 3, 60.0, 11.0),
            row("3 on one node", 0, 52.0, 11.0),
        ]
    )
    lines = md.splitlines()
    assert lines[0].split(" | ")[5] == "DashboardAgent MB"
    assert lines[2] == "| 0 clients | 2 | 0.0 | 52 (104) | 11 | 50 | 61 (122) | 113 | 0 |"
    assert lines[3].startswith("| 3 on one node, nodes running them | 1 | 3.0 | 60 (120) |")
    assert lines[4].startswith("| 3 on one node, the nodes without one | 1 | 0.0 | 52 (104) |")

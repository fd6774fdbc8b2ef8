"""bench/bench_ray.py's bookkeeping: what it counts as Ray's, the agent's and the clients' memory
on a node; whether a restore ran at failover and how the failover splits; how the memory rows
are grouped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from bench.bench_ray import failover_report, memory_table, node_memory, restore_at_failover, split

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


def status(
    restore: str | None, seconds: float | None = None, reason: str | None = None
) -> dict[str, object]:
    return {
        "profile": {"restore": restore, "restored_from": "s1", "seconds": seconds, "reason": reason}
    }


def test_restore_at_failover_ran_where_the_node_had_no_profile_or_the_status_changed() -> None:
    # A profile on that node's disk and an unchanged status: no restore ran.
    assert restore_at_failover(status("fresh"), status("fresh"), had_profile=True) == "none"
    assert restore_at_failover({"profile": None}, {"profile": None}, had_profile=True) == "none"
    # A changed status says one ran.
    changed = restore_at_failover(status("restored", 0.1), status("restored", 0.2), True)
    assert changed == "restored"
    assert restore_at_failover({"profile": None}, status("fresh"), had_profile=True) == "fresh"
    # No profile on the node: a restore ran even if its outcome looks like the last one (the
    # control: no snapshot, fresh twice).
    same = status("fresh", reason="no snapshot")
    assert restore_at_failover(same, same, had_profile=False) == "fresh"


def failover_result(qr: set[str]) -> dict[str, object]:
    def one(node: str, placed: float, connected: float, name: str) -> dict[str, object]:
        restore = "fresh" if name in qr else "restored"
        return {
            "node": node,
            "restore": restore,
            "restore_s": None if name in qr else 0.05,
            "reason": "no snapshot" if name in qr else None,
            "qr": name in qr,
            "placed": placed,
            "connected": connected,
        }

    per = {
        "fo0": one("b", 10.0, 12.0, "fo0"),
        "fo1": one("c", 11.0, 14.0, "fo1"),
        "fo2": one("b", 12.0, 13.0, "fo2"),
    }
    return {
        "clients": 3,
        "seen_lost": 3.0,
        "ray_dead": 9.0,
        "per_client": per,
        "landed": {"b": 2, "c": 1},
        "snapshots": 3,
        "stops": {"clean": 3},
        "remove_call": 0.0,
        "empty_store": bool(qr),
        "left": 0,
        "old_processes": 6,
    }


def test_the_failover_splits_into_ray_s_verdict_placement_and_connect() -> None:
    [got] = split(failover_result(set()))
    # clients, node not alive, Ray's verdict, placement (from the verdict: p50 / slowest),
    # restore p50, connect, all placed, all connected, QR needed
    assert got == [3, "3.0", "9.0", "2.00 / 3.0", "0.05", "2.00 / 3.0", "12.0", "14.0", "0/3"]
    md = failover_report(failover_result(set()))
    assert "| fo0 | n1 | restored | 0.05 | no | 10.0 | 12.0 |" in md
    assert "| fo1 | n2 | restored | 0.05 | no | 11.0 | 14.0 |" in md
    assert "Control run" not in md


def test_a_client_placed_before_ray_s_verdict_counts_placement_from_the_kill() -> None:
    fo = failover_result(set())
    fo["ray_dead"] = 11.5  # fo0 and fo1 stopped waiting first (STICKY_WAIT)
    assert split(fo)[0][2:4] == ["11.5", "10.00 / 11.0"]  # 10.0, 11.0 and 12.0 - 11.5
    fo["ray_dead"] = None  # not yet when the last one connected
    assert split(fo)[0][2:4] == ["later", "11.00 / 12.0"]


def test_the_empty_store_control_reports_its_qrs() -> None:
    fo = failover_result({"fo0", "fo1", "fo2"})
    assert split(fo)[0][-1] == "3/3" and split(fo)[0][4] == "–"
    md = failover_report(fo)
    assert "Control run (`--empty-store`)" in md
    assert "| fo2 | n1 | fresh (no snapshot) | – | yes | 12.0 | 13.0 |" in md


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
